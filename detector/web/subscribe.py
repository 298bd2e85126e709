"""Customers in control of what they get (CONTRACT §4, §7.12): sign up with double opt-in,
one-click unsubscribe (RFC 8058), preferences.

    POST /api/v1/subscribe          JSON {email, components, locale, timezone} → 202
    POST /subscribe                 the status page's form → a page
    GET  /subscribe/confirm?token=  the link in the confirmation e-mail → confirmed, a page
    GET  /unsubscribe?token=        a page: a one-click button and the preferences form
    POST /unsubscribe?token=        one click (body `List-Unsubscribe=One-Click`) → 200
    POST /preferences?token=        components, language, time zone → a page

A sign-up answers 202 with the same body whether the address is new, pending, confirmed or
unsubscribed; the e-mail goes out afterwards (never in the answer's time). A new, pending or
unsubscribed address is sent a link to confirm; a confirmed one is sent its preferences link
instead, so a stranger can change nothing. The e-mail goes through the first `sendgrid` or
`smtp` channel; with none, subscribing is a 503. Sign-ups are rate-limited per client address
and per e-mail address (token buckets in memory, per instance: 429 + Retry-After).

Links are signed (detector.channels.links) with `server.subscription_secret`, else with a random
key made once per store and kept in its `meta` table, so every instance of one store signs and
checks alike with nothing to configure; both are accepted, so setting a secret later breaks no
link already sent. The base of every link is `service.status_page_url`.

Who hears a notice (`Audience`): the config's and CSV's subscribers as the store amends them
(detector.store.subscribers.audience), held in the engine's `subscribers`. A change made here
is applied to this instance's engine before the answer; every instance also reads the store's
subscribers revision every POLL seconds and re-reads the rows when it changed, so with several
instances the leader follows a change made on another within POLL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aiohttp import web

from detector import logs
from detector.channels.base import Channel, Envelope, Message, Recipient
from detector.channels.links import CONFIRM, UNSUBSCRIBE, BadToken, Links
from detector.config.models import Config, Subscriber
from detector.health import describe
from detector.incidents.engine import Engine
from detector.store import STORE_ERRORS, Store
from detector.store.subscribers import CONFIRMED, Choice, SubscriberRow, audience
from detector.web.app import SERVICES, Services
from detector.web.i18n import LANGS, NAMES, Chrome, pick_language
from detector.web.pages import PAGES

CONFIRM_TTL = 48 * 3600.0  # a confirm link works this long (the e-mail says "48 hours")
# token buckets: BURST at once, then one more every EVERY seconds
CLIENT_BURST, CLIENT_EVERY = 10, 60.0  # per client address
EMAIL_BURST, EMAIL_EVERY = 3, 600.0  # per e-mail address
BUCKETS = 10_000  # buckets kept per limiter; the least recently used go first
POLL = 0.5  # seconds between reads of the store's subscribers revision
SENDS = 64  # confirmation e-mails in flight at once; more wait their turn
EMAIL_KINDS = ("sendgrid", "smtp")
FIELDS = ("email", "components", "locale", "timezone", "name")
MAX_EMAIL, MAX_NAME = 254, 100
_EMAIL_RE = re.compile(r"[^@\s<>,;\"'()\[\]\\]+@[^@\s<>,;\"'()\[\]\\]+\.[^@\s<>,;\"'()\[\]\\]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
ACCEPTED = {
    "status": "accepted",
    "message": "If this address can receive e-mail, a link to confirm is on its way; nothing "
    "else is sent to it until that link is opened.",
}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # the token in the address must not travel on as a Referer
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}
log = logs.get("detector.web.subscribe")


# --- who hears a notice --------------------------------------------------------------------


class Audience:
    """The engine's `subscribers`: `seed` (config and CSV) as the store's rows amend it."""

    def __init__(self, store: Store, engine: Engine, seed: Sequence[Subscriber]) -> None:
        self.store = store
        self.engine = engine
        self.seed = list(seed)
        self.rows: list[SubscriberRow] = []
        self.revision: str | None = None
        self.loaded = False
        self._reading = asyncio.Lock()

    def merged(self) -> list[Subscriber]:
        return audience(self.seed, self.rows)

    def reseed(self, seed: Sequence[Subscriber]) -> list[Subscriber]:
        """A reloaded config's subscribers; returns the audience to give the engine."""
        self.seed = list(seed)
        return self.merged()

    async def refresh(self, *, force: bool = False) -> bool:
        """Read the rows again if they changed (one small read when they did not), and give
        the engine the audience. True if it was read."""
        async with self._reading:
            revision = await self.store.subscribers_revision()
            if self.loaded and not force and revision == self.revision:
                return False
            self.rows = await self.store.subscriber_rows()
            self.revision, self.loaded = revision, True
            await self.apply()
            return True

    async def apply(self) -> None:
        """The audience as it is now, into the engine (between its decisions)."""
        async with self.engine.lock:
            self.engine.subscribers = self.merged()

    async def run(self, every: float = POLL) -> None:
        """Follow changes other instances make (several instances share one store)."""
        failing = False
        while True:
            await asyncio.sleep(every)
            try:
                await self.refresh()
            except STORE_ERRORS as e:
                if not failing:
                    log.warning("subscribers not read; the last list stays", error=describe(e))
                failing = True
            else:
                if failing:
                    log.info("subscribers read again")
                failing = False


