"""Slack channel against the local Slack double; and the story the three operators' channels
(slack, teams, pagerduty) share: from a config, through the fan-out, to their doubles.

`story()` and `send_rows()` are used by test_teams and test_pagerduty too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from detector import channels as channel_kinds
from detector.channels.base import Channel, Delivery, Envelope
from detector.channels.slack import OPERATOR_EVENTS, Slack, SlackChannel, describe
from detector.config.models import Config, Subscriber
from detector.domain import Event
from detector.incidents import payload as payloads
from detector.notices import fanout
from detector.notices.compose import compose
from detector.notices.model import Message
from detector.outbox import envelope as envelope_of
from detector.store import IncidentRow, OutboxRow
from tests.clock import FakeClock
from tests.delivery.stack import build_config
from tests.doubles.pagerduty_double import DEFAULT_ROUTING_KEY, start_pagerduty_double
from tests.doubles.sendgrid_double import start_sendgrid_double
from tests.doubles.slack_double import DEFAULT_HOOK, SlackDouble, block_problems, start_slack_double
from tests.doubles.teams_double import start_teams_double
from tests.notices.factory import facts

SLACK_URL = "https://hooks.slack.com" + DEFAULT_HOOK
T0 = 1_795_000_000.0
INCIDENT = IncidentRow(
    id="api-1a2b3c4d",
    component_ids=["api"],
    title="Public API",
    status="investigating",
    severity="major_outage",
    started_at=T0 - 120,
    detected_at=T0,
    held_until=T0 + 300,
)
CUSTOMERS = [Subscriber(name="Globex", email="ops@globex.example", phone="+33155550111")]
EVIDENCE = [
    {"probe": "upstream-dns", "at": payloads.iso(T0 - 10), "ok": False, "detail": "timed out"},
    {"probe": "api-health", "at": payloads.iso(T0 - 5), "ok": False, "detail": "HTTP 503 in 41ms"},
]


# --- the story: what the fan-out gives each channel for one outage -----------------------------


def story(config: Config, channels: list[Channel]) -> list[OutboxRow]:
    """The rows of five notices, in order: the detector doubts its network, an outage is
    confirmed with its first notice held, the notice goes out (opened), the incident is
    resolved, the detector's controls pass again."""
    rows: list[OutboxRow] = []

    def internal(event: str, at: float, **data: Any) -> None:
        notice_id = f"detector.{int(at * 1000)}.ab12"
        body = payloads.internal(event, notice_id, at, config, EVIDENCE, data)
        f = facts("opened", event=event, incident_id="detector", published_at=at)
        rows.extend(
            fanout.plan(
                notice_id=notice_id,
                facts=f,
                payload=body,
                default_message=payloads.blank_message(event),
                component_ids=[],
                config=config,
                channels=channels,
                subscribers=CUSTOMERS,
                now=at,
            )
        )

    def customer(kind: str, seq: int, at: float) -> None:
        done = kind == "resolved"
        inc = replace(INCIDENT, status="resolved", resolved_at=at) if done else INCIDENT
        f = facts(kind, incident_id=INCIDENT.id, sequence=seq, published_at=at)
        message = compose(f, "en", "Europe/Warsaw")
        body = payloads.webhook(f"{INCIDENT.id}.{seq}", inc, f, message, EVIDENCE)
        rows.extend(
            fanout.plan(
                notice_id=f"{INCIDENT.id}.{seq}",
                facts=f,
                payload=body,
                default_message=message,
                component_ids=["api"],
                config=config,
                channels=channels,
                subscribers=CUSTOMERS,
                now=at,
            )
        )

    internal(Event.DETECTOR_DEGRADED, T0 - 600, degraded=True)
    internal(
        Event.INCIDENT_PENDING,
        T0,
        incident=payloads.incident_json(INCIDENT),
        publish_at=payloads.iso(INCIDENT.held_until),
    )
    customer("opened", 1, T0 + 300)
    customer("resolved", 2, T0 + 3600)
    internal(Event.DETECTOR_DEGRADED, T0 + 4000, degraded=False)
    return rows


