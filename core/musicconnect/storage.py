"""Object storage: local disk (embedded default) or any S3 API (boto3). Keys are relative,
slash-separated paths; URLs handed to clients are signed and expire.

Local signed URLs look like ``<base>/media/<key>?exp=<unix>&sig=<hmac>`` and are verified by a
lean route of the core (or by any server that knows the key); with ``MC_CDN_BASE_URL`` the base
is the CDN's.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from .errors import MusicConnectError

KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")


class StorageError(MusicConnectError):
    pass


def is_valid_key(key: str) -> bool:
    """A key this platform can read, write and serve (what :func:`check_key` accepts)."""
    return isinstance(key, str) and bool(KEY_RE.match(key)) and ".." not in key.split("/") and len(key) <= 900


def check_key(key: str) -> str:
    if not is_valid_key(key):
        raise StorageError(f"invalid storage key {key!r}")
    return key


def check_within(key: str, within: str) -> str:
    """``key`` (a valid key) lies strictly under the non-empty prefix ``within``."""
    check_key(key)
    head = within.strip("/")
    if not head:
        raise StorageError("signing needs the item's own prefix; an empty prefix signs nothing")
    check_key(head)
    if not key.startswith(head + "/"):
        raise StorageError(f"refusing to sign {key!r}: it lies outside {head + '/'!r}")
    return key


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object as a listing shows it: ``tag`` changes whenever its content may have
    (the S3 ETag; the file's modification time in nanoseconds on local disk)."""

    key: str
    size: int
    tag: str


class Storage(ABC):
    backend: str

    @abstractmethod
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None: ...

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    @abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int: ...

    @abstractmethod
    def list(self, prefix: str) -> Iterator[str]: ...

    def signed_url(self, key: str, ttl: int | None = None, *, within: str, filename: str | None = None) -> str:
        """A signed, expiring URL for ``key``, which must lie under ``within``: the prefix that the
        signing item owns (``tracks/<id>/v3/``, ``posts/<id>/``). The prefix is required and never
        empty, so a key that reached a signer from anywhere else (a client's JSON, a stale row)
        cannot be turned into a link to another item's files."""
        check_within(key, within)
        return self._presign(key, ttl, filename)

    @abstractmethod
    def _presign(self, key: str, ttl: int | None, filename: str | None) -> str: ...

    def move_prefix(self, src: str, dst: str) -> int:
        """Move every object under ``src`` to ``dst`` (old URLs stop working at once)."""
        n = 0
        for key in list(self.list(src)):
            self.put_bytes(dst + key[len(src):], self.get_bytes(key))
            self.delete(key)
            n += 1
        return n

    def download_to(self, key: str, path: Path) -> None:
        path.write_bytes(self.get_bytes(key))

    def inventory(self, skipped: list[str] | None = None) -> Iterator[ObjectInfo]:
        """Every object of the store with its size and change tag (backups list with it). Objects
        whose key is not a valid key (:func:`is_valid_key`) are left out and appended to ``skipped``."""
        raise StorageError(f"the {self.backend} storage cannot list all of its objects")

    def local_path(self, key: str) -> Path | None:
        """The object's file when the store is a local disk (read it in place), else ``None``."""
        return None


