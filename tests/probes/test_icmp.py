"""icmp probe: real pings on loopback, and what loopback cannot be made to do, injected.

Real: echo requests to 127.0.0.1, another 127.0.0.0/8 address, ::1 and `localhost`, through
icmplib and the kernel, with whichever socket this machine allows (as root: a raw socket). Real
too, in a network namespace of their own (`unshare`, as CI and developers run as root): the
unprivileged datagram socket path (the namespace's own `net.ipv4.ping_group_range` opened to
us), and a machine that allows neither, where `detector check` must refuse the config.

Injected: the kernel answers every loopback address at once, so lost replies, slow replies and
icmplib's socket errors come from a stand-in for `icmplib.async_ping` returning icmplib's own
`Host` results or raising icmplib's own exceptions.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import icmplib  # type: ignore[import-untyped]
import pytest

from detector.config.loader import ConfigError, parse_config
from probes import icmp
from tests.probes.conftest import Run

ROOT = Path(__file__).resolve().parents[2]
AVG = re.compile(r"avg \d+(\.\d)? ms$")


# --- real pings -----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "::1"])
async def test_loopback_answers(run: Run, host: str) -> None:
    r = await run("icmp", {"host": host, "count": 2, "interval": "20ms"})
    assert r.ok and not r.soft_fail, r
    assert r.detail.startswith("2 of 2 replies, avg ") and AVG.search(r.detail), r.detail


async def test_a_name_says_which_address_answered(run: Run) -> None:
    r = await run("icmp", {"host": "localhost", "count": 1})
    assert r.ok, r
    assert re.fullmatch(r"1 of 1 replies from (127\.0\.0\.1|::1), avg \d+(\.\d)? ms", r.detail)


def test_this_machine_can_ping() -> None:
    """The real tests above need one of the two sockets; say which is missing if neither."""
    assert icmp.socket_mode(4) is not None, icmp.NO_ICMP


# --- real, in a network namespace of our own --------------------------------------------------

# brings the namespace's loopback up (SIOCGIFFLAGS, SIOCSIFFLAGS | IFF_UP), without iproute2
_LO_UP = """
import fcntl, socket, struct
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    ifr = fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0))
    flags = struct.unpack("16sH22x", ifr)[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))
"""

_UNPRIVILEGED = """
import asyncio, json
from pathlib import Path
Path("/proc/sys/net/ipv4/ping_group_range").write_text("0 0")  # this namespace's only
from detector.config.models import ProbeConfig
from probes import icmp
from probes.base import ProbeContext
from probes.runner import make_session, run_check

async def main():
    probe = ProbeConfig.model_validate(
        {"name": "p", "icmp": {"host": "127.0.0.1", "count": 2, "interval": "20ms"}}
    )
    async with make_session() as session:
        r = await run_check(probe, ProbeContext(session=session, timeout=2.0), 2.0)
    print(json.dumps({"privileged": icmp.socket_mode(4), "ok": r.ok, "detail": r.detail}))

asyncio.run(main())
"""


def _in_namespace(*command: str) -> subprocess.CompletedProcess[str]:
    """`command` as root of a new user namespace with its own network namespace."""
    return subprocess.run(
        ["unshare", "--net", "--map-root-user", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unprivileged_sockets_when_the_kernel_allows_them() -> None:
    script = _LO_UP + textwrap.dedent(_UNPRIVILEGED)
    out = _in_namespace(sys.executable, "-c", script)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["privileged"] is False  # the datagram socket, though a raw one works there too
    assert got["ok"] and got["detail"].startswith("2 of 2 replies, avg "), got


CONFIG = """
service: {name: Acme, contact: {name: Jane, email: jane@example.test}}
components:
  - id: edge
    name: Edge
    impact: You cannot reach us.
    probes:
      - name: edge-ping
        icmp: {host: 127.0.0.1}
"""


def test_check_refuses_the_config_where_no_icmp_socket_opens(tmp_path: Path) -> None:
    """A fresh namespace keeps ping_group_range closed ("1 0"); without CAP_NET_RAW there is
    no raw socket either: `detector check` names the probe's key and both ways out."""
    path = tmp_path / "detector.yaml"
    path.write_text(CONFIG)
    drop = ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw"]
    out = _in_namespace(*drop, sys.executable, "-m", "detector", "check", "-c", str(path))
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr == f"components[0].probes[0].icmp: {icmp.NO_ICMP}\n"
    # and outside the namespace the same file is fine
    parse_config(CONFIG, env={})


# --- socket detection, with a stand-in for socket.socket ---------------------------------------


class Opener:
    def __init__(self, *allowed: int) -> None:
        self.allowed = allowed
        self.calls: list[tuple[int, int, int]] = []

    def __call__(self, family: int, kind: int, proto: int) -> socket.socket:
        self.calls.append((family, kind, proto))
        if kind not in self.allowed:
            raise PermissionError(13, "Permission denied")
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # something to close


