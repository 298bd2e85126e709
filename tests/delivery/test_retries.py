"""Issue 4: SendGrid fails (5 × 500, then 429 with Retry-After) and every e-mail still arrives,
exactly once per (notice, recipient), and the retry waits as long as the provider asked.

In process, real time, small backoffs (base 0.05 s, cap 1.5 s: Retry-After is capped there
too, so it must stay under it) so Retry-After (1 s) is the longest wait: if the worker ignored
it, the retry would come visibly early.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from detector.clock import SystemClock
from tests.delivery.doubles import start_sendgrid
from tests.delivery.stack import Stack, build_config, channel_configs, crowd, write_csv
from tests.e2e.harness import until

RETRY_AFTER = 1.0
MAX_BACKOFF = 1.5


async def test_sendgrid_failures_then_429_every_email_once_retry_after_kept(
    tmp_path: Path,
) -> None:
    sendgrid = await start_sendgrid()
    # 1500 en (rows of 1000 + 500) and 700 fr: three requests' worth, spread over the faults
    people = crowd(1500, phone=False) + crowd(700, phone=False, locales=["fr"], start=1500)
    write_csv(tmp_path / "subscribers.csv", people)
    config = build_config(
        tmp_path, channel_configs(sendgrid=sendgrid.url), [{"file": "subscribers.csv"}]
    )
    stack = await Stack.start(
        config, tmp_path, SystemClock(), base_backoff=0.05, max_backoff=MAX_BACKOFF
    )
    try:
        sendgrid.fail_next(5, 500)
        sendgrid.fail_next(1, 429, retry_after=RETRY_AFTER)
        await stack.outage("api")
        await until(stack.all_sent, 15, "every e-mail row sent")
    finally:
        await stack.close()
        await sendgrid.stop()

    rows = await stack.rows("sendgrid-0")
    assert len(rows) == 3
    # exactly once per (notice, recipient), counted across accepted requests
    notice_ids = {r.body["headers"]["X-Detector-Notice-Id"] for r in sendgrid.requests}
    assert len(notice_ids) == 1
    counts = Counter(sendgrid.accepted())
    assert set(counts) == {p["email"] for p in people}
    assert max(counts.values()) == 1, [e for e, n in counts.items() if n > 1][:5]

    statuses = [a.status for a in sendgrid.attempts]
    assert statuses.count(500) == 5 and statuses.count(429) == 1
    assert statuses.count(202) == len(rows) == len(sendgrid.requests)
    assert sum(r.attempts for r in rows) == len(sendgrid.attempts)
    assert stack.count("sendgrid-0", "incident.opened", "retry") == 6
    assert stack.count("sendgrid-0", "incident.opened", "sent") == 3

    # Retry-After kept: the batch told to wait came back no earlier than it was told
    [limited] = [a for a in sendgrid.attempts if a.status == 429]
    later = [
        a for a in sendgrid.attempts if a.recipients == limited.recipients and a.at > limited.at
    ]
    assert later, "the rate-limited batch was never retried"
    waited = later[0].at - limited.at
    assert waited >= RETRY_AFTER, f"retried after {waited:.3f}s; Retry-After said {RETRY_AFTER}s"
    assert waited < RETRY_AFTER + 1.0  # and not much later either
