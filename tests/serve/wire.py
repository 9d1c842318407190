"""Reading raw HTTP/1.1 responses off a socket, for the tests that speak to the server by hand
(malformed requests, pipelining, 100-continue): no client library would send those."""

from __future__ import annotations

import socket

Response = tuple[int, dict[str, str], bytes]


def read_responses(sock: socket.socket, count: int) -> list[Response]:
    """The next ``count`` responses (status, lower-cased headers, body), in order; bytes after one
    response belong to the next (pipelining). A body cut short by the server closing is returned
    as far as it came."""
    buffer, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before a response head: {buffer!r}")
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(buffer) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
        out.append((int(lines[0].split()[1]), headers, buffer[:length]))
        buffer = buffer[length:]
    return out


def read_response(sock: socket.socket) -> Response:
    """The next response on ``sock``."""
    return read_responses(sock, 1)[0]
