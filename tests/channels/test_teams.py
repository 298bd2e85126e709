"""Teams channel against the local Teams double: Adaptive Cards to a workflow webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from detector import channels as channel_kinds
from detector.channels.base import Envelope
from detector.channels.slack import OPERATOR_EVENTS
from detector.channels.teams import Teams, TeamsChannel
from detector.domain import Event
from detector.incidents import payload as payloads
from tests.channels.test_slack import EVIDENCE, INCIDENT, T0, events_of, send_rows, story
from tests.clock import FakeClock
from tests.delivery.stack import build_config
from tests.doubles.teams_double import (
    CARD,
    DEFAULT_SIG,
    TeamsDouble,
    message_problems,
    start_teams_double,
)


@pytest.fixture
async def double() -> AsyncIterator[TeamsDouble]:
    d = await start_teams_double()
    yield d
    await d.stop()


def teams(double: TeamsDouble, url: str | None = None, **kw: Any) -> Teams:
    cfg = TeamsChannel.model_validate(
        {"type": "teams", "url": url or double.hook_url(), "api_base": double.url}
    )
    return Teams(cfg, "teams-0", timeout=kw.get("timeout", 2.0), clock=FakeClock())


def pending() -> Envelope:
    return Envelope(
        id="detector.1.cd34/teams-0/0",
        notice_id="detector.1.cd34",
        event="incident.pending",
        message=payloads.blank_message("incident.pending"),
        payload={
            "event": "incident.pending",
            "notice_id": "detector.1.cd34",
            "service": "Acme Cloud",
            "published_at": payloads.iso(T0),
            "incident": payloads.incident_json(INCIDENT),
            "publish_at": payloads.iso(INCIDENT.held_until),
            "evidence": EVIDENCE,
            "status_page_url": "https://status.acme.example/",
        },
    )


async def test_a_held_notice_as_an_adaptive_card_teams_accepts(double: TeamsDouble) -> None:
    ch = teams(double)
    try:
        d = await ch.send(pending())
    finally:
        await ch.close()
    assert d.ok and d.detail == "accepted by Teams: HTTP 202", (d, double.refused)
    [post] = double.posts
    assert post.body["type"] == "message"
    [card] = post.cards
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    title, text, facts, origin = card["body"]
    assert title["text"] == "Acme Cloud: outage confirmed on Public API; first customer notice held"
    assert title["color"] == "Attention"  # a major outage
    assert "/api/v1/admin/incidents/api-1a2b3c4d/publish" in text["text"]
    assert {"title": "Severity", "value": "major outage"} in facts["facts"]
    assert {"title": "Held until", "value": payloads.iso(INCIDENT.held_until)} in facts["facts"]
    assert origin["text"] == "incident.pending · notice detector.1.cd34"
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Status page", "url": "https://status.acme.example/"}
    ]


async def test_the_operators_story_reaches_teams(tmp_path: Path, double: TeamsDouble) -> None:
    config = build_config(
        tmp_path, [{"type": "teams", "url": double.hook_url(), "api_base": double.url}], []
    )
    channels = channel_kinds.build(config)
    try:
        rows = story(config, channels)
        sent = await send_rows(channels, rows)
    finally:
        for ch in channels:
            await ch.close()
    assert events_of(rows, "teams-0") == [
        "detector.degraded",
        "incident.pending",
        "detector.degraded",
    ]
    assert all(d.ok for d in sent["teams-0"])
    colors = [p.cards[0]["body"][0]["color"] for p in double.posts]
    assert colors == ["Attention", "Attention", "Good"]


async def test_api_base_keeps_the_workflows_path_and_signature(double: TeamsDouble) -> None:
    unsigned = teams(double, double.hook_url().replace(DEFAULT_SIG, "sig=forged0123456789"))
    try:
        d = await unsigned.send(pending())
    finally:
        await unsigned.close()
    assert not d.ok and d.permanent and d.detail.startswith("Teams HTTP 401")
    assert "forged0123456789" not in d.detail


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(429, False), (502, False), (408, False), (400, True), (404, True)],
)
async def test_teams_refusals(double: TeamsDouble, status: int, permanent: bool) -> None:
    double.fail_next(1, status, retry_after=3 if status == 429 else None)
    ch = teams(double)
    try:
        d = await ch.send(pending())
        again = await ch.send(pending())
    finally:
        await ch.close()
    assert not d.ok and d.permanent is permanent
    assert d.detail.startswith(f"Teams HTTP {status}: ")
    assert d.retry_after == (3.0 if status == 429 else None)
    assert again.ok


async def test_no_answer_is_retried(double: TeamsDouble) -> None:
    double.hang_next(1)
    ch = teams(double, timeout=0.3)
    try:
        d = await ch.send(pending())
    finally:
        await ch.close()
    assert not d.ok and not d.permanent and d.detail == "Teams did not answer within 0.3s"


def test_the_double_refuses_what_teams_refuses() -> None:
    def message(card: dict[str, Any]) -> dict[str, Any]:
        return {"type": "message", "attachments": [{"contentType": CARD, "content": card}]}

    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [{"type": "TextBlock", "text": "x"}],
    }
    good = message(card)
    assert message_problems(good) == []
    assert message_problems({"@type": "MessageCard", "text": "x"}) == []
    assert message_problems({"@type": "MessageCard"}) == ["Summary or Text is required."]
    assert message_problems({"text": "x"}) == ["type must be message (or @type MessageCard)"]
    bad_card = {**card, "version": "9.9", "body": [{"type": "TextBlock"}, {"type": "Marquee"}]}
    assert message_problems(message(bad_card)) == [
        "attachments[0].content.version: '9.9' is not one Teams renders",
        "attachments[0].content.body[0]: a TextBlock needs text",
        "attachments[0].content.body[1]: unknown element type 'Marquee'",
    ]


def test_by_default_only_operators_events() -> None:
    cfg = TeamsChannel.model_validate({"type": "teams", "url": "https://x.example/hook"})
    assert {e for e in Event if Teams(cfg, "teams-0").wants(e)} == set(OPERATOR_EVENTS)


def test_a_bad_url_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a Teams incoming webhook URL"):
        TeamsChannel.model_validate({"type": "teams", "url": "teams webhook"})