async def links_for(config: Config, store: Store) -> Links:
    """The links every e-mail carries and every subscription page checks."""
    keys: list[bytes] = []
    if config.server.subscription_secret is not None:
        keys.append(config.server.subscription_secret.get_secret_value().encode())
    keys.append(await store.subscription_key())
    return Links(page_base(config), tuple(keys))


def page_base(config: Config) -> str | None:
    url = config.service.status_page_url
    if url is None:
        return None
    text = str(url)
    return text if text.endswith("/") else text + "/"


# --- limits --------------------------------------------------------------------------------


class Limiter:
    """Token buckets by key, on the monotonic clock: `take` is 0 when allowed, else the
    seconds until it would be."""

    def __init__(self, burst: int, every: float, size: int = BUCKETS) -> None:
        self.burst = burst
        self.every = every
        self.size = size
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # (tokens, at)

    def take(self, key: str, now: float) -> float:
        tokens, at = self.buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - at) / self.every)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) * self.every
        self.buckets[key] = (tokens, now)
        while len(self.buckets) > self.size:
            self.buckets.popitem(last=False)
        return wait


@dataclass
class State:
    client: Limiter = field(default_factory=lambda: Limiter(CLIENT_BURST, CLIENT_EVERY))
    email: Limiter = field(default_factory=lambda: Limiter(EMAIL_BURST, EMAIL_EVERY))
    sends: set[asyncio.Task[None]] = field(default_factory=set)
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(SENDS))

    def send(self, channel: Channel, envelope: Envelope) -> None:
        task = asyncio.create_task(self._send(channel, envelope))
        self.sends.add(task)
        task.add_done_callback(self.sends.discard)

    async def _send(self, channel: Channel, envelope: Envelope) -> None:
        async with self.slots:
            try:
                delivery = await channel.send(envelope)
            except Exception:
                log.exception("subscription e-mail failed", channel=channel.name)
                return
        if not delivery.ok:  # the channel logged the provider's words
            log.warning("subscription e-mail not sent", channel=channel.name)

    async def settle(self) -> None:
        """Wait for the e-mails under way (tests; a stopping server)."""
        while self.sends:
            await asyncio.gather(*list(self.sends), return_exceptions=True)


STATE: web.AppKey[State] = web.AppKey("subscriptions", State)


# --- input ---------------------------------------------------------------------------------


