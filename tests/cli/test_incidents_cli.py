"""`detector incidents ...` and `detector postmortem ID`: on the store with -c, and on a running
app with --url. The CLI runs in a worker thread (it owns its event loop) while the app keeps
serving on the test's loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from detector.cli import incidents
from tests.cli.conftest import Cli, Live, write_config
from tests.e2e.harness import free_port
from tests.web.conftest import TOKEN, UP, MakeWorld


async def test_read_the_store_with_a_config(
    make_world: MakeWorld,
    cli: Cli,
    tmp_path: Path,
) -> None:
    w = await make_world()
    inc = await w.outage("web")
    cfg = str(write_config(w, tmp_path))

    code, out, _ = await cli("incidents", "list", "-c", cfg)
    assert code == 0
    assert inc.id in out and "investigating" in out and "major_outage" in out
    code, out, _ = await cli("incidents", "list", "-c", cfg, "--json")
    assert code == 0 and json.loads(out)["incidents"][0]["id"] == inc.id

    code, out, _ = await cli("incidents", "show", inc.id, "-c", cfg)
    assert code == 0
    assert f"{inc.id}: Dashboard" in out and "#1" in out and "next update by" in out
    code, out, _ = await cli("incidents", "show", inc.id, "-c", cfg, "--json")
    assert code == 0 and json.loads(out)["updates"][0]["kind"] == "opened"

    code, out, _ = await cli("postmortem", inc.id, "-c", cfg)
    assert code == 0 and out.startswith("# Post-mortem: Dashboard")

    code, _, err = await cli("incidents", "show", "nope", "-c", cfg)
    assert code == 1 and "no incident 'nope'" in err
    code, _, err = await cli("postmortem", "nope", "-c", cfg)
    assert code == 1 and "no incident 'nope'" in err


async def test_writes_need_the_daemon(make_world: MakeWorld, cli: Cli, tmp_path: Path) -> None:
    w = await make_world()
    inc = await w.outage("web")
    cfg = str(write_config(w, tmp_path))
    code, _, err = await cli("incidents", "update", inc.id, "-c", cfg, "-m", "hello")
    assert code == 2 and "--url" in err
    code, _, err = await cli("incidents", "resolve", inc.id, "-c", cfg)
    assert code == 2 and "--url" in err
    assert len((await w.store.notices([inc.id]))[inc.id]) == 1  # nothing was published


async def test_usage_errors_exit_2(make_world: MakeWorld, cli: Cli, tmp_path: Path) -> None:
    w = await make_world()
    cfg = str(write_config(w, tmp_path))
    code, _, err = await cli("incidents", "list")
    assert code == 2 and "-c FILE" in err and "--url URL" in err
    code, _, _ = await cli("incidents", "list", "-c", cfg, "--url", w.url)
    assert code == 2
    code, _, err = await cli("incidents", "list", "--url", "ftp://x")
    assert code == 2 and "--url" in err
    code, _, err = await cli("incidents", "list", "-c", cfg, "--limit", "0")
    assert code == 2 and "--limit" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("service: {name: x}\n")
    code, _, err = await cli("incidents", "list", "-c", str(bad))
    assert code == 2 and "service.contact: required key is missing" in err
    code, _, err = await cli("incidents", "update", "x", "--url", w.url, "-m", "m")
    assert code == 2 and "DETECTOR_ADMIN_TOKEN" in err  # no token anywhere


async def test_missing_store_exit_1(make_world: MakeWorld, cli: Cli, tmp_path: Path) -> None:
    w = await make_world()
    cfg = write_config(w, tmp_path)
    raw = yaml.safe_load(cfg.read_text())
    raw["storage"]["url"] = f"sqlite:///{tmp_path / 'never.db'}"
    cfg.write_text(yaml.safe_dump(raw))
    code, _, err = await cli("incidents", "list", "-c", str(cfg))
    assert code == 1 and "no store at" in err
    assert not (tmp_path / "never.db").exists()  # reading never creates one


async def test_on_a_running_daemon(
    make_world: MakeWorld,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = await make_world()
    inc = await w.outage("web")
    code, out, _ = await cli("incidents", "list", "--url", w.url)
    assert code == 0 and inc.id in out
    code, out, _ = await cli("incidents", "show", inc.id, "--url", w.url)
    assert code == 0 and "Dashboard" in out

    code, _, err = await cli(
        "incidents", "update", inc.id, "--url", w.url, "--token", "wrong", "-m", "We found it."
    )
    assert code == 1 and "HTTP 401" in err
    monkeypatch.setenv("DETECTOR_ADMIN_TOKEN", TOKEN)
    code, out, _ = await cli(
        "incidents",
        "update",
        inc.id,
        "--url",
        w.url,
        "-m",
        "We found it.",
        "--status",
        "identified",
    )
    assert code == 0 and "published notice 2" in out
    notices = (await w.store.notices([inc.id]))[inc.id]
    assert notices[-1].kind == "human" and notices[-1].facts["message"] == "We found it."
    stored = await w.store.incident(inc.id)
    assert stored is not None and stored.status == "identified"

    code, _, err = await cli("incidents", "update", "nope", "--url", w.url, "-m", "x")
    assert code == 1 and "HTTP 404" in err

    code, _, err = await cli("postmortem", inc.id, "--url", w.url, "--token", "wrong")
    assert code == 1 and "HTTP 404" in err  # a draft is not public
    code, out, _ = await cli("postmortem", inc.id, "--url", w.url)  # token from env
    assert code == 0 and out.startswith("# Post-mortem: Dashboard")

    await w.feed("web", UP, 2)
    code, out, _ = await cli("incidents", "resolve", inc.id, "--url", w.url, "-m", "Fixed.")
    assert code == 0 and "published notice 4" in out
    code, _, err = await cli("incidents", "resolve", inc.id, "--url", w.url)
    assert code == 1 and "HTTP 409" in err and "already resolved" in err


async def test_unreachable_daemon_exit_1(cli: Cli) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = await cli("incidents", "list", "--url", url)
    assert code == 1 and "cannot reach the daemon" in err


async def test_cli_text_loses_control_characters(
    make_world: MakeWorld,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = await make_world()
    inc = await w.outage("web")
    monkeypatch.setenv("DETECTOR_ADMIN_TOKEN", TOKEN)

    code, _, err = await cli("incidents", "update", inc.id, "--url", w.url, "-m", "\x00\x07\r\n")
    assert code == 2 and "--message: must not be empty" in err
    code, _, err = await cli("incidents", "update", inc.id, "--url", w.url, "-m", "m" * 5001)
    assert code == 2 and "--message: must be at most 5000 characters" in err
    assert len((await w.store.notices([inc.id]))[inc.id]) == 1  # nothing was published

    code, out, _ = await cli(
        "incidents",
        "update",
        inc.id,
        "--url",
        w.url,
        "-m",
        "We found\x00 it.\x1b[2J\r\nA full disk.\x9b",
    )
    assert code == 0 and "published notice 2" in out
    notices = (await w.store.notices([inc.id]))[inc.id]
    assert notices[-1].facts["message"] == "We found it.[2J\nA full disk."

    await w.feed("web", UP, 2)
    code, out, _ = await cli("incidents", "resolve", inc.id, "--url", w.url, "-m", "Fixed\x00.\x08")
    assert code == 0
    notices = (await w.store.notices([inc.id]))[inc.id]
    assert notices[-1].facts["message"] == "Fixed."


def test_printed_incidents_never_carry_terminal_controls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    inc = {
        "id": "web-1\x1b]0;pwned\x07",
        "title": "Bad\x1b[2J title\r\nsecond line",
        "status": "investigating",
        "severity": "major_outage",
        "components": ["web"],
        "started_at": "2027-01-15T08:00:00.000Z",
        "detected_at": "2027-01-15T08:00:02.000Z",
        "cause": "Disk\x00 full\x9b",
        "updates": [
            {
                "sequence": 1,
                "published_at": "2027-01-15T08:00:02.000Z",
                "event": "incident.opened",
                "kind": "opened",
                "subject": "Down\x1b[31m",
            }
        ],
    }
    incidents.print_incident(inc)
    incidents.print_list([inc])
    out = capsys.readouterr().out
    for bad in ("\x1b", "\x07", "\x00", "\x9b", "\r"):
        assert bad not in out, repr(bad)
    assert "web-1]0;pwned: Bad[2J title second line" in out
    assert "Disk full" in out and "Down[31m" in out


def test_the_list_shows_the_worst_severity_told_and_the_current_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Facts from one place: the worst severity customers were told of (as the post-mortem
    says it), and while open the current one beside it."""
    told = [{"severity": s} for s in ("partial_outage", "major_outage", "degraded")]
    inc = {
        "id": "api-1",
        "title": "Public API",
        "status": "investigating",
        "severity": "degraded",
        "started_at": "2027-01-15T08:00:00.000Z",
        "updates": told,
    }
    assert incidents.severity_shown(inc) == "major_outage (now degraded)"
    assert incidents.severity_shown({**inc, "resolved_at": "2027-01-15T09:00:00.000Z"}) == (
        "major_outage"
    )
    assert incidents.severity_shown({**inc, "severity": "major_outage"}) == "major_outage"
    incidents.print_list([inc])
    assert "major_outage (now degraded)" in capsys.readouterr().out


