"""secret_values: every secret in a config, found by walking it, for the log redactor."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr

from detector.config import load_config, parse_config
from detector.config.fields import Model
from detector.config.secrets import secret_values
from tests.config._data import EXAMPLE, EXAMPLE_ENV, MINIMAL


def test_the_examples_secrets_in_config_order() -> None:
    config = load_config(EXAMPLE, EXAMPLE_ENV)
    assert secret_values(config) == [
        EXAMPLE_ENV["DETECTOR_ADMIN_TOKEN"],
        EXAMPLE_ENV["WEBHOOK_SECRET"],
        EXAMPLE_ENV["SENDGRID_API_KEY"],
        EXAMPLE_ENV["TWILIO_AUTH_TOKEN"],
    ]


def test_no_secrets_no_values() -> None:
    assert secret_values(parse_config(MINIMAL, {})) == []


def test_storage_password_and_credential_headers_count() -> None:
    text = (
        MINIMAL.replace(
            'http: {url: "http://127.0.0.1:1/healthz"}',
            'http: {url: "http://127.0.0.1:1/healthz", headers: {Authorization: "Bearer tok-1", '
            "X-Api-Key: key-2, User-Agent: not-secret}, expect: {headers: {Set-Cookie: c-3}}}",
        )
        + "storage: {url: 'postgresql://app:p%40ss@db/od'}\n"
    )
    assert secret_values(parse_config(text, {})) == [
        "Bearer tok-1",
        "key-2",
        "c-3",
        "p%40ss",
        "p@ss",
    ]


def test_a_value_used_twice_is_listed_once() -> None:
    text = MINIMAL + (
        "server: {admin_token: same-secret}\nchannels:\n"
        "  - {type: webhook, url: 'http://h/', secret: same-secret}\n"
    )
    assert secret_values(parse_config(text, {})) == ["same-secret"]


class _Credentials(BaseModel):
    tokens: list[SecretStr]
    extra: dict[str, SecretStr]


class _NewChannel(Model):
    """A channel kind the walk has never heard of, nesting its secrets."""

    type: str = "new"
    credentials: _Credentials
    region: str = "eu"


def test_a_new_channel_kinds_secrets_are_found_without_a_list() -> None:
    config = parse_config(
        MINIMAL + "channels:\n  - {type: sendgrid, api_key: k-1, from: a@b.example}\n", {}
    )
    extra = _NewChannel(
        credentials=_Credentials(
            tokens=[SecretStr("t-1"), SecretStr("t-2")],
            extra={"signing": SecretStr("s-1")},
        )
    )
    config = config.model_copy(update={"channels": [*config.channels, extra]})
    assert secret_values(config) == ["k-1", "t-1", "t-2", "s-1"]