class Invalid(Exception):
    """A field that is wrong: `message` names it (the API's 400), `key` its page label."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name}: {why}")
        self.message = f"{name}: {why}"
        self.key = {
            "email": "sub_email",
            "locale": "language",
            "timezone": "sub_timezone",
            "name": "sub_email",
        }.get(name.split("[")[0], "sub_which")


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    from zoneinfo import available_timezones

    return frozenset(available_timezones() | {"UTC"})


def check_email(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("email", "expected a string")
    v = value.strip()
    if len(v) > MAX_EMAIL or not _EMAIL_RE.fullmatch(v):
        raise Invalid("email", "not an e-mail address")
    return v.lower()


def check_components(value: Any, config: Config) -> list[str] | None:
    """Known component ids; none, or every one, means all (None: new components too)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise Invalid("components", "expected a list of component ids")
    known = [c.id for c in config.components]
    for i, cid in enumerate(value):
        if not isinstance(cid, str) or cid not in known:
            raise Invalid(
                f"components[{i}]", f"unknown component {cid!r} (known: {', '.join(known)})"
            )
    chosen = list(dict.fromkeys(value))
    return None if not chosen or set(chosen) == set(known) else chosen


def check_locale(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value not in LANGS:
        raise Invalid("locale", f"{value!r} is not supported (use one of {', '.join(LANGS)})")
    return value


def check_timezone(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or value.strip() not in _zones():
        shown = value if isinstance(value, str) and len(value) <= 64 else "that"
        raise Invalid("timezone", f"unknown time zone {shown!r} (an IANA name like Europe/Warsaw)")
    return value.strip()


def check_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME or _CONTROL_RE.search(value):
        raise Invalid("name", f"a name of at most {MAX_NAME} characters, on one line")
    return " ".join(value.split()) or None


def from_json(body: Any, config: Config) -> Choice:
    if not isinstance(body, dict):
        raise Invalid("body", "expected a JSON object")
    for key in body:
        if key not in FIELDS:
            raise Invalid(str(key), f"unknown field (known: {', '.join(FIELDS)})")
    if "email" not in body:
        raise Invalid("email", "required")
    return Choice(
        email=check_email(body["email"]),
        name=check_name(body.get("name")),
        locale=check_locale(body.get("locale")),
        timezone=check_timezone(body.get("timezone")),
        components=check_components(body.get("components"), config),
    )


def from_form(form: Any, config: Config, email: str | None = None) -> Choice:
    """The status page's form (with `email`) or the preferences form (the link's address)."""
    return Choice(
        email=email if email is not None else check_email(form.get("email", "")),
        locale=check_locale(form.get("locale")),
        timezone=check_timezone(form.get("timezone")),
        components=check_components(form.getall("components", []), config),
    )


# --- pages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Box:
    id: str
    name: str
    checked: bool


@dataclass(frozen=True, slots=True)
class FormView:
    """What the choice fields show: each component (ticked or not), language, time zone."""

    components: list[Box]
    languages: list[tuple[str, str]]
    locale: str
    timezone: str


def form_view(
    config: Config,
    locale: str,
    components: list[str] | None = None,
    timezone: str | None = None,
) -> FormView:
    return FormView(
        components=[
            Box(c.id, c.name, components is None or c.id in components) for c in config.components
        ],
        languages=[(code, NAMES[code]) for code in LANGS],
        locale=locale if locale in LANGS else "en",
        timezone=timezone or config.service.timezone,
    )


def status_page_form(s: Services, lang: str) -> FormView | None:
    """The status page's sign-up form, or None where nobody can be e-mailed."""
    return form_view(s.config, lang) if email_channel(s) is not None else None


def _page(
    s: Services,
    lang: str,
    title: str,
    lines: Sequence[str] = (),
    *,
    status: int = 200,
    root: str = "",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    t = Chrome(lang, s.config.service.timezone)
    view = {"manage_url": None, "unsubscribe_action": None, "preferences": None, **extra}
    html = PAGES.get_template("subscription.html.j2").render(
        t=t, service=s.config.service, title=t.t(title), lines=lines, root=root, **view
    )
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={**PAGE_HEADERS, "Content-Language": t.lang, **(headers or {})},
    )


def _isolate(t: Chrome, text: str) -> str:
    """A left-to-right run (an address, a name, a link) kept whole in right-to-left text."""
    return f"\u2068{text}\u2069" if t.dir == "rtl" else text


def _lang(request: web.Request, s: Services, *preferred: str | None) -> str:
    """`?lang=`, then the subscriber's language, then the browser's, then the service's."""
    asked = request.query.get("lang")
    if asked in LANGS:
        return asked
    for lang in preferred:
        if lang in LANGS:
            return lang
    return pick_language(None, request.headers.get("Accept-Language"), s.config.service.locale)


def _base(request: web.Request, s: Services) -> str:
    return page_base(s.config) or f"{request.scheme}://{request.host}/"


def email_channel(s: Services) -> Channel | None:
    return next((ch for ch in s.engine.channels if ch.kind in EMAIL_KINDS), None)


def _audience(s: Services) -> Audience:
    assert s.audience is not None  # set by `setup`
    return s.audience


def _wait(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


# --- the confirmation e-mail ---------------------------------------------------------------


def confirmation(s: Services, lang: str, link: str, confirmed: bool) -> Message:
    """The double opt-in e-mail, or for an address already confirmed its preferences link."""
    t = Chrome(lang, s.config.service.timezone)
    kind = "manage" if confirmed else "confirm"
    service = _isolate(t, s.config.service.name)
    words = {
        "subject": t.t(f"mail_{kind}_subject", service=service),
        "hello": t.t("mail_hello"),
        "intro": t.t(f"mail_{kind}_intro", service=service),
        "action": t.t(f"mail_{kind}_action"),
        "ignore": t.t(f"mail_{kind}_ignore"),
        "signature": t.t(
            "mail_signature", name=_isolate(t, s.config.service.contact.name), service=service
        ),
    }
    text = "\n\n".join(
        [words["hello"], words["intro"], words["action"], link, words["ignore"], words["signature"]]
    )
    html = PAGES.get_template("subscription_mail.html.j2").render(
        lang=t.lang, dir=t.dir, link=link, **words
    )
    return Message(locale=t.lang, subject=words["subject"], text=text + "\n", html=html, sms="")


# --- handlers ------------------------------------------------------------------------------


class Refused(Exception):
    """A sign-up not taken: 429 (with the wait) or 503."""

    def __init__(self, status: int, message: str, wait: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.wait = wait


def _admit(request: web.Request, s: Services) -> Channel:
    """Before the input is read: an e-mail channel, and the client within its limit."""
    channel = email_channel(s)
    if channel is None:
        raise Refused(
            503,
            "subscriptions need an e-mail channel (sendgrid or smtp) in the configuration",
        )
    wait = request.app[STATE].client.take(request.remote or "?", s.engine.clock.monotonic())
    if wait:
        raise Refused(429, "too many sign-ups from this address; try again later", wait)
    return channel


async def _sign_up(request: web.Request, s: Services, channel: Channel, choice: Choice) -> None:
    """The e-mail address within its limit, the row, the e-mail on its way (not awaited)."""
    state = request.app[STATE]
    wait = state.email.take(choice.email, s.engine.clock.monotonic())
    if wait:
        raise Refused(429, "too many sign-ups for this e-mail address; try again later", wait)
    now = s.engine.clock.now()
    links = await links_for(s.config, s.store)
    row, before = await s.store.request_subscription(choice, now)
    base = _base(request, s)
    confirmed = row.state == CONFIRMED
    if confirmed:
        link = links.unsubscribe_url(row.email, base) or ""
    else:
        link = links.confirm_url(row.id, row.nonce, now + CONFIRM_TTL, base)
    lang = row.locale or s.config.service.locale
    envelope = Envelope(
        # a new id for every e-mail: SMTP derives the Message-ID from it, and a receiver drops
        # a repeated one (a second confirmation request would never arrive)
        id=f"subscription/{row.id}/{secrets.token_hex(8)}",
        notice_id=f"subscription.{row.id}",
        event="subscription.confirm",
        message=confirmation(s, lang, link, confirmed),
        payload={"transactional": True},
        recipients=[Recipient(name=row.name or "", email=row.email)],
    )
    state.send(channel, envelope)
    log.info("subscription requested", was=before)


async def api_subscribe(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    try:
        channel = _admit(request, s)
        try:
            body = json.loads(await request.text())
        except (ValueError, RecursionError):
            raise Invalid("body", "not JSON") from None
        await _sign_up(request, s, channel, from_json(body, s.config))
    except Invalid as e:
        return web.json_response({"error": e.message}, status=400)
    except Refused as e:
        headers = {"Retry-After": _wait(e.wait)} if e.status == 429 else {}
        return web.json_response({"error": e.message}, status=e.status, headers=headers)
    return web.json_response(ACCEPTED, status=202)


async def form_subscribe(request: web.Request) -> web.Response:
    """The status page's form: the same as the API, answered with a page."""
    s = request.app[SERVICES]
    form = await request.post()
    lang = _lang(request, s, str(form.get("locale", "")))
    t = Chrome(lang, s.config.service.timezone)
    try:
        channel = _admit(request, s)
        choice = from_form(form, s.config)
        await _sign_up(request, s, channel, choice)
    except Invalid as e:
        return _page(
            s,
            lang,
            "sub_error_title",
            [t.t("sub_error_field", field=t.t(e.key))],
            status=400,
        )
    except Refused as e:
        if e.status == 429:
            return _page(
                s,
                lang,
                "sub_busy_title",
                [t.t("sub_busy")],
                status=429,
                headers={"Retry-After": _wait(e.wait)},
            )
        return _page(s, lang, "sub_off_title", [t.t("sub_off")], status=e.status)
    return _page(s, lang, "sub_sent_title", [t.t("sub_sent", email=_isolate(t, choice.email))])


def _bad_link(s: Services, lang: str, e: BadToken, root: str = "") -> web.Response:
    t = Chrome(lang, s.config.service.timezone)
    why = {"expired": "sub_link_expired", "gone": "sub_link_used"}.get(e.reason, "sub_link_forged")
    return _page(s, lang, "sub_link_bad_title", [t.t(why)], status=e.status, root=root)


async def confirm(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    now = s.engine.clock.now()
    links = await links_for(s.config, s.store)
    try:
        payload = links.verify(request.query.get("token", ""), CONFIRM, now)
        sid, nonce = payload.get("s"), payload.get("n")
        if not isinstance(sid, str) or not isinstance(nonce, str):
            raise BadToken(400, "malformed")
        row = await s.store.confirm_subscription(sid, nonce, now)
        if row is None:
            raise BadToken(400, "gone")
    except BadToken as e:
        return _bad_link(s, _lang(request, s), e, root="../")
    await _audience(s).refresh()
    lang = _lang(request, s, row.locale)
    t = Chrome(lang, s.config.service.timezone)
    line = t.t(
        "sub_confirmed",
        email=_isolate(t, row.email),
        service=_isolate(t, s.config.service.name),
    )
    manage = links.unsubscribe_token(row.email)
    return _page(
        s,
        lang,
        "sub_confirmed_title",
        [line],
        root="../",
        manage_url=f"../unsubscribe?token={manage}",
    )


@dataclass(frozen=True, slots=True)
class Holder:
    """Whose link it is, and what they get now."""

    email: str
    token: str
    row: SubscriberRow | None
    listed: Subscriber | None  # in the config or a CSV

    @property
    def subscribed(self) -> bool:
        if self.row is not None and (self.row.silenced or self.row.state == CONFIRMED):
            return self.row.state == CONFIRMED
        return self.listed is not None

    @property
    def own(self) -> SubscriberRow | None:
        """The row when its choices are the owner's (confirmed now or once), not a request."""
        row = self.row
        if row is not None and (row.state == CONFIRMED or row.confirmed_at is not None):
            return row
        return None

    @property
    def locale(self) -> str | None:
        if self.own is not None and self.own.locale:
            return self.own.locale
        return self.listed.locale if self.listed else None

    def choices(self, config: Config, lang: str) -> FormView:
        if self.own is not None:
            return form_view(config, lang, self.own.components, self.own.timezone)
        if self.listed is not None:
            return form_view(config, lang, self.listed.components, self.listed.timezone)
        return form_view(config, lang)


async def _holder(request: web.Request, s: Services) -> Holder:
    links = await links_for(s.config, s.store)
    token = request.query.get("token", "")
    email = links.verify(token, UNSUBSCRIBE, s.engine.clock.now()).get("e")
    if not isinstance(email, str) or not email:
        raise BadToken(400, "malformed")
    listed = next(
        (p for p in _audience(s).seed if p.email and p.email.strip().lower() == email), None
    )
    return Holder(email, token, await s.store.subscriber(email), listed)


def _manage_page(
    s: Services,
    request: web.Request,
    holder: Holder,
    title: str,
    lines: list[str],
    *,
    status: int = 200,
) -> web.Response:
    lang = _lang(request, s, holder.locale)
    t = Chrome(lang, s.config.service.timezone)
    email, service = _isolate(t, holder.email), _isolate(t, s.config.service.name)
    if not lines:
        key = "sub_manage_intro" if holder.subscribed else "sub_manage_off"
        lines = [t.t(key, email=email, service=service)]
    query = f"?token={holder.token}"
    return _page(
        s,
        lang,
        title,
        lines,
        status=status,
        unsubscribe_action=f"unsubscribe{query}" if holder.subscribed else None,
        preferences={
            "action": f"preferences{query}",
            "form": holder.choices(s.config, lang),
            "button": "sub_save" if holder.subscribed else "sub_resubscribe",
        },
    )


async def manage(request: web.Request) -> web.Response:
    """GET /unsubscribe: never unsubscribes (mail scanners follow links); the page does."""
    s = request.app[SERVICES]
    try:
        holder = await _holder(request, s)
    except BadToken as e:
        return _bad_link(s, _lang(request, s), e)
    return _manage_page(s, request, holder, "sub_manage_title", [])


async def unsubscribe(request: web.Request) -> web.Response:
    """RFC 8058 one-click, and the page's button: unsubscribed at once."""
    s = request.app[SERVICES]
    try:
        holder = await _holder(request, s)
    except BadToken as e:
        return _bad_link(s, _lang(request, s), e)
    await request.read()  # `List-Unsubscribe=One-Click`: the token is what authorizes
    await s.store.unsubscribe(holder.email, s.engine.clock.now())
    await _audience(s).refresh()
    log.info("unsubscribed")
    row = await s.store.subscriber(holder.email)
    holder = Holder(holder.email, holder.token, row, holder.listed)
    t = Chrome(_lang(request, s, holder.locale), s.config.service.timezone)
    line = t.t("sub_unsubscribed", email=_isolate(t, holder.email))
    return _manage_page(s, request, holder, "sub_unsubscribed_title", [line])


async def preferences(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    try:
        holder = await _holder(request, s)
    except BadToken as e:
        return _bad_link(s, _lang(request, s), e)
    form = await request.post()
    try:
        choice = from_form(form, s.config, email=holder.email)
    except Invalid as e:
        lang = _lang(request, s, holder.locale)
        t = Chrome(lang, s.config.service.timezone)
        line = t.t("sub_error_field", field=t.t(e.key))
        return _manage_page(s, request, holder, "sub_error_title", [line], status=400)
    name = holder.row.name if holder.row else holder.listed.name if holder.listed else None
    row = await s.store.save_preferences(
        Choice(choice.email, name, choice.locale, choice.timezone, choice.components),
        s.engine.clock.now(),
    )
    await _audience(s).refresh()
    log.info("subscriber preferences saved")
    holder = Holder(holder.email, holder.token, row, holder.listed)
    t = Chrome(_lang(request, s, row.locale), s.config.service.timezone)
    return _manage_page(s, request, holder, "sub_saved_title", [t.t("sub_saved")])


def setup(app: web.Application) -> None:
    s = app[SERVICES]
    if s.audience is None:  # an app without the daemon (tests, tools): its own, read at start
        s.audience = Audience(s.store, s.engine, s.engine.subscribers)

        async def first_read(app: web.Application) -> None:
            await _audience(s).refresh()

        app.on_startup.append(first_read)
    app[STATE] = State()

    async def settle(app: web.Application) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await app[STATE].settle()
        for task in list(app[STATE].sends):
            task.cancel()

    app.on_cleanup.append(settle)
    app.router.add_post("/api/v1/subscribe", api_subscribe)
    app.router.add_post("/subscribe", form_subscribe)
    app.router.add_get("/subscribe/confirm", confirm)
    app.router.add_get("/unsubscribe", manage)
    app.router.add_post("/unsubscribe", unsubscribe)
    app.router.add_post("/preferences", preferences)
