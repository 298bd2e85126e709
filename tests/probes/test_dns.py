"""dns probe against a small authoritative server this test runs on 127.0.0.1 (UDP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from pydantic import ValidationError

from probes.dns import DnsSpec, parse_resolver
from tests.probes.conftest import Run

ZONE: dict[tuple[str, str], list[str]] = {
    ("api.test.", "A"): ["10.0.0.1", "10.0.0.2"],
    ("api.test.", "AAAA"): ["2001:db8::1"],
    ("www.test.", "CNAME"): ["API.test."],
    ("test.", "MX"): ["10 mx1.test.", "20 mx2.test."],
    ("test.", "TXT"): ['"v=spf1 -all"'],
}
NAMES = {name for name, _ in ZONE}


class ZoneServer(asyncio.DatagramProtocol):
    """Answers from ZONE; a few names misbehave on purpose."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name, rdtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
        if name == "silent.test.":
            return
        if name == "garbage.test.":
            self.transport.sendto(data[:2] + b"\x81\x80\xff\xff", addr)  # our id, then junk
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name == "servfail.test.":
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name == "wrongtype.test.":
            response.answer.append(dns.rrset.from_text_list(name, 60, "IN", "TXT", ['"x"']))
        elif name not in NAMES:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif (name, rdtype) in ZONE:
            response.answer.append(
                dns.rrset.from_text_list(name, 60, "IN", rdtype, ZONE[(name, rdtype)])
            )
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def resolver() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(ZoneServer, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    yield f"127.0.0.1:{port}"
    transport.close()


async def test_a_with_expectations(run: Run, resolver: str) -> None:
    r = await run("dns", {"name": "api.test", "resolver": resolver, "expect": ["10.0.0.2"]})
    assert r.ok and r.detail.startswith("A 10.0.0.1, 10.0.0.2 in "), r.detail
    r = await run("dns", {"name": "api.test", "resolver": resolver, "expect": ["10.0.0.9"]})
    assert (r.ok, r.detail) == (False, "A api.test lacks 10.0.0.9 (got 10.0.0.1, 10.0.0.2)")


@pytest.mark.parametrize(
    ("name", "rdtype", "expect"),
    [
        ("api.test", "AAAA", "2001:0db8:0:0::1"),
        ("www.test", "CNAME", "api.test."),
        ("test", "MX", "mx2.test"),
        ("test", "MX", "10 mx1.test"),
        ("test", "TXT", "v=spf1 -all"),
    ],
)
async def test_record_types(run: Run, resolver: str, name: str, rdtype: str, expect: str) -> None:
    spec = {"name": name, "type": rdtype, "resolver": resolver, "expect": [expect]}
    r = await run("dns", spec)
    assert r.ok and r.detail.startswith(f"{rdtype} "), r.detail


async def test_nxdomain(run: Run, resolver: str) -> None:
    r = await run("dns", {"name": "nope.test", "resolver": resolver})
    assert (r.ok, r.detail) == (False, "nope.test does not exist (NXDOMAIN)")


async def test_no_answer(run: Run, resolver: str) -> None:
    r = await run("dns", {"name": "www.test", "type": "TXT", "resolver": resolver})
    assert (r.ok, r.detail) == (False, "no TXT record for www.test")


async def test_servfail(run: Run, resolver: str) -> None:
    r = await run("dns", {"name": "servfail.test", "resolver": resolver})
    assert (r.ok, r.detail) == (False, "no nameserver answered for servfail.test: SERVFAIL")


async def test_timeout(run: Run, resolver: str) -> None:
    r = await run("dns", {"name": "silent.test", "resolver": resolver}, timeout=0.2)
    assert (r.ok, r.detail) == (False, "DNS query timeout after 200 ms")


async def test_malformed_answer(run: Run, resolver: str) -> None:
    """An unparsable reply is dropped (as a spoofed one would be) and the query times out."""
    r = await run("dns", {"name": "garbage.test", "resolver": resolver}, timeout=0.3)
    assert (r.ok, r.detail) == (False, "DNS query timeout after 300 ms")


async def test_answer_of_the_wrong_type(run: Run, resolver: str) -> None:
    r = await run("dns", {"name": "wrongtype.test", "resolver": resolver})
    assert (r.ok, r.detail) == (False, "no A record for wrongtype.test")


def test_resolver_addresses() -> None:
    assert parse_resolver("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_resolver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_resolver("::1") == ("::1", 53)
    assert parse_resolver("[::1]:5353") == ("::1", 5353)
    for bad in ("dns.example", "127.0.0.1:x", "127.0.0.1:70000", "[::1"):
        with pytest.raises(ValueError, match=r"resolver|port|address"):
            parse_resolver(bad)
    with pytest.raises(ValidationError, match="a resolver is an IP address"):
        DnsSpec.model_validate({"name": "x", "resolver": "ns1.example"})