async def send_rows(channels: list[Channel], rows: list[OutboxRow]) -> dict[str, list[Delivery]]:
    """Each row to its channel, in order, as the outbox worker hands them over."""
    by_name = {ch.name: ch for ch in channels}
    out: dict[str, list[Delivery]] = {}
    for row in rows:
        out.setdefault(row.channel, []).append(await by_name[row.channel].send(envelope_of(row)))
    return out


def events_of(rows: list[OutboxRow], channel: str) -> list[str]:
    return [r.event for r in rows if r.channel == channel]


async def test_operators_channels_hear_operator_events_and_no_customer_notice(
    tmp_path: Path,
) -> None:
    slack, teams, pager, sendgrid = (
        await start_slack_double(),
        await start_teams_double(),
        await start_pagerduty_double(),
        await start_sendgrid_double(),
    )
    config = build_config(
        tmp_path,
        [
            {"type": "slack", "url": SLACK_URL, "api_base": slack.url},
            {"type": "teams", "url": teams.hook_url(), "api_base": teams.url},
            {"type": "pagerduty", "routing_key": DEFAULT_ROUTING_KEY, "api_base": pager.url},
            {
                "type": "sendgrid",
                "api_key": "${SENDGRID_API_KEY}",
                "from": "status@acme.example",
                "api_base": sendgrid.url,
            },
        ],
        [],
    )
    channels = channel_kinds.build(config)
    try:
        rows = story(config, channels)
        sent = await send_rows(channels, rows)
    finally:
        for ch in channels:
            await ch.close()
        for d in (slack, teams, pager, sendgrid):
            await d.stop()
    operators = ["detector.degraded", "incident.pending", "detector.degraded"]
    for name in ("slack-0", "teams-1", "pagerduty-2"):
        assert events_of(rows, name) == operators, name
        assert all(d.ok for d in sent[name]), sent[name]
    # the customers' channel hears the customers' notices only
    assert events_of(rows, "sendgrid-3") == ["incident.opened", "incident.resolved"]
    # and each double got exactly the operators' events, accepted
    assert len(slack.posts) == len(teams.posts) == 3
    assert slack.refused == [] and teams.refused == [] and pager.refused == []
    titles = [p.body["text"] for p in slack.posts]
    assert "cannot trust its own network" in titles[0]
    assert "first customer notice held" in titles[1]
    assert "pass again" in titles[2]
    assert [(e.action, e.dedup_key) for e in pager.events] == [
        ("trigger", "outage-detector/Acme Cloud/detector.degraded"),
        ("trigger", "outage-detector/incident/api-1a2b3c4d"),
        ("resolve", "outage-detector/Acme Cloud/detector.degraded"),
    ]
    customer_words = compose(facts("opened"), "en", "Europe/Warsaw").subject
    assert all(customer_words not in str(p.body) for p in slack.posts)


async def test_events_given_in_the_config_are_exactly_what_it_hears(tmp_path: Path) -> None:
    slack = await start_slack_double()
    config = build_config(
        tmp_path,
        [
            {
                "type": "slack",
                "url": SLACK_URL,
                "api_base": slack.url,
                "events": ["incident.opened", "incident.resolved", "detector.degraded"],
            }
        ],
        [],
    )
    channels = channel_kinds.build(config)
    try:
        rows = story(config, channels)
        sent = await send_rows(channels, rows)
    finally:
        for ch in channels:
            await ch.close()
        await slack.stop()
    assert events_of(rows, "slack-0") == [
        "detector.degraded",
        "incident.opened",
        "incident.resolved",
        "detector.degraded",
    ]
    assert all(d.ok for d in sent["slack-0"])
    opened = slack.posts[1].body
    # a customer notice is shown as customers got it, with its incident's facts
    assert opened["text"] == compose(facts("opened"), "en", "Europe/Warsaw").subject
    fields = next(b for b in opened["blocks"] if "fields" in b)["fields"]
    assert "*Incident*\napi-1a2b3c4d" in [f["text"] for f in fields]


