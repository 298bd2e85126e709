"""Issue 11, customers in control of what they get: `POST /api/v1/subscribe` (double opt-in),
the status page's form, the confirm link, the signed one-click unsubscribe (RFC 8058) and the
preferences page, against a real app, store, engine, outbox worker and SendGrid channel (the
SendGrid double behind it). The answers never tell whether an address is known; sign-ups are
rate-limited; bad input is a 400 naming the field; a forged or expired link does nothing; a
choice takes effect for the next notice."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

from detector import channels as channel_kinds
from detector.channels.base import Channel
from detector.channels.links import ONE_CLICK, Links, attach
from detector.config import parse_config
from detector.config.models import Subscriber
from detector.metrics import Metrics
from detector.outbox import OutboxWorker
from detector.store.subscribers import CONFIRMED, UNSUBSCRIBED
from detector.web.app import SERVICES
from detector.web.i18n import LANGS, SOURCE, Chrome
from detector.web.subscribe import (
    ACCEPTED,
    CLIENT_BURST,
    CLIENT_EVERY,
    CONFIRM_TTL,
    EMAIL_BURST,
    EMAIL_EVERY,
    STATE,
    Limiter,
    links_for,
)
from tests.doubles.sendgrid_double import DEFAULT_KEY, SendGridDouble, start_sendgrid_double
from tests.e2e.harness import until
from tests.store.backends import storage_url
from tests.web.conftest import TOKEN, UP, MakeWorld, Resp, World, raw_config

__all__ = ["storage_url"]

BASE = "https://status.acme.example/"
ANA = "ana@customers.example"
CONTROL = "control@customers.example"  # a config subscriber who stays: when they got a notice,
LISTED = "it@initech.example"  # so would have anyone else; and one who acts through links


@dataclass
class Mailroom:
    w: World
    sendgrid: SendGridDouble
    channels: list[Channel]
    links: Links

    async def settle(self) -> None:
        """The confirmation e-mails under way have been sent."""
        await self.w.client.app[STATE].settle()

    def to(self, email: str) -> list[dict[str, Any]]:
        """Every mail/send body with a personalization for `email`, each narrowed to it."""
        out = []
        for req in self.sendgrid.requests:
            for p in req.body["personalizations"]:
                if any(t["email"] == email for t in p["to"]):
                    out.append({**req.body, "personalizations": [p]})
        return out

    async def subscribe(self, body: dict[str, Any]) -> Resp:
        return await self.w.post("/api/v1/subscribe", body, token=None)

    async def notices_to(self, email: str, n: int) -> list[dict[str, Any]]:
        """Wait for the n-th notice (not a confirmation e-mail) to `email`."""

        def got() -> list[dict[str, Any]]:
            return [m for m in self.to(email) if not m["custom_args"]["notice_id"].startswith("s")]

        await until(lambda: len(got()) >= n, 10, f"{n} notices to {email}")
        return got()

    async def told(self, email: str, event: str) -> None:
        """Wait until `email` was sent a notice of `event`."""
        await until(
            lambda: any(m["custom_args"]["event"] == event for m in self.to(email)),
            10,
            f"{event} to {email}",
        )


def text(mail: dict[str, Any]) -> str:
    return str(next(c["value"] for c in mail["content"] if c["type"] == "text/plain"))


def local(url: str) -> str:
    """The path and query of a link under the status page, to ask the test server."""
    assert url.startswith(BASE), url
    return "/" + url.removeprefix(BASE)


def link_in(mail: dict[str, Any], path: str) -> str:
    m = re.search(re.escape(BASE + path) + r"\?token=[A-Za-z0-9._%-]+", text(mail))
    assert m is not None, text(mail)
    return local(m.group(0))


def token_of(path: str) -> str:
    return unquote(path.partition("token=")[2])


MakeRoom = Callable[..., Awaitable[Mailroom]]


@pytest.fixture
async def mailroom(make_world: MakeWorld, tmp_path: Path) -> AsyncIterator[MakeRoom]:
    made: list[tuple[Mailroom, OutboxWorker]] = []

    async def build(
        *, url: str | None = None, subscribers: list[Subscriber] | None = None, **over: Any
    ) -> Mailroom:
        sendgrid = await start_sendgrid_double()
        home = tmp_path / f"room{len(made)}"
        home.mkdir()
        raw = raw_config(
            home,
            channels=[
                {
                    "type": "sendgrid",
                    "api_key": DEFAULT_KEY,
                    "from": "status@acme.example",
                    "api_base": sendgrid.url,
                }
            ],
        )
        if url is not None:
            raw["storage"]["url"] = url
        raw["server"].update(over.pop("server", {}))
        cfg = parse_config(yaml.safe_dump(raw), env={"ADMIN": TOKEN})
        chans = channel_kinds.build(cfg)
        people = subscribers or [
            Subscriber(name="Control", email=CONTROL),
            Subscriber(name="Initech", email=LISTED),
        ]
        w = await make_world(config=cfg, channels=chans, subscribers=people)
        links = await links_for(cfg, w.store)
        attach(chans, links)  # as the daemon does
        worker = OutboxWorker(w.store, chans, Metrics(), w.clock, base_backoff=0.01, poll=0.02)
        worker.start()
        room = Mailroom(w, sendgrid, chans, links)
        made.append((room, worker))
        return room

    yield build
    for room, worker in made:
        await worker.stop(1)
        await room.settle()
        for ch in room.channels:
            await ch.close()
        await room.sendgrid.stop()


async def test_subscribe_confirm_hear_unsubscribe_hear_no_more(
    mailroom: MakeRoom, storage_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Done-when 6 in one process, on both backends."""
    room = await mailroom(url=storage_url)
    w = room.w
    r = await room.subscribe({"email": "Ana@Customers.example", "components": ["web"]})
    assert (r.status, r.body) == (202, ACCEPTED)
    await room.settle()
    [mail] = room.to(ANA)  # lower-cased
    assert "List-Unsubscribe" not in mail["personalizations"][0].get("headers", {})
    assert "List-Unsubscribe" not in mail.get("headers", {})  # not subscribed yet
    assert mail["subject"] == "Confirm your e-mail notices from Acme Cloud"
    confirm = link_in(mail, "subscribe/confirm")
    assert ANA not in [s.email for s in w.engine.subscribers]  # pending: told nothing yet

    page = await w.get(confirm)
    assert page.status == 200 and "You are subscribed" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    row = await w.store.subscriber(ANA)
    assert row is not None and row.state == CONFIRMED
    assert ANA in [s.email for s in w.engine.subscribers]

    inc = await w.outage("web")
    [opened] = await room.notices_to(ANA, 1)
    headers = opened["personalizations"][0]["headers"]
    unsubscribe = headers["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{BASE}unsubscribe?token=") and unsubscribe.endswith(">")
    assert headers["List-Unsubscribe-Post"] == ONE_CLICK == "List-Unsubscribe=One-Click"
    assert "List-Unsubscribe" not in opened.get("headers", {})  # per recipient, not shared
    control = (await room.notices_to(CONTROL, 1))[0]["personalizations"][0]["headers"]
    assert control["List-Unsubscribe"] != unsubscribe  # each recipient's own link

    path = local(unsubscribe[1:-1])
    r = await w.call(
        "POST",
        path,
        data=ONE_CLICK,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status == 200 and "You are unsubscribed" in r.text
    assert ANA not in [s.email for s in w.engine.subscribers]  # before the answer came

    await w.recover("web")  # monitoring, then resolved: the same incident's next notices
    await room.told(CONTROL, "incident.resolved")
    assert len(await room.notices_to(ANA, 1)) == 1  # nothing after the one-click
    rows = [r for r in await w.store.outbox_rows() if r.notice_id != f"{inc.id}.1"]
    assert rows and all(ANA not in [p["email"] for p in r.recipients] for r in rows)
    for secret in (token_of(confirm), token_of(path)):
        assert secret not in caplog.text  # tokens are never logged


async def test_the_answer_never_tells_whether_an_address_is_known(mailroom: MakeRoom) -> None:
    room = await mailroom()
    w = room.w
    w.client.app[STATE].client = Limiter(100, CLIENT_EVERY)
    answers = [await room.subscribe({"email": ANA})]  # new
    answers.append(await room.subscribe({"email": ANA, "locale": "fr"}))  # pending
    await room.settle()
    confirm = link_in(room.to(ANA)[-1], "subscribe/confirm")
    assert (await w.get(confirm)).status == 200
    answers.append(await room.subscribe({"email": ANA, "locale": "id"}))  # confirmed
    answers.append(await room.subscribe({"email": LISTED}))  # in the config
    await room.settle()
    await w.store.unsubscribe("gone@customers.example", w.clock.now())
    answers.append(await room.subscribe({"email": "gone@customers.example"}))  # unsubscribed
    answers.append(await room.subscribe({"email": "nobody@nowhere.example"}))
    await room.settle()
    assert {(a.status, a.text) for a in answers} == {(202, answers[0].text)}
    assert {k for a in answers for k in a.headers} == set(answers[0].headers)

    # the owner learns what the stranger cannot: a confirmed address gets its preferences link
    # and no change; the others a link to confirm
    mails = room.to(ANA)
    assert [m["subject"] for m in mails] == [
        "Confirm your e-mail notices from Acme Cloud",
        "Confirmez vos notifications par e-mail de Acme Cloud",  # the second asked for French
        "Vos notifications par e-mail de Acme Cloud",  # already confirmed, in its language
    ]
    assert "subscribe/confirm" not in text(mails[2]) and "/unsubscribe?token=" in text(mails[2])
    row = await w.store.subscriber(ANA)
    assert row is not None and row.locale == "fr"
    gone = room.to("gone@customers.example")
    assert "subscribe/confirm" in text(gone[0])
    assert "gone@customers.example" not in [s.email for s in w.engine.subscribers]


async def test_the_first_link_is_void_once_a_newer_one_is_sent(mailroom: MakeRoom) -> None:
    room = await mailroom()
    await room.subscribe({"email": ANA})
    await room.subscribe({"email": ANA})
    await room.settle()
    old, new = (link_in(m, "subscribe/confirm") for m in room.to(ANA))
    r = await room.w.get(old)
    assert r.status == 400 and "a newer one was sent" in r.text
    assert (await room.w.get(new)).status == 200
    assert (await room.w.get(new)).status == 200  # following it again is fine


async def test_sign_ups_are_rate_limited_per_client_and_per_address(mailroom: MakeRoom) -> None:
    room = await mailroom()
    w = room.w
    for i in range(EMAIL_BURST):
        assert (await room.subscribe({"email": ANA})).status == 202, i
    r = await room.subscribe({"email": ANA})
    assert r.status == 429 and r.headers["Retry-After"] == f"{EMAIL_EVERY:g}"
    assert r.body["error"].startswith("too many sign-ups for this e-mail address")
    for i in range(CLIENT_BURST - EMAIL_BURST - 1):
        assert (await room.subscribe({"email": f"p{i}@customers.example"})).status == 202
    r = await room.subscribe({"email": "one-more@customers.example"})
    assert r.status == 429 and r.headers["Retry-After"] == f"{CLIENT_EVERY:g}"
    assert r.body["error"].startswith("too many sign-ups from this address")
    bad = await room.subscribe({"email": "not an address"})
    assert bad.status == 429  # the client's limit counts every request, bad ones too

    w.clock.advance(CLIENT_EVERY)  # one more from this client, not yet for that address
    assert (await room.subscribe({"email": ANA})).status == 429
    w.clock.advance(EMAIL_EVERY)
    assert (await room.subscribe({"email": ANA})).status == 202
    await room.settle()
    assert len(room.to(ANA)) == EMAIL_BURST + 1  # no e-mail for a refused request


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "ana@"}, "email"),
        ({"email": "ana customers.example"}, "email"),
        ({"email": 5}, "email"),
        ({"components": ["web"]}, "email"),
        ({"email": ANA, "components": ["web", "nope"]}, "components[1]"),
        ({"email": ANA, "components": "web"}, "components"),
        ({"email": ANA, "locale": "de"}, "locale"),
        ({"email": ANA, "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"email": ANA, "timezone": "../../etc/passwd"}, "timezone"),
        ({"email": ANA, "colour": "blue"}, "colour"),
        (["ana@customers.example"], "body"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    mailroom: MakeRoom, body: Any, field: str
) -> None:
    room = await mailroom()
    r = await room.subscribe(body)
    assert r.status == 400 and r.body["error"].startswith(f"{field}: "), r.body
    not_json = await room.w.call(
        "POST", "/api/v1/subscribe", data="{", headers={"Content-Type": "application/json"}
    )
    assert (not_json.status, not_json.body) == (400, {"error": "body: not JSON"})
    await room.settle()
    assert room.sendgrid.requests == []


async def test_without_an_e_mail_channel_subscribing_is_a_503(make_world: MakeWorld) -> None:
    w = await make_world()  # a webhook-like channel only
    r = await w.post("/api/v1/subscribe", {"email": ANA}, token=None)
    assert r.status == 503 and "need an e-mail channel" in r.body["error"]
    assert 'action="subscribe"' not in (await w.get("/")).text  # and no form on the page


async def test_expired_forged_and_misused_links_do_nothing(mailroom: MakeRoom) -> None:
    room = await mailroom()
    w = room.w
    await room.subscribe({"email": ANA})
    await room.settle()
    confirm = link_in(room.to(ANA)[0], "subscribe/confirm")
    token = token_of(confirm)
    body, _, mac = token.partition(".")

    forged = "/subscribe/confirm?token=" + body + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    r = await w.get(forged)
    assert r.status == 403 and "This link is not valid" in r.text
    theirs = Links(BASE, (b"not our key" * 3,)).confirm_token("x", "y", w.clock.now() + 60)
    assert (await w.get(f"/subscribe/confirm?token={theirs}")).status == 403
    for junk in ("", "abc", "a.b.c", "%FF.%FF", "x" * 5000):
        assert (await w.get(f"/subscribe/confirm?token={junk}")).status in (400, 403), junk
    wrong_kind = room.links.unsubscribe_token(ANA)  # good, but not a confirm link
    assert (await w.get(f"/subscribe/confirm?token={wrong_kind}")).status == 400
    assert (await w.get(f"/unsubscribe?token={token}")).status == 400  # and the other way
    assert (await w.post(f"/unsubscribe?token={body}.{mac[::-1]}", token=None)).status == 403
    assert (await w.post(f"/preferences?token={token}", token=None)).status == 400

    w.clock.advance(CONFIRM_TTL + 1)
    r = await w.get(confirm)
    assert r.status == 400 and "This link has expired" in r.text
    row = await w.store.subscriber(ANA)
    assert row is not None and row.state == "pending"
    assert ANA not in [s.email for s in w.engine.subscribers]


async def test_a_configured_secret_signs_and_older_links_still_work(
    mailroom: MakeRoom,
) -> None:
    room = await mailroom(server={"subscription_secret": "s3cret-for-links-0123456789"})
    store_key = await room.w.store.subscription_key()
    assert room.links.keys == (b"s3cret-for-links-0123456789", store_key)
    older = Links(BASE, (store_key,)).unsubscribe_token(LISTED)  # signed before the secret
    r = await room.w.get(f"/unsubscribe?token={older}")
    assert r.status == 200 and "Your e-mail notices" in r.text


async def test_preferences_take_effect_for_the_next_notice(mailroom: MakeRoom) -> None:
    """A config subscriber opens the link from a notice, and chooses: French, one component."""
    room = await mailroom()
    w = room.w
    await w.outage("web")
    [mail] = await room.notices_to(LISTED, 1)
    manage = local(mail["personalizations"][0]["headers"]["List-Unsubscribe"][1:-1])

    page = await w.get(manage)  # shows; changes nothing (mail scanners follow links)
    assert page.status == 200 and "Notices about Acme Cloud go to it@initech.example." in page.text
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert page.text.count('type="checkbox"') == 2 and page.text.count(" checked") == 2
    assert LISTED in [s.email for s in w.engine.subscribers]

    prefs = manage.replace("/unsubscribe?", "/preferences?")
    bad = await w.call("POST", prefs, data={"locale": "xx"})
    assert bad.status == 400 and "Language" in bad.text
    r = await w.call(
        "POST", prefs, data={"locale": "fr", "timezone": "Europe/Paris", "components": "api"}
    )
    assert r.status == 200 and "Préférences enregistrées" in r.text and 'lang="fr"' in r.text
    [me] = [s for s in w.engine.subscribers if s.email == LISTED]
    assert (me.locale, me.timezone, me.components) == ("fr", "Europe/Paris", ["api"])
    again = await w.get(manage)
    assert again.text.count(" checked") == 1 and 'value="Europe/Paris"' in again.text

    await w.feed("web", UP, 2)  # the web incident's monitoring notice: not for them any more
    [web] = [i for i in await w.store.incidents() if i.component_ids == ["web"]]
    monitoring = await w.store.outbox_rows(f"{web.id}.2")
    assert monitoring and all(LISTED not in [p["email"] for p in r.recipients] for r in monitoring)
    inc = await w.outage("api")
    await room.notices_to(LISTED, 2)
    [row] = [
        r
        for r in await w.store.outbox_rows(f"{inc.id}.1")
        if LISTED in [p["email"] for p in r.recipients]
    ]
    assert row.stream is not None and row.stream.endswith("/fr|Europe/Paris|0")
    assert row.message["locale"] == "fr"


async def test_a_listed_subscriber_unsubscribes_and_a_reload_keeps_it(mailroom: MakeRoom) -> None:
    """The config still lists the address: the link wins, now and after a reload."""
    room = await mailroom()
    w = room.w
    manage = local(room.links.unsubscribe_url(LISTED) or "")
    r = await w.call("POST", manage, data={"List-Unsubscribe": "One-Click"})
    assert r.status == 200 and "You are unsubscribed" in r.text
    assert "Subscribe again" in r.text  # in case it was a slip
    row = await w.store.subscriber(LISTED)
    assert row is not None and row.state == UNSUBSCRIBED
    assert LISTED not in [s.email for s in w.engine.subscribers]
    r = await w.call("POST", manage, data=ONE_CLICK)  # again: the same answer
    assert r.status == 200

    people = w.client.app[SERVICES].audience
    assert people is not None
    seed = [*people.seed, Subscriber(name="Hooli", email="hooli@customers.example")]
    await w.engine.reconfigure(w.config, room.channels, people.reseed(seed))
    emails = [s.email for s in w.engine.subscribers]
    assert LISTED not in emails and "hooli@customers.example" in emails

    page = await w.get(manage)
    assert "it@initech.example gets no notices about Acme Cloud." in page.text
    assert 'name="List-Unsubscribe"' not in page.text  # nothing to unsubscribe from
    back = await w.call("POST", manage.replace("/unsubscribe?", "/preferences?"), data={})
    assert back.status == 200 and LISTED in [s.email for s in w.engine.subscribers]


async def test_the_status_page_form(mailroom: MakeRoom) -> None:
    room = await mailroom()
    w = room.w
    page = await w.get("/?lang=pl")
    assert '<form method="post" action="subscribe"' in page.text
    assert "form-action 'self'" in page.headers["Content-Security-Policy"]
    assert 'option value="pl" lang="pl" selected' in page.text

    form = {
        "email": ANA,
        "locale": "pl",
        "timezone": "Europe/Warsaw",
        "components": ["api", "web"],
    }
    r = await w.call("POST", "/subscribe", data=[(k, v) for k in form for v in _many(form[k])])
    assert r.status == 200 and "Sprawdź skrzynkę" in r.text and 'lang="pl"' in r.text
    await room.settle()
    [mail] = room.to(ANA)
    assert mail["subject"] == "Potwierdź powiadomienia e-mail: Acme Cloud"
    row = await w.store.subscriber(ANA)
    assert row is not None and row.components is None  # every one ticked: all, new ones too

    bad = await w.call("POST", "/subscribe", data={"email": "nope", "locale": "ar"})
    assert bad.status == 400 and 'dir="rtl"' in bad.text
    assert Chrome("ar", "UTC").t("sub_email") in bad.text

    w.client.app[STATE].client = Limiter(0, CLIENT_EVERY)
    busy = await w.call("POST", "/subscribe", data={"email": ANA, "locale": "fr"})
    assert busy.status == 429 and busy.headers["Retry-After"] == "60"
    assert "Trop de demandes" in busy.text


def _many(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("lang", LANGS)
async def test_the_pages_speak_the_subscribers_language(mailroom: MakeRoom, lang: str) -> None:
    room = await mailroom()
    w = room.w
    await room.subscribe({"email": ANA, "locale": lang})
    await room.settle()
    [mail] = room.to(ANA)
    chrome = Chrome(lang, "UTC")
    words = {key: chrome.t(key) for key in SOURCE}
    assert words["mail_confirm_action"] in text(mail)
    page = await w.get(link_in(mail, "subscribe/confirm"))
    direction = "rtl" if lang == "ar" else "ltr"
    assert f'<html lang="{lang}" dir="{direction}">' in page.text
    assert f'href="../?lang={lang}"' in page.text  # back to the status page, from below it
    assert words["sub_confirmed_title"] in page.text
    assert page.headers["Content-Language"] == lang
    manage = await w.get(room.links.unsubscribe_url(ANA, "/") or "")
    assert words["sub_unsubscribe"] in manage.text and words["sub_prefs_heading"] in manage.text
    assert f'href="./?lang={lang}"' in manage.text
    if lang == "ar":  # Latin runs kept whole in right-to-left text
        assert "\u2068Acme Cloud\u2069" in mail["subject"]
        assert f"\u2068{ANA}\u2069" in page.text