class LocalStorage(Storage):
    backend = "local"

    def __init__(self, root: Path, secret: bytes, base_url: str, default_ttl: int = 3600, clock=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._secret = hashlib.sha256(b"mc-media-url\x00" + secret).digest()
        self.base_url = base_url.rstrip("/")
        self.default_ttl = default_ttl
        self._clock = clock

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def local_path(self, key: str) -> Path | None:
        p = self.path(key)
        return p if p.is_file() else None

    def _atomic_write(self, key: str, writer) -> None:
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                writer(fh)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        def w(fh: BinaryIO) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, fh, 1024 * 1024)
        self._atomic_write(key, w)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._atomic_write(key, lambda fh: fh.write(data))

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"no object {key!r}") from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        base = self.path(prefix.rstrip("/"))
        if base.is_file():
            base.unlink()
            return 1
        if not base.is_dir():
            return 0
        n = sum(1 for p in base.rglob("*") if p.is_file())
        shutil.rmtree(base)
        return n

    def move_prefix(self, src: str, dst: str) -> int:
        """One rename on local disk: atomic, whatever the size."""
        a, b = self.path(src.rstrip("/")), self.path(dst.rstrip("/"))
        if not a.exists():
            return 0
        b.parent.mkdir(parents=True, exist_ok=True)
        if b.exists():
            shutil.rmtree(b)
        os.replace(a, b)
        return 1

    def list(self, prefix: str) -> Iterator[str]:
        base = self.path(prefix.rstrip("/"))
        if base.is_dir():
            for p in sorted(base.rglob("*")):
                if p.is_file() and not p.name.startswith(".tmp-"):
                    yield p.relative_to(self.root).as_posix()

    def inventory(self, skipped: list[str] | None = None) -> Iterator[ObjectInfo]:
        for p in sorted(self.root.rglob("*")):
            if not p.is_file() or p.name.startswith(".tmp-"):  # .tmp-*: writes in progress
                continue
            key = p.relative_to(self.root).as_posix()
            if not is_valid_key(key):
                if skipped is not None:
                    skipped.append(key)
                continue
            st = p.stat()
            yield ObjectInfo(key, st.st_size, str(st.st_mtime_ns))

    # ---- signing
    def now(self) -> int:
        """The signer's clock, in Unix seconds."""
        return int(self._clock.now().timestamp()) if self._clock else int(time.time())

    _now = now

    def sign(self, key: str, expires: int, filename: str | None = None) -> str:
        msg = f"{key}\n{expires}\n{filename or ''}".encode()
        return base64.urlsafe_b64encode(hmac.new(self._secret, msg, hashlib.sha256).digest()[:24]).decode().rstrip("=")

    def _presign(self, key: str, ttl: int | None, filename: str | None) -> str:
        exp = self._now() + (ttl or self.default_ttl)
        q = {"exp": str(exp), "sig": self.sign(key, exp, filename)}
        if filename:
            q["dl"] = filename
        return f"{self.base_url}/media/{quote(key)}?{urlencode(q)}"

    def verify(self, key: str, exp: str | None, sig: str | None, filename: str | None = None) -> bool:
        if not exp or not sig or not (exp.isascii() and exp.isdigit()):  # int("²") is a ValueError
            return False
        if int(exp) < self._now():
            return False
        try:
            check_key(key)
        except StorageError:
            return False
        # bytes: compare_digest raises TypeError on str with non-ASCII characters (a 500, not a 403)
        return hmac.compare_digest(self.sign(key, int(exp), filename).encode(), sig.encode("utf-8", "surrogatepass"))


class S3Storage(Storage):
    backend = "s3"

    def __init__(self, bucket: str, *, endpoint_url: str | None, region: str, access_key: str | None,
                 secret_key: str | None, cdn_base_url: str | None = None, default_ttl: int = 3600):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.cdn_base_url = cdn_base_url.rstrip("/") if cdn_base_url else None
        self.default_ttl = default_ttl
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"},
                          s3={"addressing_style": "path"}))

    def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else None
        self.client.upload_file(str(path), self.bucket, check_key(key), ExtraArgs=extra)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        kw = {"ContentType": content_type} if content_type else {}
        self.client.put_object(Bucket=self.bucket, Key=check_key(key), Body=data, **kw)

    def get_bytes(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=check_key(key))["Body"].read()
        except ClientError as exc:
            raise StorageError(f"no object {key!r}: {exc}") from None

    def download_to(self, key: str, path: Path) -> None:
        self.client.download_file(self.bucket, check_key(key), str(path))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=check_key(key))
            return True
        except ClientError:
            return False

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))

    def list(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"]

    def inventory(self, skipped: list[str] | None = None) -> Iterator[ObjectInfo]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for obj in page.get("Contents", []):
                if not is_valid_key(obj["Key"]):  # e.g. a console's "folder/" or a key with a space
                    if skipped is not None:
                        skipped.append(obj["Key"])
                    continue
                yield ObjectInfo(obj["Key"], int(obj["Size"]), str(obj.get("ETag", "")).strip('"'))

    def move_prefix(self, src: str, dst: str) -> int:
        n = 0
        for key in list(self.list(src)):
            self.client.copy_object(Bucket=self.bucket, Key=dst + key[len(src):],
                                    CopySource={"Bucket": self.bucket, "Key": key})
            self.client.delete_object(Bucket=self.bucket, Key=key)
            n += 1
        return n

    def delete_prefix(self, prefix: str) -> int:
        keys = list(self.list(prefix))
        for i in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=self.bucket,
                                       Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})
        return len(keys)

    def _presign(self, key: str, ttl: int | None, filename: str | None) -> str:
        params = {"Bucket": self.bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        url = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl or self.default_ttl)
        if self.cdn_base_url:  # a CDN in front of the bucket that forwards the signed query
            parts, cdn = urlsplit(url), urlsplit(self.cdn_base_url)
            path = parts.path
            if path.startswith(f"/{self.bucket}/"):
                path = path[len(self.bucket) + 1:]
            url = urlunsplit((cdn.scheme, cdn.netloc, cdn.path.rstrip("/") + path, parts.query, ""))
        return url


def make_storage(settings, clock=None) -> Storage:
    if settings.storage_backend == "s3":
        s = S3Storage(settings.s3_bucket, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
                      access_key=settings.s3_access_key_id,
                      secret_key=settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None,
                      cdn_base_url=settings.cdn_base_url, default_ttl=settings.signed_url_ttl)
        return s
    return LocalStorage(settings.media_dir, settings.signing_key(), settings.cdn_base_url or settings.base_url,
                        settings.signed_url_ttl, clock=clock)
