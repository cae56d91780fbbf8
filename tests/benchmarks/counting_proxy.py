"""A pass-through HTTP proxy on 127.0.0.1 that counts the requests it forwards and the bytes the server sent.

The benchmarks point ``AWS_ENDPOINT_URL`` at :attr:`CountingProxy.url` (in front of the moto S3 server) to
measure, per call, how many requests a reader sends and how many response body bytes the server sent back
(what a reader downloads: a ranged GET counts only its range).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from fault_proxy import FaultProxy


@dataclass(frozen=True)
class Exchange:
    """One forwarded request: its method and target, the server's status and response body bytes."""

    method: str
    target: str
    status: int
    body_bytes: int


class CountingProxy(FaultProxy):
    """A :class:`~fault_proxy.FaultProxy` without faults that records every exchange it forwards.

    Use :meth:`mark` before a call and :meth:`since` after it to get that call's exchanges. Set
    :attr:`latency` (seconds) to hold each request that long before forwarding it, as a distant S3 endpoint
    would: each connection has its own thread, so requests sent together wait together.
    """

    def __init__(self, upstream: str) -> None:
        self._exchanges: list[Exchange] = []
        self._targets = threading.local()
        self.latency = 0.0
        super().__init__(upstream)

    def _choose(self, method: str, target: str) -> str | None:
        self._targets.current = target
        if self.latency:
            time.sleep(self.latency)
        return super()._choose(method, target)

    def _response(self, stream, method: str, *, skip_continue: bool):
        response = super()._response(stream, method, skip_continue=skip_continue)
        body = response.body
        if response.chunked:
            from fault_proxy import _dechunk

            body = _dechunk(body)
        exchange = Exchange(
            method, getattr(self._targets, "current", ""), int(response.start.split(" ")[1]), len(body)
        )
        with self._lock:
            self._exchanges.append(exchange)
        return response

    def mark(self) -> int:
        """A position in the record of exchanges (pass it to :meth:`since`)."""
        with self._lock:
            return len(self._exchanges)

    def since(self, mark: int) -> list[Exchange]:
        """The exchanges forwarded after ``mark``."""
        with self._lock:
            return list(self._exchanges[mark:])