def test_detect_prefers_the_unprivileged_socket() -> None:
    both = Opener(socket.SOCK_DGRAM, socket.SOCK_RAW)
    assert icmp.detect(4, both) is False
    assert both.calls == [(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)]
    raw = Opener(socket.SOCK_RAW)
    assert icmp.detect(6, raw) is True
    assert raw.calls == [
        (socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6),
        (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
    ]
    assert icmp.detect(4, Opener()) is None


def test_config_error_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(icmp, "socket_mode", lambda family: None)
    with pytest.raises(ConfigError) as e:
        parse_config(CONFIG, env={})
    assert e.value.lines == [f"components[0].probes[0].icmp: {icmp.NO_ICMP}"]
    monkeypatch.setattr(icmp, "socket_mode", lambda family: None if family == 6 else True)
    with pytest.raises(ConfigError) as e:
        parse_config(CONFIG.replace("127.0.0.1", "'::1'"), env={})
    assert e.value.lines == [
        "components[0].probes[0].icmp: cannot send ICMP echo over IPv6 from here (IPv6 is off?)"
    ]


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        ({"host": ""}, "components[0].probes[0].icmp.host: must not be empty"),
        ({"host": "h", "count": 0}, "components[0].probes[0].icmp.count: must be at least 1"),
        ({"host": "h", "count": 21}, "components[0].probes[0].icmp.count: must be at most 20"),
        ({"host": "h", "interval": "0s"}, "components[0].probes[0].icmp.interval: must be greater"),
    ],
)
def test_spec_errors(spec: dict[str, Any], line: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(CONFIG.replace("{host: 127.0.0.1}", json.dumps(spec)), env={})
    assert any(got.startswith(line) for got in e.value.lines), e.value.lines


# --- what loopback will not do: an injected icmplib.async_ping --------------------------------


class Pinger:
    """Stands in for icmplib.async_ping: records its arguments, answers with `rtts` (ms)."""

    def __init__(self, rtts: list[float] | None = None, error: Exception | None = None) -> None:
        self.rtts = rtts or []
        self.error = error
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, address: str, **kwargs: Any) -> Any:
        self.calls.append({"address": address, **kwargs})
        if self.error is not None:
            raise self.error
        return icmplib.Host(address, kwargs["count"], self.rtts)


@pytest.fixture
def pinger(monkeypatch: pytest.MonkeyPatch) -> Pinger:
    p = Pinger()
    monkeypatch.setattr(icmp, "ping", p)
    return p


async def test_what_icmplib_is_asked(run: Run, pinger: Pinger) -> None:
    pinger.rtts = [1.0, 3.0, 2.0]
    r = await run("icmp", {"host": "127.0.0.1", "interval": "100ms"}, timeout=2.0)
    assert (r.ok, r.detail) == (True, "3 of 3 replies, avg 2 ms")
    # each reply waits (2 s × 0.9 − 2 × 100 ms) / 3: the three fit in the timeout
    [call] = pinger.calls
    assert call == {
        "address": "127.0.0.1",
        "count": 3,
        "interval": 0.1,
        "timeout": pytest.approx(1.6 / 3),
        "privileged": icmp.socket_mode(4),
    }


async def test_no_reply(run: Run, pinger: Pinger) -> None:
    r = await run("icmp", {"host": "127.0.0.1"})
    assert (r.ok, r.detail) == (False, "no reply to 3 pings")
    r = await run("icmp", {"host": "localhost", "count": 1})
    assert not r.ok and re.fullmatch(r"no reply to 1 ping from (127\.0\.0\.1|::1)", r.detail)


async def test_some_replies_lost_is_not_an_outage(run: Run, pinger: Pinger) -> None:
    pinger.rtts = [1.0, 3.0]
    r = await run("icmp", {"host": "127.0.0.1"})
    assert (r.ok, r.soft_fail, r.detail) == (True, False, "2 of 3 replies (33% lost), avg 2 ms")


async def test_slow_replies_are_degraded(run: Run, pinger: Pinger) -> None:
    pinger.rtts = [150.0, 160.0, 170.0]
    r = await run("icmp", {"host": "127.0.0.1", "max_latency": "100ms"})
    assert (r.ok, r.soft_fail, r.detail) == (
        True,
        True,
        "slow: avg 160 ms > 100 ms, 3 of 3 replies",
    )
    r = await run("icmp", {"host": "127.0.0.1", "max_latency": "200ms"})
    assert (r.ok, r.soft_fail) == (True, False)


async def test_icmplib_errors(run: Run, pinger: Pinger) -> None:
    pinger.error = icmplib.SocketPermissionError(False)
    r = await run("icmp", {"host": "127.0.0.1"})
    assert (r.ok, r.detail) == (False, icmp.NO_ICMP)
    pinger.error = icmplib.ICMPSocketError("Network is unreachable")
    r = await run("icmp", {"host": "127.0.0.1"})
    assert (r.ok, r.detail) == (False, "ping failed: Network is unreachable")


async def test_nothing_sent(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    async def unsendable(address: str, **_k: Any) -> Any:
        return icmplib.Host(address, 0, [])

    monkeypatch.setattr(icmp, "ping", unsendable)
    r = await run("icmp", {"host": "127.0.0.1"})
    assert (r.ok, r.detail) == (False, "no echo request could be sent to 127.0.0.1")


async def test_a_hung_ping_is_cut_by_the_timeout(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    async def hang(_address: str, **_k: Any) -> Any:
        await asyncio.Event().wait()

    monkeypatch.setattr(icmp, "ping", hang)
    r = await run("icmp", {"host": "127.0.0.1"}, timeout=0.2)
    assert (r.ok, r.detail) == (False, "ping timeout after 200 ms")


def test_reply_wait() -> None:
    assert icmp.reply_wait(3, 0.2, 5.0) == pytest.approx((4.5 - 0.4) / 3)
    assert icmp.reply_wait(20, 1.0, 1.0) == 0.05  # never below the floor
