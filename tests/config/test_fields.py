"""Values refused at the door: probe headers, senders and secrets that could only fail later."""

from __future__ import annotations

import typing
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from detector.channels.sendgrid import SendgridChannel
from detector.channels.twilio import TwilioChannel
from detector.channels.webhook import WebhookChannel
from detector.config import ConfigError, parse_config
from probes.http import HttpSpec
from tests.config._data import MINIMAL, config_models


def errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env or {})
    return info.value.lines


def http_probe(spec: str) -> str:
    """MINIMAL with its probe's http spec replaced by `spec` (a YAML flow mapping's inside)."""
    return MINIMAL.replace(
        'http: {url: "http://127.0.0.1:1/healthz"}',
        f'http: {{url: "http://127.0.0.1:1/healthz", {spec}}}',
    )


def channel(text: str) -> str:
    return MINIMAL + f"channels:\n  - {text}\n"


# --- probe headers ---------------------------------------------------------------------------


HTTP = "components[0].probes[0].http"


@pytest.mark.parametrize("value", ['"a\\r\\nX-Injected: 1"', '"a\\nb"', '"a\\rb"', '"a\\0b"'])
def test_header_value_with_cr_lf_or_nul_is_refused(value: str) -> None:
    assert errors(http_probe(f"headers: {{X-Foo: {value}}}")) == [
        f"{HTTP}.headers.X-Foo: header value must not contain CR, LF or NUL"
    ]


def test_expected_header_value_with_cr_lf_or_nul_is_refused() -> None:
    assert errors(http_probe('expect: {headers: {Content-Type: "text/html\\r\\n"}}')) == [
        f"{HTTP}.expect.headers.Content-Type: header value must not contain CR, LF or NUL"
    ]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("'X Foo'", "['X Foo']"),
        ("'X-Foo:'", "['X-Foo:']"),
        ('"X-Foo\\r"', "['X-Foo\\r']"),
        ("''", "['']"),
        ("'Zażółć'", "['Zażółć']"),
    ],
)
def test_header_name_that_is_not_a_token_is_refused(name: str, shown: str) -> None:
    assert errors(http_probe(f"headers: {{{name}: x}}")) == [
        f"{HTTP}.headers{shown}: not a valid HTTP header name "
        "(letters, digits and !#$%&'*+-.^_`|~ only)"
    ]
    assert errors(http_probe(f"expect: {{headers: {{{name}: x}}}}")) == [
        f"{HTTP}.expect.headers{shown}: not a valid HTTP header name "
        "(letters, digits and !#$%&'*+-.^_`|~ only)"
    ]


def test_every_bad_header_is_reported_at_once() -> None:
    lines = errors(http_probe('headers: {"A B": x, X-Ok: "1\\n", X-Fine: ok}'))
    assert lines == [
        f"{HTTP}.headers['A B']: not a valid HTTP header name "
        "(letters, digits and !#$%&'*+-.^_`|~ only)",
        f"{HTTP}.headers.X-Ok: header value must not contain CR, LF or NUL",
    ]


def test_a_secret_header_value_is_not_echoed() -> None:
    lines = errors(http_probe('headers: {Authorization: "Bearer topsecret\\n"}'))
    assert lines == [f"{HTTP}.headers.Authorization: header value must not contain CR, LF or NUL"]


def test_ordinary_headers_pass() -> None:
    config = parse_config(
        http_probe(
            "headers: {User-Agent: 'outage-detector/1.0 (+https://acme.example)', "
            "X-Trace_id.v2: '', Accept: '*/*'}, expect: {headers: {content-type: text/plain}}"
        ),
        {},
    )
    spec = config.components[0].probes[0].spec  # the probe's one kind: its http spec
    assert isinstance(spec, HttpSpec)
    assert spec.headers["X-Trace_id.v2"] == ""
    assert spec.expect.headers == {"content-type": "text/plain"}


def test_a_header_name_must_still_be_text() -> None:
    assert errors(http_probe("headers: {200: x}")) == [f"{HTTP}.headers[200]: keys must be text"]


# --- senders -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sender",
    [
        "status@acme.example",
        "Acme Status <status@acme.example>",
        '"Acme, Inc." <status@acme.example>',
        "<status@acme.example>",
    ],
)
def test_sendgrid_sender_address_forms(sender: str) -> None:
    config = parse_config(channel(f"{{type: sendgrid, api_key: k, from: '{sender}'}}"), {})
    ch = config.channels[0]
    assert isinstance(ch, SendgridChannel)
    assert ch.from_ == sender


@pytest.mark.parametrize(
    ("sender", "message"),
    [
        ("status", "not an e-mail address: 'status'"),
        ("status@acme", "not an e-mail address: 'status@acme'"),
        ("Acme <status>", "not an e-mail address: 'status'"),
        (
            '"Acme\\r\\nBcc: x@evil.example <status@acme.example>"',
            "the sender name must not contain control characters (CR, LF, NUL...)",
        ),
        ("''", "not an e-mail address: ''"),
    ],
)
def test_sendgrid_sender_is_an_email_address(sender: str, message: str) -> None:
    assert errors(channel(f"{{type: sendgrid, api_key: k, from: {sender}}}")) == [
        f"channels[0].from: {message}"
    ]


