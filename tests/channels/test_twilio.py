"""Twilio channel through the real SDK asyncio client against the local Twilio double."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from detector.channels.base import Envelope, Recipient
from detector.channels.twilio import DEFAULT_RETRY_AFTER, Twilio
from detector.config.models import TwilioChannel
from detector.notices.model import Message
from tests.doubles import TwilioDouble, sms_segments, start_twilio_double
from tests.doubles.twilio_double import DEFAULT_SID, DEFAULT_TOKEN

SMS = "Acme: the Public API is down. We are on it; next update 10:30. status.acme.example"


def envelope(*recipients: Recipient, sms: str = SMS) -> Envelope:
    message = Message(locale="en", subject="s", text="t", html="<p>t</p>", sms=sms)
    return Envelope(
        id="row-7",
        notice_id="notice-42",
        event="incident.opened",
        message=message,
        payload={},
        recipients=list(recipients),
    )


def person(phone: str | None = "+48225550100") -> Recipient:
    return Recipient("Globex", email="ops@globex.example", phone=phone)


def channel(url: str, token: str = DEFAULT_TOKEN, timeout: float = 0.3) -> Twilio:
    cfg = TwilioChannel.model_validate(
        {
            "type": "twilio",
            "account_sid": DEFAULT_SID,
            "auth_token": token,
            "from": "+15550100",
            "api_base": url,
        }
    )
    return Twilio(cfg, "twilio-0", timeout=timeout)


@pytest.fixture
async def double() -> AsyncIterator[TwilioDouble]:
    d = await start_twilio_double()
    yield d
    await d.stop()


@pytest.fixture
async def tw(double: TwilioDouble) -> AsyncIterator[Twilio]:
    ch = channel(double.url)
    yield ch
    await ch.close()


async def test_sends_one_sms(double: TwilioDouble, tw: Twilio) -> None:
    d = await tw.send(envelope(person()))
    assert d.ok and d.rejected == []
    [msg] = double.requests
    assert (msg.to, msg.from_, msg.body) == ("+48225550100", "+15550100", SMS)
    assert msg.num_segments == 1 and msg.sid in d.detail


async def test_form_body_arrives_as_sent(double: TwilioDouble, tw: Twilio) -> None:
    """The body is form-encoded by us, not by aiohttp's FormData: what the API decodes must be
    exactly the message, whatever it holds (reserved characters, UCS-2, astral emoji)."""
    sms = "Awaria: API nie działa & 50% błędów; a=b+c? Szczegóły: https://s.example/?x=1 😀"
    assert (await tw.send(envelope(person(), sms=sms))).ok
    [msg] = double.requests
    assert msg.form == {"To": "+48225550100", "From": "+15550100", "Body": sms}
    assert msg.encoding == "UCS-2"


async def test_sdk_request_log_only_when_asked(
    double: TwilioDouble, tw: Twilio, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK's own request/response lines are formatted only when its logger takes INFO."""
    caplog.set_level(logging.WARNING, logger="detector.channels.twilio.sdk")
    assert (await tw.send(envelope(person()))).ok
    assert not [r for r in caplog.records if r.name == "detector.channels.twilio.sdk"]
    caplog.set_level(logging.INFO, logger="detector.channels.twilio.sdk")
    assert (await tw.send(envelope(person()))).ok
    lines = [r.getMessage() for r in caplog.records if r.name == "detector.channels.twilio.sdk"]
    assert "-- BEGIN Twilio API Request --" in lines
    assert DEFAULT_TOKEN not in caplog.text and "Authorization" not in caplog.text


