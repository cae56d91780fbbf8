"""Network faults on 127.0.0.1 for tests: a fault-injecting HTTP proxy and a server that never answers.

:class:`FaultProxy` listens on 127.0.0.1 in front of an HTTP server (the moto S3 server) and forwards every
request and response byte for byte (HEAD, PUT bodies, ``Transfer-Encoding: chunked`` and aws-chunked
uploads, conditional-write headers, keep-alive), except when a :class:`Fault` of its seeded schedule hits
the request. Point ``AWS_ENDPOINT_URL`` at :attr:`FaultProxy.url`.

Fault kinds (:data:`KINDS`):

``503`` / ``500`` / ``503-unavailable`` / ``403``
    Answer with an S3 error document (``SlowDown``, ``InternalError``, ``ServiceUnavailable``,
    ``AccessDenied``) without forwarding the request.
``reset``
    Forward the request (the server applies it), then reset the client connection (RST) instead of
    answering.
``truncated``
    Send the headers as the server sent them and half the body, then close the connection: the body is
    shorter than its ``Content-Length``.
``short``
    Send half the body with a ``Content-Length`` that matches it: the response looks whole; only checksum
    headers (left as the server sent them) or the content itself can tell.
``stall_headers``
    Never answer (hold the connection open).
``stall_body``
    Send the headers and half the body, then hold the connection open.

Body faults (``truncated``, ``short``, ``stall_body``) hit only responses that have a body (a 2xx answer
to a request other than HEAD, with at least 2 bytes); other responses pass unchanged.

:class:`SilentServer` accepts connections, reads what it is sent and never answers.
"""

from __future__ import annotations

import collections
import contextlib
import random
import re
import select
import socket
import struct
import threading
import urllib.parse
from dataclasses import dataclass

KINDS = ("503", "500", "503-unavailable", "403", "reset", "truncated", "short", "stall_headers", "stall_body")
STATUS_FAULTS = {
    "503": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "500": (500, "Internal Server Error", "InternalError", "We encountered an internal error."),
    "503-unavailable": (
        503,
        "Service Unavailable",
        "ServiceUnavailable",
        "Service is unable to handle request.",
    ),
    "403": (403, "Forbidden", "AccessDenied", "Access Denied"),
}
BODY_FAULTS = {"truncated", "short", "stall_body"}


def hold_open(client: socket.socket, stop: threading.Event) -> None:
    """Read and drop what a client sends, never answering, until it hangs up or ``stop`` is set."""
    while not stop.is_set():
        readable, _, _ = select.select([client], [], [], 0.1)
        if readable:
            try:
                if not client.recv(65536):
                    return
            except OSError:
                return


@dataclass(frozen=True)
class Fault:
    """A rule of the proxy's schedule: inject ``kind`` into matching requests with ``probability``.

    ``method`` (e.g. ``"GET"``) and ``pattern`` (a regular expression searched in the URL-decoded request
    target, e.g. ``r"catalog\\.yaml"`` or ``r"list-type=2"``) restrict which requests match; ``None``
    matches all. ``times`` caps how many requests the rule hits (``None``: no cap).
    """

    kind: str
    method: str | None = None
    pattern: str | None = None
    probability: float = 1.0
    times: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; choose one of {KINDS}")

    def matches(self, method: str, target: str) -> bool:
        if self.method is not None and method != self.method:
            return False
        return self.pattern is None or re.search(self.pattern, target) is not None


class _ClosedError(Exception):
    """The peer closed the connection."""


