"""Host-name lookups for the tcp and tls probes, cached.

asyncio resolves names with getaddrinfo in a worker thread. At 20,000 probes every 10 s that
would be a thread hop per check, so answers are kept for a short TTL (as aiohttp's
`ttl_dns_cache` does for HTTP probes) and concurrent lookups of one name share one call.
IP literals never leave the event loop. Failures are not cached: the next check asks again.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import time

from probes.errors import ProbeFailure

DEFAULT_TTL = 30.0


def ip_literal(host: str) -> str | None:
    """The address if `host` is an IP literal ('[::1]' too), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class AddressCache:
    def __init__(self, ttl: float = DEFAULT_TTL) -> None:
        self.ttl = ttl
        self._answers: dict[str, tuple[float, list[str]]] = {}
        self._pending: dict[str, asyncio.Task[list[str]]] = {}

    async def resolve(self, host: str) -> list[str]:
        """IP addresses for `host`, in the order getaddrinfo prefers; ProbeFailure if none."""
        literal = ip_literal(host)
        if literal is not None:
            return [literal]
        now = time.monotonic()
        cached = self._answers.get(host)
        if cached is not None and cached[0] > now:
            return cached[1]
        task = self._pending.get(host)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._lookup(host))
            self._pending[host] = task
            task.add_done_callback(functools.partial(self._done, host))
        # shield: one caller timing out must not cancel the lookup the others are waiting on
        return await asyncio.shield(task)

    def _done(self, host: str, task: asyncio.Task[list[str]]) -> None:
        if self._pending.get(host) is task:
            del self._pending[host]
        if not task.cancelled():
            task.exception()  # retrieved, so a lookup nobody waits for any more logs nothing

    async def _lookup(self, host: str) -> list[str]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except socket.gaierror as e:
            raise ProbeFailure(f"DNS lookup failed for {host}: {e.strerror or e}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise ProbeFailure(f"DNS lookup failed for {host}: no addresses")
        if len(self._answers) > 10_000:  # names come from config, but stay bounded anyway
            self._answers.clear()
        self._answers[host] = (time.monotonic() + self.ttl, addresses)
        return addresses
