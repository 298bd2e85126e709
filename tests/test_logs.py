"""Issue 8: one log pipeline, redacted. Every encoded form of a secret is scrubbed; loggers made
before `configure()` and plain stdlib loggers come out as redacted JSON like the rest; channel
details (the outbox row's last_error) are scrubbed of the same forms.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from detector import logs
from detector.channels.base import MAX_DETAIL, Delivery, Envelope, Recipient, redact, redacted
from detector.channels.sendgrid import SendGrid
from detector.channels.twilio import Twilio
from detector.config.models import SendgridChannel, TwilioChannel
from detector.daemon import secrets_of
from detector.notices.model import Message
from tests.delivery.stack import ENV, build_config, channel_configs
from tests.doubles.twilio_double import DEFAULT_SID

# Characters that URL-encoding, JSON and base64 all change, so every form differs from the raw.
SECRET = 's3cr+et/Val=ue&x y"q'
SID = "AC" + "9f" * 16
PAIR_TOKEN = "pair+T0ken/zz=9"
ROOT = Path(__file__).resolve().parent.parent


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forms(secret: str) -> dict[str, str]:
    """What the issue lists, named: the secret raw, URL-encoded, base64."""
    return {
        "raw": secret,
        "quote": quote(secret, safe=""),
        "quote-default": quote(secret),
        "quote_plus": quote_plus(secret),
        "quote-lowercase-hex": re.sub(
            r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe="")
        ),
        "base64": b64(secret),
        "base64-unpadded": b64(secret).rstrip("="),
        "base64-urlsafe": base64.urlsafe_b64encode(secret.encode()).decode(),
        "json-escaped": json.dumps(secret)[1:-1],
    }


def leaks(text: str, *secrets: str, pairs: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """Every form of every secret (and Basic pair) that `text` still contains."""
    found = [f"{name} of {s!r}" for s in secrets for name, f in forms(s).items() if f in text]
    for user, secret in pairs:
        pair = b64(f"{user}:{secret}")
        found += [f"Basic pair {user}:…" for f in (pair, pair.rstrip("=")) if f in text]
    return found


@pytest.fixture(autouse=True)
def registered() -> None:
    logs.register_secrets([SECRET, PAIR_TOKEN, logs.basic_auth(SID, PAIR_TOKEN)])


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Logging configured at debug into a buffer; the root logger restored afterwards."""
    root = logging.getLogger()
    level = root.level
    buf = io.StringIO()
    logs.configure("debug", buf)
    yield buf
    logs.reset()
    root.setLevel(level)


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


# --- each encoded form ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(forms(SECRET)))
def test_each_encoded_form_is_scrubbed(name: str) -> None:
    text = f"provider said: <{forms(SECRET)[name]}> (end)"
    out = logs.scrub(text)
    assert not leaks(out, SECRET), out
    assert "[redacted]" in out and out.startswith("provider said: <") and out.endswith("> (end)")


def test_basic_pair_registered_with_its_user_is_scrubbed() -> None:
    for header in (f"Basic {b64(f'{SID}:{PAIR_TOKEN}')}", b64(f"{SID}:{PAIR_TOKEN}").rstrip("=")):
        assert not leaks(logs.scrub(f"echo: {header}"), PAIR_TOKEN, pairs=((SID, PAIR_TOKEN),))


def test_secret_inside_any_base64_run_is_scrubbed() -> None:
    """base64 of `anyone:secret` (a user we never heard of) holds the secret's encoded middle."""
    for user in ("x", "xy", "xyz", "someone-else"):
        encoded = b64(f"{user}:{SECRET}")
        out = logs.scrub(f"blob {encoded} end")
        assert encoded not in out and "[redacted]" in out, (user, out)
        # what is left of the blob cannot be decoded back into any 4 characters of the secret
        rest = out.split()[1].replace("[redacted]", " ")
        for piece in rest.split():
            decoded = base64.b64decode(piece + "=" * (-len(piece) % 4), validate=False)
            assert not any(SECRET[i : i + 4].encode() in decoded for i in range(len(SECRET) - 3))


