"""dns: does the name resolve, and to what we expect?

dnspython's asyncio resolver speaks to the nameserver from the event loop itself: no
getaddrinfo thread, and a chosen resolver (e.g. the service's authoritative server) works.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from typing import Any, Literal

import dns.asyncresolver
import dns.exception
import dns.resolver
from pydantic import Field, field_validator

from detector.config.fields import Model
from probes.base import ProbeContext, Result
from probes.errors import ProbeFailure, fmt_duration

_SHOWN = 3  # answers quoted in the detail


def parse_resolver(value: str) -> tuple[str, int]:
    """'1.1.1.1', '127.0.0.1:5353', '::1', '[::1]:5353' → (address, port); ValueError if not."""
    text = value.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not an IP address or address:port: {value!r}")
        port = rest[1:] or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(
            f"a resolver is an IP address, optionally with :port, got {value!r}"
        ) from None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"not a port number in {value!r}")
    return address, int(port)


class DnsSpec(Model):
    name: str = Field(min_length=1)
    type: Literal["A", "AAAA", "CNAME", "MX", "TXT"] = "A"
    resolver: str | None = None  # "127.0.0.1" or "127.0.0.1:5353"
    expect: list[str] | None = None  # each must appear among the answers

    @field_validator("resolver")
    @classmethod
    def _resolver(cls, v: str | None) -> str | None:
        if v is not None:
            parse_resolver(v)
        return v


@functools.lru_cache(maxsize=256)
def resolver(address: str | None) -> dns.asyncresolver.Resolver:
    """One resolver per nameserver: the system one reads /etc/resolv.conf once, not per check."""
    if address is None:
        try:
            return dns.asyncresolver.Resolver()
        except dns.exception.DNSException as e:
            raise ProbeFailure(f"no system resolver configured: {e}") from None
    host, port = parse_resolver(address)
    res = dns.asyncresolver.Resolver(configure=False)
    res.nameservers = [host]
    res.port = port
    return res


def _text(rdtype: str, rdata: Any) -> str:
    if rdtype in ("A", "AAAA"):
        return str(rdata.address)
    if rdtype == "CNAME":
        return str(rdata.target.to_text(omit_final_dot=True)).lower()
    if rdtype == "MX":
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True).lower()}"
    return b"".join(rdata.strings).decode("utf-8", "replace")  # TXT


def _found(rdtype: str, expected: str, answers: list[str]) -> bool:
    """Compare as the record type means it: '::1' is '0::1'; names ignore case and final dot."""
    if rdtype in ("A", "AAAA"):
        try:
            want = ipaddress.ip_address(expected.strip())
        except ValueError:
            return False
        return any(ipaddress.ip_address(a) == want for a in answers)
    if rdtype == "TXT":
        return expected in answers
    want_name = expected.strip().rstrip(".").lower()
    if rdtype == "MX":  # '10 mx.example.com' or just 'mx.example.com'
        return any(want_name in (a, a.partition(" ")[2]) for a in answers)
    return want_name in answers


def _quote(values: list[str]) -> str:
    more = f" (+{len(values) - _SHOWN} more)" if len(values) > _SHOWN else ""
    return ", ".join(values[:_SHOWN]) + more


def _no_nameserver(e: dns.resolver.NoNameservers, name: str) -> str:
    errors = e.kwargs.get("errors") or []
    reason = str(errors[-1][3]) if errors else "no nameserver available"
    return f"no nameserver answered for {name}: {reason}"


async def check(spec: DnsSpec, ctx: ProbeContext) -> Result:
    res = resolver(spec.resolver)
    ctx.phase = "DNS query"
    start = time.perf_counter()
    try:
        answer = await res.resolve(
            spec.name,
            spec.type,
            search=False,
            lifetime=ctx.timeout + 1.0,  # the runner's timeout ends it; this is a backstop
        )
    except dns.resolver.NXDOMAIN:
        raise ProbeFailure(f"{spec.name} does not exist (NXDOMAIN)") from None
    except dns.resolver.NoAnswer:
        raise ProbeFailure(f"no {spec.type} record for {spec.name}") from None
    except dns.resolver.NoNameservers as e:
        raise ProbeFailure(_no_nameserver(e, spec.name)) from None
    except dns.exception.Timeout:
        raise ProbeFailure(f"DNS query for {spec.name} timed out") from None
    except dns.exception.DNSException as e:
        raise ProbeFailure(f"DNS lookup of {spec.name} failed: {e}") from None
    answers = sorted(_text(spec.type, rdata) for rdata in answer)  # stable evidence
    missing = [v for v in spec.expect or [] if not _found(spec.type, v, answers)]
    if missing:
        return Result(
            ok=False,
            duration=0.0,
            detail=f"{spec.type} {spec.name} lacks {', '.join(missing)} (got {_quote(answers)})",
        )
    took = fmt_duration(time.perf_counter() - start)
    return Result(ok=True, duration=0.0, detail=f"{spec.type} {_quote(answers)} in {took}")