@pytest.mark.parametrize(
    ("sender", "kept"),
    [
        ("'+15550100'", "+15550100"),
        ("'+48 22 555 0100'", "+48225550100"),  # the same form a subscriber's phone takes
        ("MG" + "0123456789abcdef" * 2, "MG" + "0123456789abcdef" * 2),  # messaging service
        ("'12345'", "12345"),  # short code
        ("Acme Cloud", "Acme Cloud"),  # alphanumeric sender ID
        ("ACME-OPS", "ACME-OPS"),
    ],
)
def test_twilio_sender_forms(sender: str, kept: str) -> None:
    config = parse_config(
        channel(f"{{type: twilio, account_sid: AC1, auth_token: t, from: {sender}}}"), {}
    )
    ch = config.channels[0]
    assert isinstance(ch, TwilioChannel)
    assert ch.from_ == kept


@pytest.mark.parametrize(
    ("sender", "message"),
    [
        ("'+1 555'", "not an E.164 phone number (+ and 7-15 digits): '+1 555'"),
        ("'+0123456789'", "not an E.164 phone number (+ and 7-15 digits): '+0123456789'"),
        ("'15550100'", None),  # a number without its +
        ("MG" + "0123456789abcdef" * 2 + "0", None),  # a SID one digit too long
        ("status@acme.example", None),
        ("Acme Cloud Status", None),  # 17 characters: longer than a sender ID may be
        ("''", None),
    ],
)
def test_twilio_sender_is_refused(sender: str, message: str | None) -> None:
    [line] = errors(channel(f"{{type: twilio, account_sid: AC1, auth_token: t, from: {sender}}}"))
    assert line.startswith("channels[0].from: ")
    if message is not None:
        assert line == f"channels[0].from: {message}"
    else:
        assert line.startswith("channels[0].from: not a Twilio sender: ")
        assert "E.164" in line and "MG and 32 hex digits" in line


# --- secrets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ("server: {admin_token: ''}\n", "server.admin_token"),
        ("server: {admin_token: '  '}\n", "server.admin_token"),
        ("server: {admin_token: '${T:-}'}\n", "server.admin_token"),
        ("server: {admin_token: '${EMPTY}'}\n", "server.admin_token"),
        (
            "channels:\n  - {type: webhook, url: 'http://h/', secret: '${EMPTY}'}\n",
            "channels[0].secret",
        ),
        (
            "channels:\n  - {type: sendgrid, api_key: '', from: a@b.example}\n",
            "channels[0].api_key",
        ),
        (
            'channels:\n  - {type: twilio, account_sid: AC1, auth_token: "\\t", '
            "from: '+15550100'}\n",
            "channels[0].auth_token",
        ),
    ],
)
def test_empty_secret_is_refused(extra: str, path: str) -> None:
    assert errors(MINIMAL + extra, {"EMPTY": ""}) == [f"{path}: must not be empty"]


def test_every_empty_secret_is_reported_at_once() -> None:
    text = MINIMAL + (
        "server: {admin_token: ''}\nchannels:\n"
        "  - {type: webhook, url: 'http://h/', secret: ''}\n"
        "  - {type: sendgrid, api_key: '${KEY}', from: a@b.example}\n"
    )
    assert errors(text, {"KEY": " "}) == [
        "server.admin_token: must not be empty",
        "channels[0].secret: must not be empty",
        "channels[1].api_key: must not be empty",
    ]


def test_a_webhook_without_a_secret_is_still_allowed() -> None:
    config = parse_config(channel("{type: webhook, url: 'http://h/'}"), {})
    ch = config.channels[0]
    assert isinstance(ch, WebhookChannel)
    assert ch.secret is None


def _mentions_secretstr(tp: Any) -> bool:
    return tp is SecretStr or any(_mentions_secretstr(a) for a in typing.get_args(tp))


SECRET_FIELDS = [
    (model, name)
    for model in config_models()
    for name, info in model.model_fields.items()
    if _mentions_secretstr(info.annotation)
]


def test_the_known_secret_fields_are_found() -> None:
    found = {f"{model.__name__}.{name}" for model, name in SECRET_FIELDS}
    assert found >= {
        "Server.admin_token",
        "WebhookChannel.secret",
        "SendgridChannel.api_key",
        "TwilioChannel.auth_token",
    }


@pytest.mark.parametrize(
    ("model", "name"), SECRET_FIELDS, ids=[f"{m.__name__}.{n}" for m, n in SECRET_FIELDS]
)
def test_every_secret_field_refuses_an_empty_value(model: type[BaseModel], name: str) -> None:
    """A secret field added later must use fields.Secret, or this fails for it."""
    info = model.model_fields[name]
    tp: Any = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    adapter: TypeAdapter[Any] = TypeAdapter(tp)
    for blank in ("", " ", "\n"):
        with pytest.raises(ValidationError, match="must not be empty"):
            adapter.validate_python(blank)
    assert adapter.validate_python("s3cret").get_secret_value() == "s3cret"