def test_authorization_values_are_scrubbed_even_if_never_registered() -> None:
    unknown = "zZ9-unregistered.Tok3n"
    for text in (
        f"Authorization: Bearer {unknown}",
        f"authorization=Basic {b64('u:' + unknown)}",
        f"{{'Authorization': 'Bearer {unknown}', 'Accept': '*/*'}}",
        f'"authorization": "{unknown}"',
        f"curl -H 'Authorization: {unknown}'",
        f"retrying with bearer {unknown} now",
    ):
        out = logs.scrub(text)
        assert unknown not in out and b64("u:" + unknown) not in out, out
        assert "[redacted]" in out
    # words are not credentials
    for prose in (
        "Basic authentication is off",
        "authorization: a valid bearer token is required",
        "Bearer token missing",
    ):
        assert logs.scrub(prose) == prose


def test_secret_named_keys_and_nested_values_are_hidden(stream: io.StringIO) -> None:
    log = logs.get("detector.test")
    log.info(
        "sending",
        token="anything",
        headers={"Authorization": "x", "Accept": "json"},
        tried=[f"url?key={quote_plus(SECRET)}", {"password": "p"}],
        attempt=2,
    )
    [line] = lines(stream)
    assert line["token"] == "[redacted]" and line["headers"]["Authorization"] == "[redacted]"
    assert line["headers"]["Accept"] == "json" and line["attempt"] == 2
    assert line["tried"] == ["url?key=[redacted]", {"password": "[redacted]"}]


def test_an_objects_repr_is_scrubbed_on_the_rendered_line(stream: io.StringIO) -> None:
    class Response:
        def __repr__(self) -> str:
            return (
                f"<Response headers={{'Authorization': 'Basic {b64(SID + ':' + PAIR_TOKEN)}'}}"
                f" body={SECRET!r}>"
            )

    logs.get("detector.test").warning("odd response", response=Response())
    text = stream.getvalue()
    assert not leaks(text, SECRET, PAIR_TOKEN, pairs=((SID, PAIR_TOKEN),)), text
    assert "[redacted]" in lines(stream)[0]["response"]


# --- loggers made before configure(), and stdlib loggers -----------------------------------


def test_logger_created_and_used_before_configure_redacts_after_it() -> None:
    logs.reset()
    early = logs.get("detector.early", component="api")
    early.debug("used before configure")  # first use: nothing may be cached from it
    bound = early.bind(incident_id="inc-1")
    root = logging.getLogger()
    level = root.level
    buf = io.StringIO()
    logs.configure("debug", buf)
    try:
        early.warning("leaked?", detail=f"token={SECRET}")
        bound.info("also leaked?", detail=f"key={quote(SECRET, safe='')}")
    finally:
        logs.reset()
        root.setLevel(level)
    first, second = lines(buf)
    assert first["detail"] == "token=[redacted]" and first["component"] == "api"
    assert first["logger"] == "detector.early" and first["level"] == "warning"
    assert second["detail"] == "key=[redacted]" and second["incident_id"] == "inc-1"
    assert not leaks(buf.getvalue(), SECRET)


