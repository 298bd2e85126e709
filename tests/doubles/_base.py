"""What every provider double shares: a real aiohttp server on 127.0.0.1 and scripted faults.

Faults are queued and consumed one per incoming request, before auth or validation, because a
real provider's outage does not care whether the request was good. A storm (`storm()` until
`calm()`) is a fault for every request while it lasts: a provider that is down for a while
rather than for n requests, whatever the client's retry timing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# a Retry-After no client should take as given: an HTTP date at the end of year 9999
FAR_FUTURE = "Fri, 31 Dec 9999 23:59:59 GMT"


def http_date(epoch: float) -> str:
    """An RFC 9110 HTTP date (IMF-fixdate), as a Retry-After may carry."""
    return formatdate(epoch, usegmt=True)


@dataclass(frozen=True, slots=True)
class _Fault:
    kind: str  # "fail" | "hang" | "reset"
    status: int = 0
    retry_after: float | str | None = None


class ProviderDouble:
    """A local stand-in for a provider's API; subclasses add routes and error shapes."""

    def __init__(self) -> None:
        self.url = ""
        self.seen = 0  # every request that reached the server, faulted or not
        self._faults: deque[_Fault] = deque()
        self._weather: _Fault | None = None  # the storm every request meets, if any
        self._released = asyncio.Event()
        self._calmed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # --- scripting ------------------------------------------------------------------------

    def fail_next(self, n: int, status: int, retry_after: float | str | None = None) -> None:
        """The next n requests get `status` with the provider's error body (and Retry-After)."""
        self._faults.extend(_Fault("fail", status, retry_after) for _ in range(n))

    def hang_next(self, n: int) -> None:
        """The next n requests are read and never answered (until stop), so clients time out."""
        self._faults.extend(_Fault("hang") for _ in range(n))

    def reset_next(self, n: int) -> None:
        """The next n requests have their connection closed without a response."""
        self._faults.extend(_Fault("reset") for _ in range(n))

    def storm(
        self, status: int = 0, *, retry_after: float | str | None = None, hang: bool = False
    ) -> None:
        """From now until `calm()`, every request (after any queued faults) gets `status`
        (with Retry-After, seconds or an HTTP date), or with `hang` is never answered: held
        until `calm()` or `stop()`, so clients time out."""
        self._calmed.clear()
        self._weather = _Fault("hang") if hang else _Fault("fail", status, retry_after)

    def calm(self) -> None:
        """The storm is over: requests are served again; held ones are let go (with a 503)."""
        self._weather = None
        self._calmed.set()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._fault_middleware], client_max_size=64 * 2**20)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._released.set()  # hung handlers return, so cleanup does not wait on them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- for subclasses -------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def error_response(self, status: int) -> web.Response:
        """The provider's error body for an injected failure."""
        raise NotImplementedError

    # --- internals ------------------------------------------------------------------------

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.seen += 1
        queued = bool(self._faults)
        fault = self._faults.popleft() if queued else self._weather
        if fault is None:
            return await handler(request)
        await request.read()
        if fault.kind == "hang":
            let_go = [asyncio.ensure_future(e.wait()) for e in (self._released, self._calmed)]
            if queued:  # a queued hang lasts until stop()
                let_go.pop().cancel()
            try:
                await asyncio.wait(let_go, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for f in let_go:
                    f.cancel()
            return web.Response(status=503)
        if fault.kind == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)  # never written: the connection is gone
        resp = self.error_response(fault.status)
        if fault.retry_after is not None:
            ra = fault.retry_after
            resp.headers["Retry-After"] = ra if isinstance(ra, str) else f"{ra:g}"
        return resp
