"""How ``musicconnect serve`` runs uvicorn: httptools (the fast parser) with the header cap it
lacks.

uvicorn's httptools protocol accepts request heads of any size (a 100 MB header was parsed in 31
s while every other client waited); its h11 protocol caps them but is slower. This protocol
counts the bytes of each request head as they arrive and answers ``431 Request Header Fields Too
Large`` and closes the connection as soon as a head passes ``max_header_bytes``.
"""
from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = MAX_HEADER_BYTES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_body = False

    def data_received(self, data: bytes) -> None:
        if not self._in_body:
            self._head_bytes += len(data)
        super().data_received(data)
        if not self._in_body and self._head_bytes > self.max_header_bytes and not self.transport.is_closing():
            msg = b"request header fields too large"
            self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
                                 b"content-length: " + str(len(msg)).encode() + b"\r\nconnection: close\r\n\r\n" + msg)
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_body = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._head_bytes = 0
        super().on_message_complete()


def uvicorn_options(settings) -> dict:
    """Options shared by every way ``serve`` starts uvicorn."""
    BoundedHttpToolsProtocol.max_header_bytes = settings.max_header_bytes
    return {"http": BoundedHttpToolsProtocol, "log_config": None, "access_log": False,
            "proxy_headers": True, "forwarded_allow_ips": settings.forwarded_allow_ips,
            "timeout_keep_alive": settings.keep_alive_seconds, "backlog": settings.listen_backlog,
            # real-time sockets (musicconnect.realtime): the server pings; frames are capped here
            "ws": settings.realtime_ws, "ws_ping_interval": settings.realtime_ping_seconds,
            "ws_ping_timeout": settings.realtime_ping_seconds, "ws_max_size": settings.realtime_max_frame_bytes,
            "ws_per_message_deflate": settings.realtime_compression}
