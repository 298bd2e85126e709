"""`detector migrate -c FILE`: brings the configured store to the newest schema revision and
says from where to where (exit 0); run again, says it is already there. A file from before
Alembic says which hand version it was. A store it cannot reach is one line naming it, with
no password and no traceback (exit 1); an invalid config exits 2, a missing one 1."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from detector.store import Store
from detector.store.migrations import head
from tests.cli.conftest import Cli
from tests.e2e.harness import free_port
from tests.store.backends import (
    admin_url,
    storage_url,  # noqa: F401 (the fixture)
)
from tests.store.test_migrations import old_file


def config(tmp: Path, url: str) -> Path:
    raw = {
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
    path = tmp / "detector.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def test_migrate_brings_a_store_to_the_newest_revision(
    cli: Cli,
    tmp_path: Path,
    storage_url: str,  # noqa: F811
) -> None:
    path = config(tmp_path, storage_url)
    code, out, err = await cli("migrate", "-c", str(path))
    assert (code, err) == (0, "")
    assert out == f"store {shown(storage_url)}: from empty to revision {head()}\n"
    code, out, _ = await cli("migrate", "-c", str(path))
    assert (code, out) == (0, f"store {shown(storage_url)}: already at revision {head()}\n")
    store = Store(storage_url)  # what it made is what the daemon opens
    try:
        assert (await store.open()).before == head()
    finally:
        await store.close()


async def test_migrate_upgrades_a_file_from_before_alembic(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "detector.db"
    old_file(db, 1)
    code, out, err = await cli("migrate", "-c", str(config(tmp_path, f"sqlite:///{db}")))
    assert (code, err) == (0, "")
    assert out.endswith(f": from schema version 1 (before Alembic) to revision {head()}\n")
    store = Store(f"sqlite:///{db}")
    try:
        await store.open()
        assert [i.id for i in await store.open_incidents()] == ["api-1"]  # rows kept
    finally:
        await store.close()


async def test_an_unreachable_store_is_one_line_exit_1(cli: Cli, tmp_path: Path) -> None:
    url = make_url(admin_url()).set(host="127.0.0.1", port=free_port())
    full = url.render_as_string(hide_password=False)
    code, out, err = await cli("migrate", "-c", str(config(tmp_path, full)))
    assert code == 1 and out == ""
    [line] = err.splitlines()
    assert line.startswith(f"detector: cannot migrate the store {shown(full)}: ")
    assert "Connect call failed" in line
    assert url.password is None or url.password not in err


async def test_a_folder_that_is_not_there_is_one_line_exit_1(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nowhere' / 'detector.db'}"
    code, out, err = await cli("migrate", "-c", str(config(tmp_path, url)))
    assert (code, out) == (1, "")
    assert err == f"detector: cannot migrate the store {url}: no folder {tmp_path / 'nowhere'}\n"


async def test_a_bad_config_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    code, _, err = await cli("migrate", "-c", str(tmp_path / "missing.yaml"))
    assert code == 1 and "no such file" in err and len(err.splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("storage: {url: 42}\n")
    code, _, err = await cli("migrate", "-c", str(bad))
    assert code == 2 and err and "Traceback" not in err