def test_operators_channels_get_the_whole_payload_customers_channels_do_not(
    tmp_path: Path,
) -> None:
    config = build_config(
        tmp_path,
        [
            {"type": "slack", "url": SLACK_URL, "events": ["incident.opened"]},
            {"type": "sendgrid", "api_key": "${SENDGRID_API_KEY}", "from": "status@acme.example"},
            {"type": "smtp", "host": "127.0.0.1", "security": "none", "from": "s@acme.example"},
        ],
        [],
    )
    channels = channel_kinds.build(config)
    rows = story(config, channels)
    [slack_row] = [r for r in rows if r.channel == "slack-0"]
    assert slack_row.payload["evidence"] == EVIDENCE
    assert slack_row.payload["incident"]["id"] == INCIDENT.id
    for r in rows:
        if r.channel != "slack-0":
            assert r.payload == {"status_page_url": slack_row.payload["status_page_url"]}
    assert {r.event for r in rows if r.channel != "slack-0"} == {
        "incident.opened",
        "incident.resolved",
    }
    assert [channel_kinds.is_operator(ch) for ch in channels] == [True, False, False]
    assert {k for k, kind in channel_kinds.KINDS.items() if kind.operator} >= {
        "webhook",
        "console",
        "slack",
        "teams",
        "pagerduty",
    }
    assert not {"sendgrid", "smtp", "twilio"} & {
        k for k, kind in channel_kinds.KINDS.items() if kind.operator
    }


# --- the Slack channel itself ------------------------------------------------------------------


def slack_channel(base: str, url: str = SLACK_URL, **kw: Any) -> Slack:
    cfg = SlackChannel.model_validate({"type": "slack", "url": url, "api_base": base})
    return Slack(cfg, "slack-0", timeout=kw.get("timeout", 2.0), clock=FakeClock())


def degraded(down: bool = True, **extra: Any) -> Envelope:
    return Envelope(
        id="detector.1.ab12/slack-0/0",
        notice_id="detector.1.ab12",
        event="detector.degraded",
        message=payloads.blank_message("detector.degraded"),
        payload={
            "event": "detector.degraded",
            "notice_id": "detector.1.ab12",
            "service": "Acme <Cloud> & Co",
            "published_at": payloads.iso(T0),
            "degraded": down,
            "evidence": EVIDENCE,
            "status_page_url": "https://status.acme.example/",
            **extra,
        },
    )


@pytest.fixture
async def double() -> AsyncIterator[SlackDouble]:
    d = await start_slack_double()
    yield d
    await d.stop()


async def test_a_message_slack_accepts_with_its_words_escaped(double: SlackDouble) -> None:
    ch = slack_channel(double.url)
    try:
        d = await ch.send(degraded())
    finally:
        await ch.close()
    assert d.ok and d.detail == "accepted by Slack"
    [post] = double.posts
    assert post.hook == DEFAULT_HOOK
    body = post.body
    assert body["text"].startswith("Acme &lt;Cloud&gt; &amp; Co: the detector cannot trust")
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds == ["header", "section", "section", "context"]
    assert body["blocks"][0]["text"]["text"].startswith("Acme <Cloud> & Co")  # plain_text
    fields = [f["text"] for f in body["blocks"][2]["fields"]]
    assert fields == [  # the latest failure first
        f"*api-health*\nHTTP 503 in 41ms at {payloads.iso(T0 - 5)}",
        f"*upstream-dns*\ntimed out at {payloads.iso(T0 - 10)}",
    ]
    context = body["blocks"][3]["elements"][0]["text"]
    assert "<https://status.acme.example/|status page>" in context
    assert "detector.degraded · notice detector.1.ab12" in context


