"""Issue 8: every outbox row names its stream, sequence and promise, so the worker can keep
each recipient's notices in order. The same people get the same stream from one notice of an
incident to the next; internal notices belong to the detector, ordered by time."""

from __future__ import annotations

from pathlib import Path

from detector.channels.base import Channel
from detector.config.models import Subscriber
from detector.notices import fanout
from detector.notices.compose import compose
from detector.store import OutboxRow
from tests.delivery.stack import build_config
from tests.fakes import Accepting
from tests.notices.factory import facts

PEOPLE = [
    Subscriber(
        name=f"P{i}",
        email=f"p{i}@example.com",
        phone=f"+4822555{i:04d}",
        locale=locale,
        timezone="Asia/Kolkata" if i % 2 else None,
    )
    for i, locale in enumerate(["en", "fr", "en", "fr", "en", "en", "en"])
]
CHANNELS: list[Channel] = [
    Accepting("hook"),
    Accepting("mail", "sendgrid", max_batch=2),
    Accepting("sms", "twilio", max_batch=1),
]


def plan(tmp: Path, seq: int, next_update_at: float | None) -> list[OutboxRow]:
    config = build_config(tmp, [], [])
    f = facts("update", incident_id="api-7", sequence=seq, next_update_at=next_update_at)
    return fanout.plan(
        notice_id=f"api-7.{seq}",
        facts=f,
        payload={"status_page_url": None},
        default_message=compose(f, "en", "UTC"),
        component_ids=["api"],
        config=config,
        channels=CHANNELS,
        subscribers=PEOPLE,
        now=f.published_at,
    )


def people(r: OutboxRow) -> tuple[str, ...]:
    return tuple(p["name"] for p in r.recipients)


def test_rows_carry_stream_sequence_and_promise(tmp_path: Path) -> None:
    rows = plan(tmp_path, 3, 1_800_000_000.0)
    assert {r.sequence for r in rows} == {3}
    assert {r.stale_at for r in rows} == {1_800_000_000.0}
    [hook] = [r for r in rows if r.channel == "hook"]
    assert hook.stream == "api-7/hook/"
    mail = {r.stream: people(r) for r in rows if r.channel == "mail"}
    zone = "Europe/Warsaw"  # the service's, for those who gave none
    assert mail == {
        f"api-7/mail/en|{zone}|0": ("P0", "P2"),
        f"api-7/mail/en|{zone}|1": ("P4", "P6"),
        "api-7/mail/en|Asia/Kolkata|0": ("P5",),
        "api-7/mail/fr|Asia/Kolkata|0": ("P1", "P3"),
    }
    sms = [r.stream for r in rows if r.channel == "sms"]
    assert len(sms) == len(set(sms)) == len(PEOPLE)  # one stream per phone


def test_the_same_people_keep_their_stream_from_one_notice_to_the_next(tmp_path: Path) -> None:
    first = {r.stream: people(r) for r in plan(tmp_path, 1, 1_800_000_000.0)}
    last = {r.stream: people(r) for r in plan(tmp_path, 2, None)}
    assert first == last
    assert len(first) == len(plan(tmp_path, 1, None))  # and no two rows share one


def test_internal_notices_belong_to_the_detector_in_time_order() -> None:
    msg = compose(facts("opened"), "en", "UTC")
    a = fanout.row(
        "detector.1795000000123.ab12",
        CHANNELS[0],
        "detector.degraded",
        msg,
        {},
        [],
        0,
        1_795_000_000.123,
    )
    b = fanout.row(
        "detector.1795000004567.cd34",
        CHANNELS[0],
        "incident.pending",
        msg,
        {},
        [],
        0,
        1_795_000_004.567,
    )
    assert a.stream == b.stream == "detector/hook/"
    assert (a.sequence, b.sequence) == (1795000000123, 1795000004567)
    assert a.stale_at is None
    assert fanout.owner_and_sequence("maint-1a2b.2", 0.0) == ("maint-1a2b", 2)
