"""Issue 4: an outage reaches e-mail, SMS and webhook, only for the affected component's
subscribers, and every customer text meets CONTRACT §7 in the subscriber's language and zone.

In process: real Store (SQLite), Engine, OutboxWorker, the real channels, local doubles, and a
fake clock fixed at a winter instant so local times are known exactly.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.clock import FakeClock
from tests.delivery.doubles import SlowSendGrid, SlowTwilio, start_sendgrid, start_twilio
from tests.delivery.stack import (
    CONTACT,
    STATUS_PAGE,
    TECHNICAL,
    Stack,
    build_config,
    channel_configs,
)
from tests.e2e.harness import Receiver, until
from tests.notices.factory import IMPACTS

START = datetime(2025, 11, 23, 10, 0, tzinfo=UTC).timestamp()
DEFAULT_ZONE = "Europe/Warsaw"

# (name, email, phone, locale, timezone, components)
PEOPLE: list[dict[str, Any]] = [
    {
        "name": "Alice",
        "email": "alice@globex.example",
        "locale": "en",
        "timezone": "Asia/Kolkata",
        "components": ["api"],
    },
    {
        "name": "Bruno",
        "phone": "+33 1 55 55 01 11",
        "locale": "fr",
        "timezone": "America/New_York",
        "components": ["api"],
    },
    {
        "name": "Celina",
        "email": "celina@polska.example",
        "phone": "+48 22 555 0101",
        "locale": "pl",
    },  # every component, the service's zone
    {
        "name": "Dalia",
        "email": "dalia@gulf.example",
        "phone": "+971 4 555 0102",
        "locale": "ar",
        "timezone": "Asia/Dubai",
        "components": ["api", "web"],
    },
    {
        "name": "Erin",
        "email": "erin@initech.example",
        "phone": "+1 202 555 0103",
        "components": ["web"],
    },  # another component: told nothing
    {"name": "Frank", "phone": "+1 202 555 0104", "components": ["web"]},
    {"name": "Gus", "email": "gus@umbrella.example"},  # all components, service defaults
    {
        "name": "Hana",
        "email": "hana@kyoto.example",
        "locale": "fr",
        "timezone": "Asia/Kolkata",
        "components": ["api"],
    },
]
EMAILS = {
    "alice@globex.example": ("en", "Asia/Kolkata"),
    "celina@polska.example": ("pl", DEFAULT_ZONE),
    "dalia@gulf.example": ("ar", "Asia/Dubai"),
    "gus@umbrella.example": ("en", DEFAULT_ZONE),
    "hana@kyoto.example": ("fr", "Asia/Kolkata"),
}
PHONES = {
    "+33155550111": ("fr", "America/New_York"),
    "+48225550101": ("pl", DEFAULT_ZONE),
    "+97145550102": ("ar", "Asia/Dubai"),
}

# "we" and an apology, as each language says them (the notice owns it, §7.2).
WE = {"en": r"\b[Ww]e\b", "fr": r"\b[Nn]ous\b", "pl": r"\bpracujemy\b", "ar": "نعمل"}
SORRY = {"en": r"\bsorry\b", "fr": r"\bexcuses\b", "pl": r"\bprzepraszamy\b", "ar": "نعتذر"}
_EASTERN_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")


def local_times(at: float, zone: str) -> set[str]:
    """How a clock time may be written in `zone`: 24-hour "05:15" or 12-hour "5:15"."""
    t = datetime.fromtimestamp(at, ZoneInfo(zone))
    return {f"{t.hour:02d}:{t.minute:02d}", f"{(t.hour % 12) or 12}:{t.minute:02d}"}


def says_time(text: str, at: float, zone: str) -> bool:
    return any(s in text.translate(_EASTERN_DIGITS) for s in local_times(at, zone))


Parts = tuple[Stack, SlowSendGrid, SlowTwilio, Receiver]


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    sendgrid, twilio = await start_sendgrid(), await start_twilio()
    receiver = await Receiver().start()
    config = build_config(
        tmp_path,
        channel_configs(
            sendgrid=sendgrid.url,
            twilio=twilio.url,
            webhook=f"http://127.0.0.1:{receiver.port}/hook",
        ),
        PEOPLE,
    )
    stack = await Stack.start(config, tmp_path, FakeClock(START))
    yield stack, sendgrid, twilio, receiver
    await stack.close()
    for d in (sendgrid, twilio):
        await d.stop()
    await receiver.stop()


async def test_outage_reaches_only_the_components_subscribers_in_their_words(parts: Parts) -> None:
    stack, sendgrid, twilio, receiver = parts
    await stack.outage("api", step=1.0)
    await until(stack.all_sent, 10, "every outbox row sent")

    [incident] = await stack.store.incidents()
    [notice] = (await stack.store.notices([incident.id]))[incident.id]
    assert notice.event == "incident.opened" and notice.next_update_at is not None
    next_at = notice.next_update_at

    # who: the subscribers of "api" (or of everything), by the address each one gave
    assert sorted(sendgrid.accepted()) == sorted(EMAILS)
    assert sorted(twilio.accepted()) == sorted(PHONES)
    [hook] = receiver.hooks
    assert hook.event == "incident.opened" and hook.body["notice_id"] == notice.id
    # the webhook, and only the webhook, carries the technical evidence
    assert any("503" in e["detail"] for e in hook.body["evidence"])

    for request in sendgrid.requests:
        body = request.body
        assert body["headers"]["X-Detector-Notice-Id"] == notice.id
        content = {c["type"]: c["value"] for c in body["content"]}
        subject, text, html = body["subject"], content["text/plain"], content["text/html"]
        for p in body["personalizations"]:
            email = p["to"][0]["email"]
            locale, zone = EMAILS[email]
            for part in (text, html):
                assert re.search(WE[locale], part), (email, part)
                assert re.search(SORRY[locale], part), (email, part)
                assert IMPACTS[locale] in html_lib.unescape(part), (email, part)
                assert says_time(part, next_at, zone), (email, local_times(next_at, zone), part)
                assert CONTACT in part, (email, part)
                assert STATUS_PAGE in part, (email, part)
            if zone != DEFAULT_ZONE:  # the reader's clock, not the service's
                assert not says_time(text, next_at, DEFAULT_ZONE), (email, text)
            assert "Public API" in subject
            for word in TECHNICAL:
                assert word not in subject + text + html, (email, word)
        if body["personalizations"][0]["to"][0]["email"] == "dalia@gulf.example":
            assert 'dir="rtl"' in html  # Arabic reads right to left

    for sms in twilio.requests:
        locale, zone = PHONES[sms.to]
        assert sms.num_segments == 1, sms.body  # §7.9: one segment where it can
        assert "status.acme.example" in sms.body  # links the status page
        assert says_time(sms.body, next_at, zone), (sms.to, local_times(next_at, zone), sms.body)
        assert "Public API" in sms.body
        for word in TECHNICAL:
            assert word not in sms.body, (sms.to, word, sms.body)
        if locale in ("en", "fr"):  # room in one segment for "we" and an apology
            assert re.search(WE[locale], sms.body), sms.body
            assert re.search(SORRY[locale], sms.body), sms.body
    assert stack.count("sendgrid-1", "incident.opened", "sent") == len(sendgrid.requests)
    assert stack.count("twilio-2", "incident.opened", "sent") == len(PHONES)


APOLOGY = {"en": "We're sorry.", "fr": "Toutes nos excuses.", "pl": "Przepraszamy.", "ar": "نعتذر."}


async def test_sms_apologises_wherever_one_segment_has_room(parts: Parts) -> None:
    """§7.2 on every notice, §7.9 one segment "where it can": an SMS may drop the apology only
    when the apology would not fit in the one segment."""
    from detector.notices.sms import segments

    stack, _, twilio, _ = parts
    await stack.outage("api", step=1.0)
    await until(stack.all_sent, 10, "every outbox row sent")
    missing = []
    for sms in twilio.requests:
        locale, _ = PHONES[sms.to]
        if re.search(SORRY[locale], sms.body, re.IGNORECASE):
            continue
        with_apology = sms.body.replace(". ", f". {APOLOGY[locale]} ", 1)
        if segments(with_apology) == 1:
            missing.append((locale, sms.body, with_apology))
    assert not missing, "SMS without an apology though one segment has room for it:\n" + "\n".join(
        f"{loc}: sent {sent!r}; fits: {fits!r}" for loc, sent, fits in missing
    )
