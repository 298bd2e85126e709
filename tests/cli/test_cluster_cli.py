"""`detector cluster -c FILE [--json]`: the members of a shared PostgreSQL store, live or dead
by the configured lease, and the leader with its epoch (exit 0); no live leader exits 1, so a
script can check. A SQLite store is one line, exit 0, and is never opened (nor created). An
unreachable store is one line without the password (exit 1); an invalid config exits 2."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url

from detector.store import Store
from tests.cli.conftest import Cli
from tests.e2e.harness import free_port
from tests.store.backends import admin_url, postgres_database


def config(tmp: Path, url: str, cluster: dict[str, Any] | None = None) -> Path:
    raw: dict[str, Any] = {
        "service": {"name": "Acme", "contact": {"name": "Jane Doe", "email": "ops@acme.example"}},
        "storage": {"url": url},
        "components": [
            {
                "id": "api",
                "name": "API",
                "impact": "You cannot reach the API.",
                "probes": [{"name": "api", "tcp": {"host": "127.0.0.1", "port": 1}}],
            }
        ],
    }
    if cluster is not None:
        raw["cluster"] = cluster
    path = tmp / "detector.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
async def pg() -> AsyncIterator[tuple[str, Store]]:
    """A fresh PostgreSQL database, migrated, and a store on it to write members with."""
    async with postgres_database() as url:
        store = Store(url)
        await store.open()
        try:
            yield url, store
        finally:
            await store.close()


async def join(
    store: Store, member: str, vantage: str, *, blind: bool = False, probes: int = 1
) -> None:
    await store.heartbeat(
        member=member,
        vantage=vantage,
        host=f"host-{member}",
        pid=100 + len(member),
        listen=f"10.0.0.{len(member)}:9478",
        started_at=1.0,
        blind=blind,
        probes_owned=probes,
    )


async def age(store: Store, member: str, seconds: float) -> None:
    """Make a member's last heartbeat `seconds` older (the database's clock has no knob)."""
    async with store.engine.begin() as conn:
        await conn.execute(
            text("UPDATE cluster_members SET heartbeat_at = heartbeat_at - :s WHERE member = :m"),
            {"s": seconds, "m": member},
        )


async def expire_lease(store: Store, seconds: float) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE cluster_lease SET expires_at = "
                "extract(epoch from clock_timestamp()) - :s WHERE id = 1"
            ),
            {"s": seconds},
        )


async def a_cluster(store: Store) -> int:
    """Two vantages: eu-a leads, eu-b follows, us-c is blind, us-dead stopped a minute ago."""
    await join(store, "eu-a", "eu", probes=3)
    await join(store, "eu-b", "eu", probes=2)
    await join(store, "us-c", "us", blind=True)
    await join(store, "us-dead", "us", probes=0)
    await age(store, "us-dead", 65)
    epoch = await store.take_lease("eu-a", 30)
    assert epoch is not None
    return epoch


async def test_a_table_of_members_and_the_leader(
    cli: Cli, tmp_path: Path, pg: tuple[str, Store]
) -> None:
    url, store = pg
    epoch = await a_cluster(store)
    code, out, err = await cli("cluster", "-c", str(config(tmp_path, url, {"lease": "10s"})))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == [
        "MEMBER",
        "VANTAGE",
        "HOST",
        "PID",
        "ADDRESS",
        "HEARTBEAT",
        "STATE",
        "PROBES",
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:5]}
    assert rows["eu-a"][:5] == ["eu-a", "eu", "host-eu-a", "104", "10.0.0.4:9478"]
    # ages and the lease are read a moment after they were written: a few seconds of slack
    assert re.fullmatch(r"[0-5]s", rows["eu-a"][5])
    assert rows["eu-a"][6:] == ["ago", "live", "3", "leader"]
    assert rows["eu-b"][7:] == ["live", "2"]
    assert rows["us-c"][7:] == ["live", "1", "blind"]
    assert re.fullmatch(r"6[5-9]s", rows["us-dead"][5])
    assert rows["us-dead"][6:] == ["ago", "dead", "0"]
    leads = rf"leader: eu-a \(eu, host-eu-a\) · epoch {epoch} · lease ends in (2[4-9]|30)\.\ds"
    assert re.fullmatch(leads, lines[5])
    assert lines[6] == "3 members live in 2 vantages, 1 dead"
    assert lines[7].startswith("blind: ")
    assert len(lines) == 8


async def test_the_same_as_json(cli: Cli, tmp_path: Path, pg: tuple[str, Store]) -> None:
    url, store = pg
    epoch = await a_cluster(store)
    code, out, err = await cli("cluster", "-c", str(config(tmp_path, url)), "--json")
    assert (code, err) == (0, "")
    got = json.loads(out)
    assert got["leader"] == "eu-a" and got["lease"]["holder"] == "eu-a"
    assert got["lease"]["epoch"] == epoch and 24 < got["lease"]["remaining"] <= 30
    assert got["lease_seconds"] == 10.0  # no `cluster` section: the default lease
    assert (got["live"], got["vantages"]) == (3, ["eu", "us"])
    by = {m["member"]: m for m in got["members"]}
    assert [by[m]["live"] for m in ("eu-a", "eu-b", "us-c", "us-dead")] == [
        True,
        True,
        True,
        False,
    ]
    assert [m for m in by if by[m]["leader"]] == ["eu-a"]
    assert by["us-c"]["blind"] and by["eu-a"]["probes_owned"] == 3
    assert 65 <= by["us-dead"]["age"] < 70


async def test_live_is_judged_by_the_configured_lease(
    cli: Cli, tmp_path: Path, pg: tuple[str, Store]
) -> None:
    url, store = pg
    await a_cluster(store)
    code, out, _ = await cli("cluster", "-c", str(config(tmp_path, url, {"lease": "2m"})))
    assert code == 0 and "4 members live in 2 vantages\n" in out


async def test_no_live_leader_exits_1(cli: Cli, tmp_path: Path, pg: tuple[str, Store]) -> None:
    url, store = pg
    await a_cluster(store)
    await expire_lease(store, 40)
    path = str(config(tmp_path, url, {"lease": "10s"}))
    code, out, err = await cli("cluster", "-c", path)
    assert (code, err) == (1, "")
    assert "leader" not in out.splitlines()[1]  # no row is marked
    assert re.search(
        r"\nleader: none \(the lease of eu-a ran out 4[0-5]s ago; "
        r"a live instance takes it within its next heartbeat\)\n",
        out,
    )
    code, out, _ = await cli("cluster", "-c", path, "--json")
    got = json.loads(out)
    assert code == 1 and got["leader"] is None and got["lease"]["holder"] == "eu-a"
    assert -46 < got["lease"]["remaining"] <= -40
    assert not any(m["leader"] for m in got["members"])


async def test_a_lease_handed_back_and_one_never_taken(
    cli: Cli, tmp_path: Path, pg: tuple[str, Store]
) -> None:
    url, store = pg
    path = str(config(tmp_path, url, {"lease": "10s"}))
    await join(store, "eu-a", "eu")
    code, out, _ = await cli("cluster", "-c", path)
    assert code == 1
    assert "leader: none (no instance has taken the lease yet; a live instance" in out
    await store.take_lease("eu-a", 30)
    await store.leave("eu-a")  # a clean stop
    code, out, _ = await cli("cluster", "-c", path)
    assert code == 1
    assert out.splitlines() == [
        "no members: none has joined this store, or all have left "
        "(an instance joins when its configuration has a `cluster` section)",
        "leader: none (the last leader handed the lease back; no live instance to take it)",
        "0 members live in 0 vantages",
    ]


async def test_a_store_without_cluster_says_its_instance_does_not_join(
    cli: Cli, tmp_path: Path
) -> None:
    async with postgres_database() as url:
        code, out, err = await cli("cluster", "-c", str(config(tmp_path, url)))
        # read only: an empty (or older) store is left as it is, and says what to run
        assert code == 1 and "run `detector migrate -c FILE`" in err
        assert out == ""
        store = Store(url)
        await store.open()
        await store.close()
        code, out, err = await cli("cluster", "-c", str(config(tmp_path, url)))
    assert (code, err) == (1, "")
    assert out.splitlines()[-1].startswith("note: this configuration has no `cluster` section")


async def test_sqlite_is_one_instance_one_line_and_left_alone(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "detector.db"
    path = str(config(tmp_path, f"sqlite:///{db}"))
    code, out, err = await cli("cluster", "-c", path)
    assert (code, err) == (0, "")
    assert out == (
        "detector: the store is SQLite: one instance, nothing to list "
        "(several instances share a PostgreSQL store)\n"
    )
    code, out, _ = await cli("cluster", "-c", path, "--json")
    assert code == 0 and json.loads(out)["backend"] == "sqlite"
    assert not db.exists()


async def test_an_unreachable_store_is_one_line_exit_1(cli: Cli, tmp_path: Path) -> None:
    url = make_url(admin_url()).set(host="127.0.0.1", port=free_port())
    full = url.render_as_string(hide_password=False)
    code, out, err = await cli("cluster", "-c", str(config(tmp_path, full, {"lease": "10s"})))
    assert code == 1 and out == ""
    [line] = err.splitlines()
    assert line.startswith("detector: cannot read the store postgresql://")
    assert "Connect call failed" in line
    assert url.password is None or url.password not in err


async def test_a_bad_config_exits_2_a_missing_one_1(cli: Cli, tmp_path: Path) -> None:
    code, out, err = await cli("cluster", "-c", str(tmp_path / "missing.yaml"))
    assert (code, out) == (1, "") and "no such file" in err and len(err.splitlines()) == 1
    # several instances on SQLite: the config says what to change
    path = config(tmp_path, f"sqlite:///{tmp_path / 'detector.db'}", {"lease": "10s"})
    code, out, err = await cli("cluster", "-c", str(path))
    assert (code, out) == (2, "") and "PostgreSQL" in err and "Traceback" not in err
    path.write_text("storage: {url: 42}\n")
    code, out, err = await cli("cluster", "-c", str(path))
    assert (code, out) == (2, "") and err and "Traceback" not in err
