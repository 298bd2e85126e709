"""Issue 8, done-when 3: a provider storm while an incident goes on.

SendGrid and the webhook receiver answer 500s, then 429 with a Retry-After far away (an HTTP
date in year 9999; an hour for the webhook), then nothing at all (requests hang until the
client's timeout); meanwhile the incident publishes its updates and is resolved. After the
storm every recipient has the incident's notices in increasing sequence (never one after its
successor, none twice), the last one ("resolved") has arrived, and the notices the storm made
stale were superseded: counted in `detector_notices_superseded_total`, never sent.

Before the fix, rows backed off one by one and went out by retry time: after an 80-s storm
recipients got 5, 4, 3, 1, 2. In process, real time, short backoffs (50 ms .. 0.5 s) and
0.5-s channel timeouts; a phase lasts until the providers have refused a few attempts.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from detector.channels.base import Channel
from detector.channels.sendgrid import SendGrid
from detector.channels.webhook import Webhook
from detector.clock import SystemClock
from detector.config.models import Config, SendgridChannel, WebhookChannel
from detector.config.subscribers import load_subscribers
from detector.metrics import Metrics
from detector.notices import fanout
from detector.notices.compose import compose
from detector.outbox import OutboxWorker
from detector.store import Change, OutboxRow, Store
from tests.delivery.doubles import SlowSendGrid, start_sendgrid
from tests.delivery.stack import STATUS_PAGE, build_config, channel_configs, crowd, write_csv
from tests.doubles import FAR_FUTURE, HookDouble, start_hook_double
from tests.e2e.harness import SECRET, until
from tests.notices.factory import facts

INCIDENT = "api-5t0rm"
TIMEOUT = 0.5  # the channels' request timeout: how long a hung request holds a stream
MAX_BACKOFF = 0.5


def seq_of(notice_id: str) -> int:
    return int(notice_id.rpartition(".")[2])


def in_order_once(seqs: list[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(seqs))


class Incident:
    """Publishes the incident's notices as the engine does: rows committed, then handed over."""

    def __init__(
        self, tmp: Path, config: Config, store: Store, worker: OutboxWorker, chans: list[Channel]
    ) -> None:
        self.config = config
        self.subscribers = load_subscribers(config, tmp)
        self.store, self.worker, self.chans = store, worker, chans
        self.clock = SystemClock()

    async def publish(self, seq: int, kind: str, next_update: float | None = 600.0) -> None:
        now = self.clock.now()
        f = facts(
            kind,
            incident_id=INCIDENT,
            sequence=seq,
            published_at=now,
            next_update_at=None if next_update is None else now + next_update,
        )
        notice_id = f"{INCIDENT}.{seq}"
        body = {"notice_id": notice_id, "event": f.event, "status_page_url": STATUS_PAGE}
        rows = fanout.plan(
            notice_id=notice_id,
            facts=f,
            payload=body,
            default_message=compose(f, "en", self.config.service.timezone),
            component_ids=["api"],
            config=self.config,
            channels=self.chans,
            subscribers=self.subscribers,
            now=now,
        )
        await self.store.commit(Change(outbox=rows), now)
        self.worker.enqueue(rows)
        self.worker.wake()