@dataclass
class _Message:
    head: bytes  # start line and headers, with the blank line, exactly as received
    start: str
    headers: list[tuple[str, str]]
    body: bytes = b""  # the body exactly as received (chunk framing included)
    chunked: bool = False

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def _read_head(stream) -> _Message | None:
    lines = []
    while True:
        line = stream.readline(65537)
        if not line:
            if lines:
                raise _ClosedError("connection closed inside a message head")
            return None
        if not lines and line in (b"\r\n", b"\n"):
            continue  # tolerate stray blank lines between messages
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            break
    head = b"".join(lines)
    text = head.decode("latin-1").split("\r\n")
    headers = []
    for line in text[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers.append((name.strip(), value.strip()))
    return _Message(head=head, start=text[0], headers=headers)


def _read_exactly(stream, size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise _ClosedError(f"connection closed after {len(data)} of {size} body bytes")
    return data


def _read_chunked(stream) -> bytes:
    """The raw bytes of a chunked body, framing and trailers included."""
    parts = []
    while True:
        line = stream.readline(65537)
        if not line:
            raise _ClosedError("connection closed inside a chunked body")
        parts.append(line)
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, up to the blank line
                trailer = stream.readline(65537)
                if not trailer:
                    raise _ClosedError("connection closed inside chunked trailers")
                parts.append(trailer)
                if trailer in (b"\r\n", b"\n"):
                    return b"".join(parts)
        parts.append(_read_exactly(stream, size + 2))


def _dechunk(raw: bytes) -> bytes:
    body, position = [], 0
    while True:
        end = raw.index(b"\r\n", position)
        size = int(raw[position:end].split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            return b"".join(body)
        body.append(raw[end + 2 : end + 2 + size])
        position = end + 2 + size + 2


def _read_body(stream, message: _Message, *, has_body: bool, until_close: bool) -> None:
    if not has_body:
        return
    encoding = (message.header("Transfer-Encoding") or "").lower()
    if "chunked" in encoding:
        message.chunked = True
        message.body = _read_chunked(stream)
    elif message.header("Content-Length") is not None:
        message.body = _read_exactly(stream, int(message.header("Content-Length") or 0))
    elif until_close:
        message.body = stream.read()


def _error_response(kind: str, method: str, target: str) -> bytes:
    status, reason, code, text = STATUS_FAULTS[kind]
    resource = urllib.parse.urlsplit(target).path
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{text}</Message><Resource>{resource}</Resource>"
        "<RequestId>fault-proxy</RequestId></Error>"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\nx-amz-request-id: fault-proxy\r\n\r\n"
    ).encode()
    return head if method == "HEAD" else head + body


def _with_length(head: bytes, length: int) -> bytes:
    """A response head whose body is ``length`` bytes long (no chunked transfer encoding)."""
    lines = head.decode("latin-1").split("\r\n")
    kept = [
        line
        for line in lines[1:]
        if line and line.split(":", 1)[0].strip().lower() not in ("content-length", "transfer-encoding")
    ]
    return "\r\n".join([lines[0], *kept, f"Content-Length: {length}", "", ""]).encode("latin-1")


class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 in front of ``upstream`` that injects scheduled faults.

    Parameters
    ----------
    upstream
        ``http://host:port`` of the real server.
    faults
        The schedule: for each request the first rule that matches and whose probability draw hits
        decides its fault; no hit forwards it unchanged.
    seed
        Seed of the probability draws.

    Attributes
    ----------
    log
        ``(method, target, fault kind or None)`` of every request, in arrival order.
    """

    def __init__(self, upstream: str, faults: list[Fault] | tuple[Fault, ...] = (), seed: int = 0) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sockets: set[socket.socket] = set()
        self.log: list[tuple[str, str, str | None]] = []
        self.schedule(faults, seed)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._thread.start()

    def schedule(self, faults: list[Fault] | tuple[Fault, ...], seed: int = 0) -> None:
        """Replace the fault schedule (and reseed the draws)."""
        with self._lock:
            self._faults = list(faults)
            self._hits = [0] * len(self._faults)
            self._random = random.Random(seed)

    @property
    def injected(self) -> collections.Counter:
        """How many faults of each kind were injected."""
        with self._lock:
            return collections.Counter(kind for _, _, kind in self.log if kind)

    def close(self) -> None:
        """Stop accepting, and close every open connection (held stalls end)."""
        self._stop.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._sockets.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _choose(self, method: str, target: str) -> str | None:
        decoded = urllib.parse.unquote(target)
        with self._lock:
            kind = None
            for index, fault in enumerate(self._faults):
                if fault.times is not None and self._hits[index] >= fault.times:
                    continue
                if fault.matches(method, decoded) and self._random.random() < fault.probability:
                    kind = fault.kind
                    self._hits[index] += 1
                    break
            self.log.append((method, decoded, kind))
            return kind

    def _note_unapplied(self) -> None:
        """The last scheduled body fault did not apply (the response had no body)."""
        with self._lock:
            method, target, _ = self.log[-1]
            self.log[-1] = (method, target, None)

    def _hold(self, client: socket.socket) -> None:
        """Keep a connection open without answering until the client gives up or the proxy closes."""
        hold_open(client, self._stop)

    def _connect(self) -> tuple[socket.socket, object]:
        upstream = socket.create_connection(self.upstream)
        with self._lock:
            self._sockets.add(upstream)
        return upstream, upstream.makefile("rb")

    def _serve(self, client: socket.socket) -> None:
        stream = client.makefile("rb")
        upstream, upstream_stream = None, None
        try:
            while not self._stop.is_set():
                request = _read_head(stream)
                if request is None:
                    return
                method, target = [*request.start.split(" "), "", ""][:2]
                continued = (request.header("Expect") or "").lower() == "100-continue"
                if continued:
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                _read_body(stream, request, has_body=True, until_close=False)
                kind = self._choose(method, target)
                if kind in STATUS_FAULTS:
                    client.sendall(_error_response(kind, method, target))
                    continue
                if kind == "stall_headers":
                    self._hold(client)
                    return
                if upstream is None:
                    upstream, upstream_stream = self._connect()
                try:
                    upstream.sendall(request.head + request.body)
                    response = self._response(upstream_stream, method, skip_continue=continued)
                except (_ClosedError, OSError):
                    # The server closed an idle keep-alive connection: reconnect once and resend.
                    upstream.close()
                    upstream, upstream_stream = self._connect()
                    upstream.sendall(request.head + request.body)
                    response = self._response(upstream_stream, method, skip_continue=continued)
                if kind == "reset":
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                status = int(response.start.split(" ")[1])
                body = _dechunk(response.body) if response.chunked else response.body
                if kind in BODY_FAULTS and not (200 <= status < 300 and len(body) >= 2):
                    self._note_unapplied()
                    kind = None
                if kind == "truncated":
                    client.sendall(response.head + response.body[: len(response.body) // 2])
                    return
                if kind == "short":
                    cut = body[: len(body) // 2]
                    client.sendall(_with_length(response.head, len(cut)) + cut)
                    continue
                if kind == "stall_body":
                    client.sendall(_with_length(response.head, len(body)) + body[: len(body) // 2])
                    self._hold(client)
                    return
                client.sendall(response.head + response.body)
                if (response.header("Connection") or "").lower() == "close":
                    return
        except (_ClosedError, OSError, ValueError):
            return
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with self._lock:
                        self._sockets.discard(sock)
                    sock.close()

    def _response(self, stream, method: str, *, skip_continue: bool) -> _Message:
        while True:
            response = _read_head(stream)
            if response is None:
                raise _ClosedError("the server closed the connection before answering")
            status = int(response.start.split(" ")[1])
            if 100 <= status < 200:
                if status == 100 and skip_continue:
                    continue  # the proxy already told the client to continue
                continue  # other interim responses are not forwarded either
            has_body = method != "HEAD" and status not in (204, 304)
            _read_body(stream, response, has_body=has_body, until_close=True)
            return response


class SilentServer:
    """Accepts TCP connections on 127.0.0.1, reads what it is sent and never answers.

    Attributes
    ----------
    url, host
        ``http://127.0.0.1:<port>`` and ``127.0.0.1:<port>``.
    connections
        How many connections were accepted.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._listener.settimeout(0.2)
        self.host = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)
        self._thread.start()

    @property
    def connections(self) -> int:
        return len(self._sockets)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._sockets.append(client)
            threading.Thread(target=self._drain, args=(client,), daemon=True).start()

    def _drain(self, client: socket.socket) -> None:
        hold_open(client, self._stop)

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._stop.set()
        self._listener.close()
        for sock in self._sockets:
            sock.close()
        self._thread.join(5)

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
