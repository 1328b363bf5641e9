"""Sign-In with Ethereum (EIP-4361): a fan proves they control a wallet by signing a message the
platform composed around a nonce it issued.

* The nonce is the server's (single use, short TTL, bound to the fan who asked for it).
* The message is parsed strictly (the EIP-4361 grammar, line by line: nothing extra, nothing
  missing), and its domain, URI origin and chain id must be this platform's own.
* The signature is an EIP-191 ``personal_sign`` over the exact message text; the address it
  recovers must be the one the message names — or, for a smart-contract wallet (a Safe, a
  passkey or social-recovery account), the wallet itself must accept it: ERC-1271
  ``isValidSignature(hash, signature)`` answering ``0x1626ba7e`` on the platform's chain
  (:data:`ERC1271_MAGIC`; the caller passes that check in). A forged or replayed signature is
  401 ``wallet-signature-invalid`` / ``siwe-nonce-invalid``.

The parser and :func:`verify_message` are pure (no database); the routes in ``api`` add the
nonce's storage.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from pydantic import Field

from musicconnect import PluginSettings, Problem

PREAMBLE = " wants you to sign in with your Ethereum account:"
NONCE_RE = re.compile(r"^[A-Za-z0-9]{8,64}$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
#: RFC 3339 date-time, as EIP-4361 requires (a time zone is mandatory)
RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
#: how far a signer's clock may run ahead of ours
SKEW = timedelta(minutes=5)
MAX_MESSAGE = 4096


class SiweSettings(PluginSettings):
    link_ttl_seconds: int = Field(default=600, ge=30, le=3600,
                                  description="how long a wallet-link nonce (Sign-In with Ethereum) stays valid")


SETTINGS = [SiweSettings]


def new_nonce() -> str:
    """An EIP-4361 nonce: 24 alphanumeric characters (~140 bits)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(24))


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: datetime
    statement: str | None = None
    scheme: str | None = None
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)

    def text(self) -> str:
        """The message as EIP-4361 writes it (what a wallet shows and signs)."""
        head = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        lines = [head + PREAMBLE, self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines += ["", f"URI: {self.uri}", f"Version: {self.version}", f"Chain ID: {self.chain_id}",
                  f"Nonce: {self.nonce}", f"Issued At: {_fmt(self.issued_at)}"]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {_fmt(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {_fmt(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)


def _fmt(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _time(value: str, name: str) -> datetime:
    if not RFC3339_RE.match(value):
        raise ValueError(f"{name} is not an RFC 3339 date-time with a time zone")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def checksum_ok(address: str) -> bool:
    """EIP-55: the mixed-case checksum is right (an all-lower or all-upper address has none and
    is refused: EIP-4361 requires the checksummed form)."""
    from eth_utils import to_checksum_address

    return ADDRESS_RE.match(address) is not None and to_checksum_address(address) == address


def parse(text: str) -> SiweMessage:
    """Parse an EIP-4361 message strictly; ``ValueError`` says what is wrong."""
    if not isinstance(text, str) or len(text) > MAX_MESSAGE:
        raise ValueError("the message is missing or too long")
    if "\r" in text:
        raise ValueError("lines end with LF only")
    lines = text.split("\n")
    if len(lines) < 9:  # preamble, address, two blank lines, the five required fields
        raise ValueError("the message is too short to be EIP-4361")
    first = lines[0]
    if not first.endswith(PREAMBLE):
        raise ValueError("the first line is not the EIP-4361 preamble")
    origin = first[: -len(PREAMBLE)]
    scheme = None
    if "://" in origin:
        scheme, origin = origin.split("://", 1)
        if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*", scheme):
            raise ValueError("bad scheme")
    if not origin or any(c.isspace() for c in origin) or "/" in origin:
        raise ValueError("bad domain")
    address = lines[1]
    if not checksum_ok(address):
        raise ValueError("the address is not an EIP-55 checksummed address")
    if lines[2] != "":
        raise ValueError("a blank line must follow the address")
    i = 3
    statement = None
    if lines[3] != "":
        statement = lines[3]
        if lines[4] != "":
            raise ValueError("the statement is one line followed by a blank line")
        i = 5
    else:
        i = 4
    fields: dict[str, str] = {}
    order = ["URI", "Version", "Chain ID", "Nonce", "Issued At", "Expiration Time", "Not Before", "Request ID"]
    required = {"URI", "Version", "Chain ID", "Nonce", "Issued At"}
    pos = 0
    resources: list[str] = []
    while i < len(lines):
        line = lines[i]
        if line == "Resources:":
            resources = []
            for rest in lines[i + 1:]:
                if not rest.startswith("- ") or len(rest) < 3:
                    raise ValueError("each resource is a line '- <uri>'")
                resources.append(rest[2:])
            i = len(lines)
            break
        key, sep, value = line.partition(": ")
        if not sep or key not in order:
            raise ValueError(f"unexpected line {line[:60]!r}")
        idx = order.index(key)
        if idx < pos or key in fields:
            raise ValueError(f"field {key!r} is out of order or repeated")
        pos = idx + 1
        fields[key] = value
        i += 1
    missing = required - fields.keys()
    if missing:
        raise ValueError(f"missing {', '.join(sorted(missing))}")
    if fields["Version"] != "1":
        raise ValueError("Version must be 1")
    if not re.fullmatch(r"[1-9][0-9]{0,18}", fields["Chain ID"]):
        raise ValueError("Chain ID is not a number")
    if not NONCE_RE.match(fields["Nonce"]):
        raise ValueError("the nonce must be 8 or more letters and digits")
    if not urlsplit(fields["URI"]).scheme:
        raise ValueError("URI is not an absolute URI")
    return SiweMessage(
        domain=origin, address=address, uri=fields["URI"], version="1", chain_id=int(fields["Chain ID"]),
        nonce=fields["Nonce"], issued_at=_time(fields["Issued At"], "Issued At"), statement=statement, scheme=scheme,
        expiration_time=_time(fields["Expiration Time"], "Expiration Time") if "Expiration Time" in fields else None,
        not_before=_time(fields["Not Before"], "Not Before") if "Not Before" in fields else None,
        request_id=fields.get("Request ID"), resources=tuple(resources))


def recover(text: str, signature: str) -> str:
    """The address that signed ``text`` (EIP-191 personal_sign), checksummed."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    return Account.recover_message(encode_defunct(text=text), signature=signature)


def invalid(detail: str) -> Problem:
    return Problem(401, "wallet-signature-invalid", detail)


def platform_origin(base_url: str) -> tuple[str, str]:
    """(domain, origin) of the platform: ``host[:port]`` and ``scheme://host[:port]``."""
    parts = urlsplit(base_url)
    return parts.netloc, f"{parts.scheme}://{parts.netloc}"


#: what an ERC-1271 wallet answers for a signature it accepts (``isValidSignature.selector``)
ERC1271_MAGIC = bytes.fromhex("1626ba7e")
#: the longest contract-wallet signature taken (a Safe with many owners concatenates theirs)
MAX_SIGNATURE_BYTES = 2048


def message_hash(text: str) -> bytes:
    """The EIP-191 ``personal_sign`` digest of ``text`` (what an ERC-1271 wallet is asked about)."""
    from eth_account.messages import _hash_eip191_message, encode_defunct

    return bytes(_hash_eip191_message(encode_defunct(text=text)))


def verify_message(text: str, signature: str, *, base_url: str, chain_id: int, now: datetime,
                   contract_accepts=None) -> SiweMessage:
    """Parse and check a signed message against this platform (domain, URI origin, chain id,
    times) and the signature; the nonce is checked by the caller against its store. When the
    signature is not the named address's own key, ``contract_accepts(address, digest, signature)``
    (if given) asks the address as an ERC-1271 wallet. Raises 401 ``wallet-signature-invalid``
    with the reason."""
    try:
        msg = parse(text)
    except ValueError as exc:
        raise invalid(f"not an EIP-4361 message: {exc}") from None
    domain, origin = platform_origin(base_url)
    if msg.domain != domain:
        raise invalid(f"the message is for {msg.domain!r}, not this platform ({domain})")
    uri = urlsplit(msg.uri)
    if f"{uri.scheme}://{uri.netloc}" != origin:
        raise invalid("the message's URI is not on this platform")
    if msg.scheme is not None and msg.scheme != urlsplit(base_url).scheme:
        raise invalid("the message's scheme is not this platform's")
    if msg.chain_id != chain_id:
        raise invalid(f"the message is for chain {msg.chain_id}, this platform mints on chain {chain_id}")
    if msg.issued_at > now + SKEW:
        raise invalid("the message was issued in the future")
    if msg.expiration_time is not None and msg.expiration_time <= now:
        raise invalid("the message has expired")
    if msg.not_before is not None and msg.not_before > now + SKEW:
        raise invalid("the message is not valid yet")
    if not isinstance(signature, str) or not re.fullmatch(r"0x(?:[0-9a-fA-F]{2}){1,%d}" % MAX_SIGNATURE_BYTES,
                                                          signature):
        raise invalid("the signature is not a hex string")
    signer, broken = None, False
    if len(signature) == 132:  # 65 bytes: a key's own signature
        try:
            signer = recover(text, signature)
        except Exception:  # noqa: BLE001 - any malformed signature is a bad signature
            broken = True
    if signer == msg.address:
        return msg
    if contract_accepts is not None and contract_accepts(msg.address, message_hash(text), bytes.fromhex(signature[2:])):
        return msg
    if len(signature) != 132:
        raise invalid("the signature is not a 65-byte signature of the address, nor one its wallet contract accepts")
    if broken:
        raise invalid("the signature does not verify")
    raise invalid("the signature was not made by the address in the message")


def compose(*, address: str, nonce: str, base_url: str, chain_id: int, issued_at: datetime,
            expiration_time: datetime | None, statement: str | None = None) -> str:
    """The message the platform proposes for a wallet to sign (clients may compose their own)."""
    domain, origin = platform_origin(base_url)
    return SiweMessage(domain=domain, address=address, uri=origin, version="1", chain_id=chain_id, nonce=nonce,
                       issued_at=issued_at, statement=statement, expiration_time=expiration_time).text()
