"""icmp: does the host answer ping? (ICMP echo, with icmplib)

A host passes while any of its echo requests is answered; an average round trip over
`max_latency` is a soft failure (degraded), as for http. Losing some of the replies is said in
the detail but is not an outage: one lost packet in three is the network, not the host.

Sending ICMP needs one of two things from the kernel, and the first that works is used:
- an unprivileged ICMP datagram socket (Linux: the process's group is in
  `net.ipv4.ping_group_range`; macOS: always). The kernel fills in and matches the echo ids.
- a raw socket: root, or the capability CAP_NET_RAW.
Which one works is found once per address family, when the config is validated: with neither,
the config is invalid at the probe's key (`...icmp: cannot send ICMP echo from here: ...`), so
`detector check` says so before the daemon would report an outage that is really ours.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from typing import Any

import icmplib  # type: ignore[import-untyped]  # ships no types, and there are no stubs
from pydantic import Field, model_validator

from detector.config.fields import Model, PositiveDuration
from probes.base import ProbeContext, Result
from probes.errors import ProbeFailure, fmt_duration
from probes.resolve import ip_literal

# each reply gets an equal share of this much of the check's timeout (the rest: the intervals
# and a margin), so a lost packet is counted as lost instead of timing the whole check out
_BUDGET = 0.9
_MIN_WAIT = 0.05  # seconds: shorter than this, a loaded host's loopback reply could miss it

NO_ICMP = (
    "cannot send ICMP echo from here: unprivileged ICMP sockets are off for this process's "
    "group (sysctl net.ipv4.ping_group_range) and raw sockets need root or CAP_NET_RAW"
)

# Opening a socket, as socket.socket(family, type, proto) does; a test gives its own.
Opener = Callable[[int, int, int], Any]

# The icmplib call; a test may give its own (the kernel answers every loopback address, so a
# lost reply cannot be made for real without touching the machine's network settings).
ping: Callable[..., Any] = icmplib.async_ping


class IcmpSpec(Model):
    host: str = Field(min_length=1)
    count: int = Field(default=3, ge=1, le=20)
    interval: PositiveDuration = 0.2
    max_latency: PositiveDuration | None = None

    @model_validator(mode="after")
    def _can_ping(self) -> IcmpSpec:
        if socket_mode(family_of(self.host)) is None:
            if family_of(self.host) == 6 and socket_mode(4) is not None:
                raise ValueError("cannot send ICMP echo over IPv6 from here (IPv6 is off?)")
            raise ValueError(NO_ICMP)
        return self


def family_of(host: str) -> int:
    """6 for an IPv6 literal, else 4 (a host name is checked against IPv4, the usual case)."""
    literal = ip_literal(host)
    return 6 if literal is not None and ":" in literal else 4


def detect(family: int, opener: Opener = socket.socket) -> bool | None:
    """The `privileged` flag icmplib needs for `family` (4 or 6): False when an unprivileged
    ICMP datagram socket opens, True when only a raw one does, None when neither does."""
    af, proto = (
        (socket.AF_INET, socket.IPPROTO_ICMP)
        if family == 4
        else (socket.AF_INET6, socket.IPPROTO_ICMPV6)
    )
    for privileged, kind in ((False, socket.SOCK_DGRAM), (True, socket.SOCK_RAW)):
        try:
            opener(af, kind, proto).close()
        except OSError:
            continue
        return privileged
    return None


@functools.cache
def socket_mode(family: int) -> bool | None:
    """`detect`, once per process and family: a sysctl or capability change needs a restart."""
    return detect(family)


def reply_wait(count: int, interval: float, timeout: float) -> float:
    """How long to wait for each reply so that all `count` fit in the check's `timeout`."""
    budget = timeout * _BUDGET - (count - 1) * interval
    return max(budget / count, _MIN_WAIT)


def _pings(n: int) -> str:
    return "1 ping" if n == 1 else f"{n} pings"


def _replies(received: int, sent: int) -> str:
    return f"{received} of {sent} replies"


async def check(spec: IcmpSpec, ctx: ProbeContext) -> Result:
    ctx.phase = "DNS lookup"
    address = (await ctx.addresses.resolve(spec.host))[0]
    privileged = socket_mode(6 if ":" in address else 4)
    if privileged is None:  # a name that resolved to IPv6 only, on a host without IPv6 ICMP
        raise ProbeFailure(NO_ICMP)
    ctx.phase = "ping"
    try:
        host = await ping(
            address,
            count=spec.count,
            interval=spec.interval,
            timeout=reply_wait(spec.count, spec.interval, ctx.timeout),
            privileged=privileged,
        )
    except icmplib.SocketPermissionError:
        raise ProbeFailure(NO_ICMP) from None
    except icmplib.ICMPLibError as e:  # a socket error: icmplib's own words, flattened
        raise ProbeFailure(f"ping failed: {e}") from None
    to = "" if address == ip_literal(spec.host) else f" from {address}"
    if host.packets_sent == 0:
        return Result(ok=False, duration=0.0, detail=f"no echo request could be sent to {address}")
    received, sent = int(host.packets_received), int(host.packets_sent)
    if received == 0:
        return Result(ok=False, duration=0.0, detail=f"no reply to {_pings(sent)}{to}")
    avg = float(host.avg_rtt) / 1000.0  # icmplib measures in milliseconds
    loss = "" if received == sent else f" ({round(100 * (sent - received) / sent)}% lost)"
    if spec.max_latency is not None and avg > spec.max_latency:
        slow = f"slow: avg {fmt_duration(avg)} > {fmt_duration(spec.max_latency)}"
        detail = f"{slow}, {_replies(received, sent)}{loss}{to}"
        return Result(ok=True, duration=0.0, soft_fail=True, detail=detail)
    detail = f"{_replies(received, sent)}{loss}{to}, avg {fmt_duration(avg)}"
    return Result(ok=True, duration=0.0, detail=detail)