async def test_api_base_wins_over_edge_and_region(
    double: TwilioDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    ch = channel(double.url)
    try:
        assert (await ch.send(envelope(person()))).ok
    finally:
        await ch.close()
    assert len(double.requests) == 1


async def test_wrong_token_is_permanent(double: TwilioDouble) -> None:
    ch = channel(double.url, token="wrong-token-123456")
    try:
        d = await ch.send(envelope(person()))
    finally:
        await ch.close()
    assert not d.ok and d.permanent and "401" in d.detail and "20003" in d.detail
    assert "wrong-token-123456" not in d.detail


async def test_5xx_is_retryable(double: TwilioDouble, tw: Twilio) -> None:
    double.fail_next(1, 500)
    d = await tw.send(envelope(person()))
    assert not d.ok and not d.permanent and "500" in d.detail
    assert (await tw.send(envelope(person()))).ok


async def test_429_uses_retry_after_or_one_second(double: TwilioDouble, tw: Twilio) -> None:
    double.fail_next(1, 429, retry_after=3)
    double.fail_next(1, 429)
    first, second = await tw.send(envelope(person())), await tw.send(envelope(person()))
    assert not first.ok and not first.permanent and first.retry_after == 3.0
    assert not second.ok and second.retry_after == DEFAULT_RETRY_AFTER


async def test_concurrent_sends_keep_their_own_response(double: TwilioDouble, tw: Twilio) -> None:
    double.fail_next(1, 429, retry_after=5)
    results = await asyncio.gather(
        *(tw.send(envelope(person(f"+4822555{i:04d}"))) for i in range(tw.concurrency))
    )
    assert [d.retry_after for d in results if not d.ok] == [5.0]
    assert sum(d.ok for d in results) == tw.concurrency - 1
    assert len(double.requests) == tw.concurrency - 1


async def test_hang_times_out_within_the_bound(double: TwilioDouble, tw: Twilio) -> None:
    double.hang_next(1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    d = await tw.send(envelope(person()))
    assert loop.time() - start < 1.0
    assert not d.ok and not d.permanent and "did not answer" in d.detail


async def test_connection_reset_is_retryable(double: TwilioDouble, tw: Twilio) -> None:
    double.reset_next(1)
    d = await tw.send(envelope(person()))
    assert not d.ok and not d.permanent and "unreachable" in d.detail
    assert (await tw.send(envelope(person()))).ok


@pytest.mark.parametrize("phone", ["+15005550001", "+15005550009", "+15005550004", "12345"])
async def test_bad_number_is_a_rejected_recipient(
    double: TwilioDouble, tw: Twilio, phone: str
) -> None:
    r = person(phone)
    d = await tw.send(envelope(r))
    assert d.ok and d.rejected == [r] and not double.requests
    assert "error 21" in d.detail


async def test_no_phone_rejected_without_a_request(double: TwilioDouble, tw: Twilio) -> None:
    r = person(None)
    d = await tw.send(envelope(r))
    assert d.ok and d.rejected == [r] and double.seen == 0


async def test_more_than_one_recipient_is_a_caller_bug(double: TwilioDouble, tw: Twilio) -> None:
    d = await tw.send(envelope(person(), person("+48225550101")))
    assert not d.ok and d.permanent and double.seen == 0


async def test_too_long_body_is_permanent(double: TwilioDouble, tw: Twilio) -> None:
    d = await tw.send(envelope(person(), sms="x" * 1601))
    assert not d.ok and d.permanent and "21617" in d.detail


async def test_token_never_in_details_or_logs(
    double: TwilioDouble, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="detector.channels.twilio.sdk")
    details: list[str] = []
    with capture_logs() as logs:
        ch = channel(double.url, timeout=0.2)
        double.fail_next(1, 500)
        double.fail_next(1, 429)
        double.hang_next(1)
        for r in [person(), person(), person(), person("+15005550001"), person()]:
            details.append((await ch.send(envelope(r))).detail)
        await ch.close()
    assert logs and caplog.records
    assert DEFAULT_TOKEN not in repr(details) + repr(logs) + caplog.text
    assert "Authorization" not in caplog.text


async def test_close_then_send_again(double: TwilioDouble, tw: Twilio) -> None:
    assert (await tw.send(envelope(person()))).ok
    await tw.close()
    assert (await tw.send(envelope(person()))).ok
    assert len(double.requests) == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("a" * 306, ("GSM-7", 2)),
        ("a" * 307, ("GSM-7", 3)),
        ("€" * 80, ("GSM-7", 1)),
        ("€" * 81, ("GSM-7", 2)),
        ("ł" * 70, ("UCS-2", 1)),
        ("ł" * 71, ("UCS-2", 2)),
        ("ł" * 134, ("UCS-2", 2)),
        ("😀" * 35, ("UCS-2", 1)),
        ("😀" * 36, ("UCS-2", 2)),
    ],
)
def test_double_counts_segments_like_carriers(body: str, expected: tuple[str, int]) -> None:
    assert sms_segments(body) == expected