def one_line(err: str) -> bool:
    """An error the way the contract wants it: one line, no traceback."""
    return err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


async def test_open_then_cause_reach_every_channel(
    live: Live, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = live.world
    monkeypatch.setenv("DETECTOR_ADMIN_TOKEN", TOKEN)
    code, out, err = await cli(
        "incidents",
        "open",
        "--url",
        w.url,
        "--title",
        "Invoices are late",
        "--component",
        "api",
        "--component",
        "web",
        "--severity",
        "partial_outage",
        "-m",
        "Invoices for November are delayed.",
    )
    assert code == 0, err
    iid, _, said = out.strip().partition(": ")
    assert said.startswith("opened; published notice 1 ([Acme Cloud] ")
    inc = await w.store.incident(iid)
    assert inc is not None and inc.manual
    assert inc.component_ids == ["api", "web"] and inc.severity == "partial_outage"
    opened = await live.delivered("opened", texts=1)
    assert opened["event"] == "incident.opened"
    assert opened["incident"]["components"] == ["api", "web"]
    assert "Invoices for November are delayed." in opened["notice"]["text"]

    code, out, err = await cli(
        "incidents",
        "cause",
        iid,
        "--url",
        w.url,
        "-m",
        "A stuck queue held invoices back.",
        "--actions",
        "Alert when the queue stops moving.",
    )
    assert code == 0, err
    assert out.startswith(f"{iid}: published notice 2 ([Acme Cloud] Cause found: ")
    identified = await live.delivered("identified", texts=2)
    assert identified["event"] == "incident.updated"
    assert identified["incident"]["status"] == "identified"
    assert "What went wrong: A stuck queue held invoices back." in identified["notice"]["text"]
    mail = next(
        r.body
        for r in live.sendgrid.requests
        if r.body["custom_args"]["notice_id"] == identified["notice_id"]
    )
    text = next(c["value"] for c in mail["content"] if c["type"] == "text/plain")
    assert "A stuck queue held invoices back." in text
    assert "found the cause" in live.twilio.requests[-1].body
    assert live.receiver.bad_signatures == 0
    stored = await w.store.incident(iid)
    assert stored is not None and stored.status == "identified"
    assert (stored.cause, stored.actions) == (
        "A stuck queue held invoices back.",
        "Alert when the queue stops moving.",
    )

    code, out, _ = await cli("incidents", "show", iid, "--url", w.url)
    assert code == 0 and "identified" in out and "A stuck queue held invoices back." in out


async def test_cause_on_an_automatic_incident_and_after_resolution(
    make_world: MakeWorld, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await make_world()
    inc = await w.outage("web")
    monkeypatch.setenv("DETECTOR_ADMIN_TOKEN", TOKEN)
    code, out, _ = await cli("incidents", "cause", inc.id, "--url", w.url, "-m", "A full disk.")
    assert code == 0 and "published notice 2" in out
    notices = (await w.store.notices([inc.id]))[inc.id]
    assert notices[-1].kind == "identified" and notices[-1].facts["cause"] == "A full disk."

    await w.feed("web", UP, 2)
    code, out, _ = await cli("incidents", "resolve", inc.id, "--url", w.url)
    assert code == 0
    code, out, _ = await cli(
        "incidents",
        "cause",
        inc.id,
        "--url",
        w.url,
        "-m",
        "A full disk, filled by logs.",
        "--actions",
        "Rotate logs.",
    )
    assert (
        code == 0 and out == f"{inc.id}: recorded; no notice published (the incident is resolved)\n"
    )  # kept for the report, not sent
    stored = await w.store.incident(inc.id)
    assert stored is not None and stored.cause == "A full disk, filled by logs."


async def test_open_and_cause_refusals_are_one_line(
    make_world: MakeWorld,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = await make_world()
    cfg = str(write_config(w, tmp_path))
    monkeypatch.setenv("DETECTOR_ADMIN_TOKEN", TOKEN)
    opening = ("incidents", "open", "--url", w.url, "--severity", "degraded")

    code, _, err = await cli(*opening, "--title", "x", "--component", "api", "--component", "nope")
    assert code == 2 and one_line(err)
    assert "--component: unknown component 'nope' (known: api, web)" in err
    code, _, err = await cli(*opening, "--title", "x", "--component", "api", "--component", "api")
    assert code == 2 and one_line(err) and "--component: 'api' is named twice" in err
    code, _, err = await cli(*opening, "--title", " \x00\t ", "--component", "api")
    assert code == 2 and one_line(err) and "--title: must not be empty" in err
    code, _, err = await cli(*opening, "--title", "t" * 201, "--component", "api")
    assert code == 2 and one_line(err) and "--title: must be at most 200 characters" in err
    code, _, err = await cli(*opening, "--title", "x", "--component", " ")
    assert code == 2 and one_line(err) and "--component: must not be empty" in err
    code, _, err = await cli(
        "incidents",
        "open",
        "-c",
        cfg,
        "--title",
        "x",
        "--component",
        "api",
        "--severity",
        "degraded",
    )
    assert code == 2 and one_line(err) and "--url" in err
    assert await w.store.incidents() == []  # nothing was opened

    code, _, err = await cli("incidents", "cause", "nope", "--url", w.url, "-m", "x")
    assert code == 1 and one_line(err) and "HTTP 404: no incident 'nope'" in err
    code, _, err = await cli("incidents", "cause", "nope", "--url", w.url, "-m", "\x1b\x07")
    assert code == 2 and one_line(err) and "--message: must not be empty" in err
    code, _, err = await cli("incidents", "cause", "nope", "-c", cfg, "-m", "x")
    assert code == 2 and one_line(err) and "'cause' needs the running daemon" in err
    monkeypatch.delenv("DETECTOR_ADMIN_TOKEN")
    code, _, err = await cli("incidents", "cause", "nope", "--url", w.url, "-m", "x")
    assert code == 2 and one_line(err) and "DETECTOR_ADMIN_TOKEN" in err