def test_module_logger_made_at_import_redacts_in_a_fresh_process() -> None:
    """probes.runner makes its logger at import, long before the CLI calls configure()."""
    script = (
        "import io, sys\n"
        "from probes import runner\n"
        "from detector import logs\n"
        "runner.log.info('first use, before configure')\n"
        f"logs.register_secrets([{SECRET!r}])\n"
        "buf = io.StringIO()\n"
        "logs.configure('info', buf)\n"
        f"runner.log.warning('probe crashed', probe='api-health', detail='token=' + {SECRET!r})\n"
        "sys.stdout.write(buf.getvalue())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert line["logger"] == "probes" and line["probe"] == "api-health"
    assert line["detail"] == "token=[redacted]"
    assert not leaks(done.stdout + done.stderr, SECRET)


def test_stdlib_logger_is_redacted_json(stream: io.StringIO) -> None:
    logging.getLogger("aiohttp.client").warning(
        "request to %s failed; sent Authorization: Basic %s",
        f"https://x/?k={quote(SECRET)}",
        b64(f"{SID}:{PAIR_TOKEN}"),
    )
    [line] = lines(stream)
    assert line["logger"] == "aiohttp.client" and line["level"] == "warning"
    assert "timestamp" in line and "[redacted]" in line["event"]
    assert not leaks(stream.getvalue(), SECRET, PAIR_TOKEN, pairs=((SID, PAIR_TOKEN),))


@pytest.mark.parametrize(
    "name",
    [
        "asyncio",
        "aiosqlite",
        "sqlalchemy.engine",
        "twilio.http_client",
        "detector.channels.twilio.sdk",
    ],
)
def test_library_loggers_go_through_the_same_chain(stream: io.StringIO, name: str) -> None:
    logger = logging.getLogger(name)
    was = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        logger.error("Response Headers: {'X-Echo': %r}", SECRET)
    finally:
        logger.setLevel(was)
    [line] = lines(stream)
    assert line["logger"] == name and line["event"] == "Response Headers: {'X-Echo': '[redacted]'}"


def test_tracebacks_and_warnings_are_redacted_json(stream: io.StringIO) -> None:
    try:
        raise RuntimeError(f"connect failed, password={SECRET}")
    except RuntimeError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
        logs.get("detector.test").exception("tick failed")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"deprecated auth {quote_plus(SECRET)}", UserWarning, stacklevel=1)
    got = lines(stream)
    assert [x["logger"] for x in got] == ["asyncio", "detector.test", "py.warnings"]
    assert all("[redacted]" in x.get("exception", x["event"]) for x in got)
    assert not leaks(stream.getvalue(), SECRET)


def test_level_applies_to_both_kinds_and_configure_again_does_not_stack() -> None:
    root = logging.getLogger()
    level = root.level
    buf = io.StringIO()
    logs.configure("info", io.StringIO())
    logs.configure("warning", buf)
    try:
        logs.get("detector.test").info("quiet")
        logging.getLogger("aiohttp.web").info("quiet")
        logs.get("detector.test").warning("loud")
        logging.getLogger("aiohttp.web").error("loud")
    finally:
        logs.reset()
        root.setLevel(level)
    assert [(x["logger"], x["event"]) for x in lines(buf)] == [
        ("detector.test", "loud"),
        ("aiohttp.web", "loud"),
    ]


# --- cutting a detail ----------------------------------------------------------------------

CUT_SECRET = "Q7#K9!ZW4$MP"  # no character of the filler or of "[redacted]"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["filler ", CUT_SECRET, "x", " " * 40]), max_size=400),
    st.integers(min_value=1, max_value=400),
)
def test_a_cut_never_leaves_part_of_a_secret(parts: list[str], limit: int) -> None:
    out = logs.scrub("".join(parts), limit, also=[CUT_SECRET])
    assert len(out) <= limit
    assert not any(CUT_SECRET[i : i + 4] in out for i in range(len(CUT_SECRET) - 3)), out


def test_redact_covers_every_form_and_cuts_to_one_short_line() -> None:
    own = "ch4nnel+Own/Key=="  # passed in, never registered
    text = "; ".join(forms(own).values()) + " " + "z" * 1000
    out = redact(text, own)
    assert len(out) == MAX_DETAIL and not leaks(out, own)
    # a provider's message cut at the limit with the key across it
    out = redact("e" * (MAX_DETAIL - 5) + own, own)
    assert len(out) <= MAX_DETAIL and own[:4] not in out
    # registered secrets need not be passed
    assert not leaks(redact(f"echo {SECRET}"), SECRET)
    same = Delivery(True, "accepted")
    assert redacted(same, own) is same
    changed = redacted(Delivery(False, f"HTTP 401: {b64(own)}", permanent=True), own)
    assert changed.detail == "HTTP 401: [redacted]" and changed.permanent


def test_secrets_of_walks_the_config(tmp_path: Path) -> None:
    admin = "admin-T0ken/with+chars"
    channels = channel_configs(
        sendgrid="http://127.0.0.1:9/",
        twilio="http://127.0.0.1:9/",
        webhook="http://127.0.0.1:9/hook",
    )
    config = build_config(tmp_path, channels, [], server={"admin_token": admin})
    found = secrets_of(config)
    assert set(found) >= {
        admin,
        ENV["WEBHOOK_SECRET"],
        ENV["SENDGRID_API_KEY"],
        ENV["TWILIO_AUTH_TOKEN"],
        logs.basic_auth(DEFAULT_SID, ENV["TWILIO_AUTH_TOKEN"]),
    }
    assert DEFAULT_SID not in found  # an identifier, not a secret