async def test_storm_keeps_each_recipients_notices_in_order_and_supersedes_stale_ones(
    tmp_path: Path,
) -> None:
    sendgrid: SlowSendGrid = await start_sendgrid()
    hook: HookDouble = await start_hook_double(SECRET)
    # 1200 en (batches of 1000 + 200) and 300 fr: three e-mail streams, and the webhook's
    people = crowd(1200, phone=False) + crowd(300, phone=False, locales=["fr"], start=1200)
    emails = [p["email"] for p in people]
    write_csv(tmp_path / "subscribers.csv", people)
    config = build_config(
        tmp_path,
        channel_configs(webhook=hook.hook_url, sendgrid=sendgrid.url),
        [{"file": "subscribers.csv"}],
    )
    hook_cfg, mail_cfg = config.channels
    assert isinstance(hook_cfg, WebhookChannel) and isinstance(mail_cfg, SendgridChannel)
    chans: list[Channel] = [
        Webhook(hook_cfg, "webhook-0", timeout=TIMEOUT),
        SendGrid(mail_cfg, "sendgrid-1", timeout=TIMEOUT),
    ]
    store = Store(config.storage.url)
    await store.open()
    metrics = Metrics()
    worker = OutboxWorker(
        store,
        chans,
        metrics,
        SystemClock(),
        base_backoff=0.05,
        max_backoff=MAX_BACKOFF,
        give_up_after=120,
    )
    incident = Incident(tmp_path, config, store, worker, chans)
    worker.start()

    def got(seq: int) -> bool:
        told = {
            e
            for r in sendgrid.requests
            if seq_of(r.body["custom_args"]["notice_id"]) == seq
            for p in r.body["personalizations"]
            for e in (t["email"] for t in p["to"])
        }
        return told >= set(emails) and any(seq_of(c.notice_id) == seq for c in hook.calls)

    async def refused(mail: int, hooks: int, what: str) -> None:
        """Wait for this phase of the storm to turn away a few more attempts."""
        s0, h0 = sendgrid.seen, hook.seen
        await until(lambda: sendgrid.seen >= s0 + mail and hook.seen >= h0 + hooks, 15, what)

    try:
        await incident.publish(1, "opened")
        await until(lambda: got(1), 15, "'opened' to everyone, before the storm")

        sendgrid.storm(500)
        hook.storm(500)
        await incident.publish(2, "update")
        await refused(6, 2, "attempts refused with 500")
        await incident.publish(3, "identified")

        sendgrid.storm(429, retry_after=FAR_FUTURE)
        hook.storm(429, retry_after=3600)
        await refused(3, 1, "attempts told to come back in year 9999 (or in an hour)")
        await incident.publish(4, "monitoring")

        sendgrid.storm(hang=True)
        hook.storm(hang=True)
        await refused(6, 2, "attempts left hanging, twice per stream")
        await incident.publish(5, "resolved", next_update=None)

        sendgrid.calm()
        hook.calm()
        await until(lambda: got(5), 20, "'resolved' to everyone, after the storm")

        async def settled() -> bool:
            return all(r.state != "pending" for r in await store.outbox_rows())

        await until(settled, 10, "every row on record")
    finally:
        await worker.stop(2)
        for ch in chans:
            await ch.close()
        await store.close()
        await sendgrid.stop()
        await hook.stop()

    received: dict[str, list[int]] = defaultdict(list)
    for r in sendgrid.requests:
        seq = seq_of(r.body["custom_args"]["notice_id"])
        for p in r.body["personalizations"]:
            for t in p["to"]:
                received[t["email"]].append(seq)
    assert set(received) == set(emails)
    for email in emails:
        seqs = received[email]
        assert in_order_once(seqs), (email, seqs)
        assert seqs[0] == 1 and seqs[-1] == 5, (email, seqs)
    hooks = [seq_of(c.notice_id) for c in hook.calls]
    assert in_order_once(hooks) and hooks[0] == 1 and hooks[-1] == 5, hooks
    assert hook.refused == 0

    statuses = Counter(a.status for a in sendgrid.attempts)
    assert statuses[500] and statuses[429], statuses  # the storm reached every phase
    rows = await _rows(config.storage.url)
    states = Counter(r.state for r in rows)
    assert set(states) == {"sent", "superseded"}, states
    superseded = sum(1 for r in rows if r.state == "superseded")
    exposed = sum(
        s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
        if s.name == "detector_notices_superseded_total"
    )
    assert exposed == superseded > 0
    print(
        f"\nstorm: {len(sendgrid.attempts)} SendGrid attempts {dict(statuses)}, "
        f"{hook.seen} webhook attempts; {superseded} stale notices superseded, never sent"
    )


async def _rows(url: str) -> list[OutboxRow]:
    store = Store(url)
    try:
        return await store.outbox_rows()
    finally:
        await store.close()
