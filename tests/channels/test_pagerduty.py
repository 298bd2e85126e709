"""PagerDuty channel against the local Events API v2 double: alerts that open and close."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from detector import channels as channel_kinds
from detector.channels.base import Envelope
from detector.channels.pagerduty import PagerDuty, PagerdutyChannel
from detector.channels.slack import OPERATOR_EVENTS
from detector.domain import Event
from detector.incidents import payload as payloads
from detector.notices.model import Message
from tests.channels.test_slack import EVIDENCE, T0, events_of, send_rows, story
from tests.clock import FakeClock
from tests.delivery.stack import build_config
from tests.doubles.pagerduty_double import (
    DEFAULT_ROUTING_KEY,
    PagerDutyDouble,
    problems,
    start_pagerduty_double,
)

DEGRADED_KEY = "outage-detector/Acme Cloud/detector.degraded"
INCIDENT_KEY = "outage-detector/incident/api-1a2b3c4d"


@pytest.fixture
async def double() -> AsyncIterator[PagerDutyDouble]:
    d = await start_pagerduty_double()
    yield d
    await d.stop()


def pagerduty(double: PagerDutyDouble, key: str = DEFAULT_ROUTING_KEY, **kw: Any) -> PagerDuty:
    cfg = PagerdutyChannel.model_validate(
        {"type": "pagerduty", "routing_key": key, "api_base": double.url}
    )
    return PagerDuty(cfg, "pagerduty-0", timeout=kw.get("timeout", 2.0), clock=FakeClock())


def degraded(down: bool) -> Envelope:
    return Envelope(
        id="detector.1.ab12/pagerduty-0/0",
        notice_id="detector.1.ab12",
        event="detector.degraded",
        message=payloads.blank_message("detector.degraded"),
        payload={
            "event": "detector.degraded",
            "notice_id": "detector.1.ab12",
            "service": "Acme Cloud",
            "published_at": payloads.iso(T0),
            "degraded": down,
            "evidence": EVIDENCE,
        },
    )


async def test_degraded_triggers_and_recovery_resolves_the_same_alert(
    double: PagerDutyDouble,
) -> None:
    ch = pagerduty(double)
    try:
        down = await ch.send(degraded(True))
        assert double.open_alerts == {DEGRADED_KEY: "triggered"}
        up = await ch.send(degraded(False))
    finally:
        await ch.close()
    assert down.ok and down.detail == f"PagerDuty accepted the trigger of {DEGRADED_KEY}"
    assert up.ok and up.detail == f"PagerDuty accepted the resolve of {DEGRADED_KEY}"
    trigger, resolve = double.events
    assert trigger.body["payload"]["severity"] == "error"
    assert trigger.body["payload"]["source"] == "Acme Cloud"
    assert trigger.body["payload"]["summary"] == (
        "Acme Cloud: the detector cannot trust its own network"
    )
    assert trigger.body["payload"]["timestamp"] == payloads.iso(T0)
    details = trigger.body["payload"]["custom_details"]
    assert details["event"] == "detector.degraded"
    assert details["upstream-dns"].startswith("timed out")
    assert resolve.body == {
        "routing_key": DEFAULT_ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": DEGRADED_KEY,
    }
    assert double.open_alerts == {}


async def test_the_operators_story_pages_and_stands_down(
    tmp_path: Path, double: PagerDutyDouble
) -> None:
    config = build_config(
        tmp_path,
        [{"type": "pagerduty", "routing_key": DEFAULT_ROUTING_KEY, "api_base": double.url}],
        [],
    )
    channels = channel_kinds.build(config)
    try:
        rows = story(config, channels)
        sent = await send_rows(channels, rows)
    finally:
        for ch in channels:
            await ch.close()
    assert events_of(rows, "pagerduty-0") == [
        "detector.degraded",
        "incident.pending",
        "detector.degraded",
    ]
    assert all(d.ok for d in sent["pagerduty-0"]) and double.refused == []
    # the held notice stays an open alert until a person resolves it: the channel was not
    # asked to hear incident.resolved
    assert double.open_alerts == {INCIDENT_KEY: "triggered"}
    pending = double.events[1].body
    assert pending["payload"]["severity"] == "critical"  # a major outage
    assert pending["payload"]["component"] == "api"
    assert pending["payload"]["class"] == "incident.pending"


async def test_with_incident_events_the_incident_closes_its_alert(
    tmp_path: Path, double: PagerDutyDouble
) -> None:
    config = build_config(
        tmp_path,
        [
            {
                "type": "pagerduty",
                "routing_key": DEFAULT_ROUTING_KEY,
                "api_base": double.url,
                "events": ["incident.pending", "incident.resolved", "detector.degraded"],
            }
        ],
        [],
    )
    channels = channel_kinds.build(config)
    try:
        sent = await send_rows(channels, story(config, channels))
    finally:
        for ch in channels:
            await ch.close()
    assert all(d.ok for d in sent["pagerduty-0"])
    assert [(e.action, e.dedup_key) for e in double.events] == [
        ("trigger", DEGRADED_KEY),
        ("trigger", INCIDENT_KEY),
        ("resolve", INCIDENT_KEY),
        ("resolve", DEGRADED_KEY),
    ]
    assert double.open_alerts == {}


async def test_a_long_summary_is_cut_to_pagerdutys_limit(double: PagerDutyDouble) -> None:
    cfg = PagerdutyChannel.model_validate(
        {
            "type": "pagerduty",
            "routing_key": DEFAULT_ROUTING_KEY,
            "api_base": double.url,
            "events": ["incident.opened"],
        }
    )
    ch = PagerDuty(cfg, "pagerduty-0")
    opened = Envelope(
        "r",
        "api-1.1",
        "incident.opened",
        Message("en", "Down " * 400, "text", "", ""),
        {"incident": {"id": "api-1", "severity": "partial_outage", "components": ["api"]}},
    )
    try:
        d = await ch.send(opened)
    finally:
        await ch.close()
    assert d.ok, double.refused
    payload = double.events[0].body["payload"]
    assert len(payload["summary"]) == 1024 and payload["summary"].endswith("…")
    assert payload["severity"] == "error"


async def test_an_unknown_routing_key_is_permanent_and_never_shown(
    double: PagerDutyDouble,
) -> None:
    stranger = "S" * 32
    ch = pagerduty(double, stranger)
    try:
        d = await ch.send(degraded(True))
    finally:
        await ch.close()
    assert not d.ok and d.permanent
    assert d.detail.startswith("PagerDuty HTTP 400: Event object is invalid; ")
    assert stranger not in d.detail
    assert double.events == []


@pytest.mark.parametrize(("status", "permanent"), [(429, False), (500, False), (503, False)])
async def test_busy_or_down_is_retried(
    double: PagerDutyDouble, status: int, permanent: bool
) -> None:
    double.fail_next(1, status)
    ch = pagerduty(double)
    try:
        d = await ch.send(degraded(True))
        again = await ch.send(degraded(True))
    finally:
        await ch.close()
    assert not d.ok and d.permanent is permanent
    assert d.detail.startswith(f"PagerDuty HTTP {status}: ")
    assert again.ok and len(double.events) == 1


async def test_no_answer_is_retried(double: PagerDutyDouble) -> None:
    double.hang_next(1)
    ch = pagerduty(double, timeout=0.3)
    try:
        d = await ch.send(degraded(True))
    finally:
        await ch.close()
    assert not d.ok and not d.permanent and d.detail == "PagerDuty did not answer within 0.3s"


def test_the_double_refuses_what_pagerduty_refuses() -> None:
    known = {DEFAULT_ROUTING_KEY}
    trigger = {
        "routing_key": DEFAULT_ROUTING_KEY,
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "x", "severity": "error"},
    }
    assert problems(trigger, known) == []
    assert problems({**trigger, "payload": {"summary": "s"}}, known) == [
        "'payload.source' is missing or blank",
        "'payload.severity' is invalid (must be critical, error, warning or info)",
    ]
    assert problems({**trigger, "routing_key": "short"}, known) == [
        "Length of 'routing_key' is incorrect (should be 32 characters)"
    ]
    assert problems({**trigger, "event_action": "resolve"}, known) == [
        "'dedup_key' is required to resolve"
    ]
    assert problems({**trigger, "event_action": "page"}, known) == [
        "'event_action' is missing or invalid (must be trigger, acknowledge or resolve)"
    ]


def test_by_default_only_operators_events_and_never_maintenance() -> None:
    base = {"type": "pagerduty", "routing_key": DEFAULT_ROUTING_KEY}
    ch = PagerDuty(PagerdutyChannel.model_validate(base), "pagerduty-0")
    assert {e for e in Event if ch.wants(e)} == set(OPERATOR_EVENTS)
    with pytest.raises(ValidationError, match=r"'maintenance\.started' is not an alert"):
        PagerdutyChannel.model_validate({**base, "events": ["maintenance.started"]})
    with pytest.raises(ValidationError, match="32 characters"):
        PagerdutyChannel.model_validate({**base, "routing_key": "too-short"})
