"""Streaming multipart uploads: file parts go straight to files in a private per-request
directory under the data directory (never whole in memory, never in the shared /tmp), the size
cap is enforced while bytes arrive, each file field is accepted once, and fields are small and
counted."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from musicconnect import Problem

from .scratch import Scratch

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 30


@dataclass
class UploadedFile:
    field: str
    filename: str
    path: Path
    size: int = 0


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    scratch: Scratch | None = None

    def cleanup(self) -> None:
        """Remove the request's directory and every file in it."""
        if self.scratch is not None:
            self.scratch.close()


def safe_filename(name: str) -> str:
    """The last path component, stripped of anything a file system or a header would mind."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^\w.\- ()]+", "_", base).strip(" .")
    return base[:200] or "upload"


async def read_form(request: Request, platform, *, max_bytes: int, file_fields: set[str]) -> Form:
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise Problem(415, "unsupported-media-type", "send the upload as multipart/form-data")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 1024 * 1024:
        raise Problem(413, "upload-too-large", f"uploads are limited to {max_bytes // (1024 * 1024)} MB")
    form = Form(scratch=Scratch(platform, "upload"))
    state: dict = {"name": None, "filename": None, "buf": None, "fh": None, "header_field": b"", "headers": {},
                   "header_value": b"", "total": 0, "error": None}

    def on_part_begin():
        state.update(name=None, filename=None, buf=bytearray(), fh=None, headers={})

    def on_header_field(data, start, end):
        state["header_field"] += data[start:end]

    def on_header_value(data, start, end):
        state["header_value"] += data[start:end]

    def on_header_end():
        state["headers"][state["header_field"].lower()] = state["header_value"]
        state["header_field"], state["header_value"] = b"", b""

    def on_headers_finished():
        if state["error"]:
            return
        _, opts = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if b"filename" in opts:
            if name not in file_fields:
                state["error"] = Problem(422, "validation", f"unexpected file field {name!r}")
                return
            if name in form.files:
                state["error"] = Problem(422, "validation", f"send one {name!r} part, not several")
                return
            fname = opts[b"filename"].decode("utf-8", "replace")
            path = form.scratch.path / name  # one file per field, named by the (checked) field
            state["fh"] = open(path, "xb")
            form.files[name] = UploadedFile(name, safe_filename(fname), path)
        elif len(form.fields) >= MAX_FIELDS:
            state["error"] = Problem(422, "validation", "too many form fields")

    def on_part_data(data, start, end):
        if state["error"]:
            return
        chunk = data[start:end]
        if state["fh"] is not None:
            state["fh"].write(chunk)
            form.files[state["name"]].size += len(chunk)
        else:
            state["buf"] += chunk
            if len(state["buf"]) > MAX_FIELD_BYTES:
                state["error"] = Problem(413, "field-too-large", f"form field {state['name']!r} is too large")

    def on_part_end():
        if state["fh"] is not None:
            state["fh"].close()
            state["fh"] = None
        elif state["name"] is not None and not state["error"]:
            form.fields[state["name"]] = state["buf"].decode("utf-8", "replace")

    parser = MultipartParser(params[b"boundary"], {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished})
    try:
        async for chunk in request.stream():
            state["total"] += len(chunk)
            if state["total"] > max_bytes + 1024 * 1024:
                raise Problem(413, "upload-too-large", f"uploads are limited to {max_bytes // (1024 * 1024)} MB")
            parser.write(chunk)
            if state["error"]:
                raise state["error"]
        parser.finalize()
        if state["error"]:
            raise state["error"]
        for f in form.files.values():
            if f.size > max_bytes:
                raise Problem(413, "upload-too-large", f"uploads are limited to {max_bytes // (1024 * 1024)} MB")
    except Problem:
        if state["fh"] is not None:
            state["fh"].close()
        form.cleanup()
        raise
    except Exception as exc:
        if state["fh"] is not None:
            state["fh"].close()
        form.cleanup()
        raise Problem(400, "bad-multipart", f"the multipart body could not be read: {exc}") from None
    return form