# --- channel details: what the outbox row's last_error keeps -------------------------------


def echo_text(authorization: str) -> str:
    """What a careless provider or proxy says back: the header and the credential, encoded."""
    scheme, _, credential = authorization.partition(" ")
    secret = credential
    if scheme == "Basic":
        secret = base64.b64decode(credential).decode().partition(":")[2]
    return (
        f"denied for {authorization!r}; key {secret} url {quote(secret, safe='')} "
        f"form {quote_plus(secret)} b64 {b64(secret)} headers {{'Authorization': "
        f"'{authorization}'}}"
    )


class EchoProvider:
    """SendGrid's and Twilio's routes, refusing every request with the credential echoed."""

    def __init__(self) -> None:
        self.url = ""
        self.seen = 0
        self._runner: web.AppRunner | None = None

    async def _sendgrid(self, request: web.Request) -> web.Response:
        self.seen += 1
        text = echo_text(request.headers.get("Authorization", ""))
        return web.json_response({"errors": [{"message": text, "field": None}]}, status=400)

    async def _twilio(self, request: web.Request) -> web.Response:
        self.seen += 1
        text = echo_text(request.headers.get("Authorization", ""))
        return web.json_response(
            {
                "code": 20003,
                "message": text,
                "status": 401,
                "more_info": "https://www.twilio.com/docs/errors/20003",
            },
            status=401,
        )

    async def start(self) -> EchoProvider:
        app = web.Application()
        app.router.add_post("/v3/mail/send", self._sendgrid)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def echo() -> AsyncIterator[EchoProvider]:
    provider = await EchoProvider().start()
    yield provider
    await provider.stop()


def envelope() -> Envelope:
    message = Message(locale="en", subject="s", text="t", html="<p>t</p>", sms="down")
    return Envelope(
        id="row-1",
        notice_id="inc-1.1",
        event="incident.opened",
        message=message,
        payload={},
        recipients=[Recipient("Globex", "ops@globex.example", "+48225550100")],
    )


async def _send(make: Callable[[str], Twilio | SendGrid], url: str) -> Delivery:
    channel = make(url)
    try:
        return await channel.send(envelope())
    finally:
        await channel.close()


async def test_twilio_detail_and_log_never_hold_the_echoed_credential(
    echo: EchoProvider, stream: io.StringIO
) -> None:
    token = "tw+Detail/T0ken=9&q"

    def make(url: str) -> Twilio:
        cfg = TwilioChannel.model_validate(
            {
                "type": "twilio",
                "account_sid": SID,
                "auth_token": token,
                "from": "+15550100",
                "api_base": url,
            }
        )
        return Twilio(cfg, "twilio-0", timeout=5)

    d = await _send(make, echo.url)
    assert echo.seen == 1 and not d.ok and d.permanent
    assert "Twilio HTTP 401" in d.detail and "[redacted]" in d.detail
    assert not leaks(d.detail, token, pairs=((SID, token),)), d.detail
    assert not leaks(stream.getvalue(), token, pairs=((SID, token),))
    assert any(
        x["logger"] == "detector.channels.twilio" and x["level"] == "warning" for x in lines(stream)
    )


async def test_sendgrid_detail_and_log_never_hold_the_echoed_key(
    echo: EchoProvider, stream: io.StringIO
) -> None:
    key = "SG.detail+Key/0123456789=abc&d"

    def make(url: str) -> SendGrid:
        cfg = SendgridChannel.model_validate(
            {"type": "sendgrid", "api_key": key, "from": "status@acme.example", "api_base": url}
        )
        return SendGrid(cfg, "sendgrid-0", timeout=5)

    d = await _send(make, echo.url)
    assert echo.seen == 1 and not d.ok and d.permanent
    assert d.detail.startswith("SendGrid HTTP 400: ") and "[redacted]" in d.detail
    assert len(d.detail) <= MAX_DETAIL and not leaks(d.detail, key), d.detail
    assert not leaks(stream.getvalue(), key)