async def test_long_words_are_cut_to_slacks_limits(double: SlackDouble) -> None:
    huge = Envelope(
        "r",
        "n.1",
        "incident.opened",
        Message("en", "x" * 400, "y" * 5000, "", ""),
        {"incident": {"id": "api-1", "severity": "major_outage", "components": ["c"] * 3000}},
    )
    slack_events = SlackChannel.model_validate(
        {"type": "slack", "url": SLACK_URL, "api_base": double.url, "events": ["incident.opened"]}
    )
    ch = Slack(slack_events, "slack-0")
    try:
        d = await ch.send(huge)
    finally:
        await ch.close()
    assert d.ok, (d, double.refused)
    assert block_problems(double.posts[0].body["blocks"]) == []
    assert double.posts[0].body["blocks"][0]["text"]["text"].endswith("…")


async def test_api_base_keeps_the_hooks_path(double: SlackDouble) -> None:
    other = slack_channel(double.url, "https://hooks.slack.com/services/T1/B1/revokedHookToken0001")
    try:
        d = await other.send(degraded())
    finally:
        await other.close()
    assert not d.ok and d.permanent
    assert d.detail == "Slack HTTP 404: no_service"
    assert "revokedHookToken0001" not in d.detail


@pytest.mark.parametrize(
    ("status", "permanent", "detail"),
    [
        (429, False, "Slack HTTP 429: rate_limited"),
        (500, False, "Slack HTTP 500: rollup_error"),
        (403, True, "Slack HTTP 403: action_prohibited"),
        (410, True, "Slack HTTP 410: channel_is_archived"),
    ],
)
async def test_slacks_refusals(
    double: SlackDouble, status: int, permanent: bool, detail: str
) -> None:
    double.fail_next(1, status, retry_after=7 if status == 429 else None)
    ch = slack_channel(double.url)
    try:
        d = await ch.send(degraded())
        again = await ch.send(degraded())
    finally:
        await ch.close()
    assert (d.ok, d.permanent, d.detail) == (False, permanent, detail)
    assert d.retry_after == (7.0 if status == 429 else None)
    assert again.ok


async def test_no_answer_and_a_cut_connection_are_retried(double: SlackDouble) -> None:
    double.hang_next(1)
    double.reset_next(1)
    ch = slack_channel(double.url, timeout=0.3)
    try:
        hung = await ch.send(degraded())
        cut = await ch.send(degraded())
    finally:
        await ch.close()
    assert not hung.ok and not hung.permanent and hung.detail == "Slack did not answer within 0.3s"
    assert not cut.ok and not cut.permanent and cut.detail.startswith("Slack unreachable")


def test_by_default_only_operators_events() -> None:
    ch = Slack(SlackChannel.model_validate({"type": "slack", "url": SLACK_URL}), "slack-0")
    assert {e for e in Event if ch.wants(e)} == set(OPERATOR_EVENTS)
    picky = SlackChannel.model_validate(
        {"type": "slack", "url": SLACK_URL, "events": ["incident.opened"]}
    )
    assert {e for e in Event if Slack(picky, "slack-1").wants(e)} == {"incident.opened"}


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "must not be empty"),
        ("hooks.slack.com/services/T/B/x", "not a Slack incoming webhook URL"),
        ("ftp://hooks.slack.com/x", "not a Slack incoming webhook URL"),
    ],
)
def test_a_bad_hook_url_is_refused_without_repeating_it(url: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words) as e:
        SlackChannel.model_validate({"type": "slack", "url": url})
    if url:
        assert url not in str(e.value).replace(f"input_value='{url}'", "")


def test_describe_names_a_held_notice_and_how_to_act_on_it() -> None:
    env = Envelope(
        "r",
        "detector.1.cd34",
        "incident.pending",
        payloads.blank_message("incident.pending"),
        {
            "service": "Acme Cloud",
            "incident": payloads.incident_json(INCIDENT),
            "publish_at": payloads.iso(INCIDENT.held_until),
            "evidence": EVIDENCE,
        },
    )
    note = describe(env)
    assert note.severity == "critical" and not note.ends
    assert note.key == "outage-detector/incident/api-1a2b3c4d"
    assert "/api/v1/admin/incidents/api-1a2b3c4d/publish" in note.text
    assert ("Held until", payloads.iso(INCIDENT.held_until)) in note.facts
