from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from detector import channels as channel_kinds
from detector.config import ConfigError, load_config, parse_config
from detector.config.models import Config, Subscriber, SubscriberFile
from tests.config._data import EXAMPLE, EXAMPLE_ENV, MINIMAL

# every registered channel kind, in registry order, as the error lists them
KIND_LIST = ", ".join(channel_kinds.KINDS)


def errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env or {})
    assert all("\n" not in line for line in info.value.lines)
    return info.value.lines


def with_(extra: str) -> str:
    return MINIMAL + extra


def probe(body: str) -> str:
    """MINIMAL with its only probe replaced by `body` (YAML at probe-item indentation)."""
    head = MINIMAL.split("      - name: api-health")[0]
    return head + "      - name: p1\n" + body


# --- the happy path --------------------------------------------------------------------------


def test_example_loads_with_its_env() -> None:
    config = load_config(EXAMPLE, EXAMPLE_ENV)
    assert config.service.name == "Acme Cloud"
    assert [c.id for c in config.components] == ["api", "payments"]
    assert config.server.admin_token is not None
    assert config.server.admin_token.get_secret_value() == EXAMPLE_ENV["DETECTOR_ADMIN_TOKEN"]
    assert config.detection.stable_for == 300.0
    assert config.cadence.major_outage == 900.0
    assert isinstance(config.subscribers[0], Subscriber)
    assert isinstance(config.subscribers[1], SubscriberFile)
    assert [ch.type for ch in config.channels] == ["webhook", "sendgrid", "twilio"]
    stripe = config.components[1].probes[0]
    assert stripe.detection(config.detection).interval == 60.0


def test_minimal_gets_defaults() -> None:
    config = parse_config(MINIMAL, {})
    assert config.server.listen == "127.0.0.1:9478"
    assert config.storage.url == "sqlite:///detector.db"
    assert config.detection.quorum == "majority"
    assert config.components[0].probes[0].kind == "http"


# --- ${ENV} ------------------------------------------------------------------------------------


def test_env_interpolation_inside_strings_only() -> None:
    text = with_("server:\n  admin_token: 'Bearer ${TOKEN}'\n  listen: '127.0.0.1:${PORT}'\n")
    config = parse_config(text, {"TOKEN": "abc: [1, 2]", "PORT": "9000"})
    assert config.server.admin_token is not None
    assert config.server.admin_token.get_secret_value() == "Bearer abc: [1, 2]"  # no YAML re-parse
    assert config.server.port == 9000


def test_env_default_and_escape() -> None:
    text = with_("server:\n  admin_token: '${NOPE:-fallback} $${LITERAL}'\n")
    config = parse_config(text, {})
    assert config.server.admin_token is not None
    assert config.server.admin_token.get_secret_value() == "fallback ${LITERAL}"


def test_unset_env_names_variable_and_key_each_once() -> None:
    text = with_(
        "channels:\n  - {type: sendgrid, api_key: '${SG_KEY}', from: a@b.example}\n"
        "  - {type: twilio, account_sid: '${SID}', auth_token: '${SID}', from: '+15550100'}\n"
    )
    assert errors(text) == [
        "channels[0].api_key: environment variable SG_KEY is not set",
        "channels[1].account_sid: environment variable SID is not set",
        "channels[1].auth_token: environment variable SID is not set",
    ]


def test_malformed_reference_is_an_error() -> None:
    [line] = errors(with_("server: {admin_token: '${ TOKEN }'}\n"), {"TOKEN": "x"})
    assert line.startswith("server.admin_token: malformed ${...} reference")


def test_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OD_TEST_TOKEN", "from-environ")
    config = parse_config(with_("server: {admin_token: '${OD_TEST_TOKEN}'}\n"))
    assert config.server.admin_token is not None
    assert config.server.admin_token.get_secret_value() == "from-environ"


def test_absent_admin_token_means_admin_api_off() -> None:
    assert parse_config(MINIMAL, {}).server.admin_token is None


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("10s", 10.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("5d", 432000.0),
        ("1.5s", 1.5),
    ],
)
def test_durations_with_units(text: str, seconds: float) -> None:
    config = parse_config(with_(f"detection: {{interval: {text}}}\n"), {})
    assert config.detection.interval == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("30", "a duration is a string with a unit, e.g. '30s', '250ms', '15m'"),
        ("'30 minutes'", "not a duration: '30 minutes' (use a number and ms, s, m, h or d)"),
        ("0s", "must be greater than 0"),
        ("-1s", "not a duration: '-1s' (use a number and ms, s, m, h or d)"),
    ],
)
def test_bad_durations(value: str, message: str) -> None:
    assert errors(with_(f"detection: {{interval: {value}}}\n")) == [
        f"detection.interval: {message}"
    ]


# --- unknown keys and key paths -----------------------------------------------------------------


def test_unknown_key_suggests_the_closest() -> None:
    assert errors(with_("detection: {intervall: 10s}\n")) == [
        "detection.intervall: unknown key (did you mean interval?)"
    ]


def test_unknown_key_without_close_match_lists_known_keys() -> None:
    [line] = errors(with_("cadence: {zzz: 1}\n"))
    assert line == "cadence.zzz: unknown key (known keys: major_outage, partial_outage, degraded)"


def test_unknown_top_level_key() -> None:
    assert errors(with_("chanels: []\n")) == ["chanels: unknown key (did you mean channels?)"]


def test_aliases_are_the_suggested_names() -> None:
    text = with_("channels:\n  - {type: sendgrid, api_key: k, frm: a@b.example}\n")
    assert errors(text) == [
        "channels[0].from: required key is missing",
        "channels[0].frm: unknown key (did you mean from?)",
    ]


def test_url_error_path_is_the_users_keys() -> None:
    text = probe("        http: {url: 'not a url'}\n")
    assert errors(text) == ["components[0].probes[0].http.url: not a valid URL"]


def test_url_scheme() -> None:
    [line] = errors(probe("        http: {url: 'ftp://example.com/'}\n"))
    assert line.startswith("components[0].probes[0].http.url: not a valid URL")


def test_missing_required_keys_one_line_each() -> None:
    text = "service: {name: Acme}\ncomponents:\n  - {id: api, name: API, probes: []}\n"
    assert errors(text) == [
        "service.contact: required key is missing",
        "components[0].impact: required key is missing",
        "components[0].probes: needs at least 1 entry",
    ]


def test_channel_tag_is_not_in_the_path() -> None:
    text = with_("channels:\n  - {type: webhook, url: nope}\n")
    assert errors(text) == ["channels[0].url: not a valid URL"]


def test_unknown_channel_type() -> None:
    assert errors(with_("channels:\n  - {type: discord}\n")) == [
        f"channels[0].type: unknown channel type 'discord' ({KIND_LIST})"
    ]


def test_channel_without_type() -> None:
    assert errors(with_("channels:\n  - {url: 'http://127.0.0.1/'}\n")) == [
        f"channels[0].type: required key is missing ({KIND_LIST})"
    ]


def test_subscriber_union_gives_one_error_per_fault() -> None:
    text = with_(
        "subscribers:\n  - {name: A, email: nope}\n  - {file: a.csv, name: x}\n  - just text\n"
    )
    assert errors(text) == [
        "subscribers[0].email: not an e-mail address: 'nope'",
        "subscribers[1].name: unknown key (known keys: file)",
        "subscribers[2]: expected a mapping, got text",
    ]


def test_quorum_union_merges_into_one_line() -> None:
    assert errors(with_("detection: {quorum: most}\n")) == [
        "detection.quorum: expected a whole number or 'majority', got text"
    ]
    assert errors(with_("detection: {quorum: 0}\n")) == ["detection.quorum: must be at least 1"]


def test_type_errors_say_what_was_expected() -> None:
    assert errors(with_("controls: {name: x}\n")) == ["controls: expected a list, got a mapping"]
    assert errors(with_("server: 5\n")) == ["server: expected a mapping, got a number"]


def test_number_where_text_is_expected_hints_at_quotes() -> None:
    text = MINIMAL.replace("email: jane@acme.example", "phone: +48225550100")
    assert errors(text) == ["service.contact.phone: expected text, got a number (put it in quotes)"]


def test_literal_and_bounds() -> None:
    text = probe("        tcp: {host: h, port: 70000}\n")
    assert errors(text) == ["components[0].probes[0].tcp.port: must be at most 65535"]
    text = probe("        http: {url: 'http://h/', method: FETCH}\n")
    assert errors(text) == [
        "components[0].probes[0].http.method: must be 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', "
        "'DELETE' or 'OPTIONS', got 'FETCH'"
    ]


def test_bad_names_in_plain_words() -> None:
    text = MINIMAL.replace("id: api", "id: 'my api'")
    assert errors(text) == ["components[0].id: may contain only letters, digits, _ and -"]


def test_odd_keys_are_quoted_in_the_path() -> None:
    text = probe("        http: {url: 'http://h/', headers: {X.Trace: [1]}}\n")
    assert errors(text) == [
        "components[0].probes[0].http.headers['X.Trace']: expected text, got a list"
    ]


def test_timezone_directory_is_a_plain_error() -> None:
    [line] = errors(MINIMAL.replace("name: Acme\n", "name: Acme\n  timezone: Europe\n", 1))
    assert line.startswith("service.timezone: unknown time zone 'Europe'")


def test_bad_regex_is_a_plain_error() -> None:
    text = probe("        http: {url: 'http://h/', expect: {body_regex: 'a{99999999999}'}}\n")
    [line] = errors(text)
    assert line.startswith("components[0].probes[0].http.expect.body_regex: not a valid regular")


# --- probes: exactly one kind, unique names -------------------------------------------------------


def test_probe_with_two_kinds() -> None:
    text = probe("        http: {url: 'http://h/'}\n        tcp: {host: h, port: 1}\n")
    assert errors(text) == [
        "components[0].probes[0]: a probe has exactly one kind (http, tcp, tls, dns, "
        "statuspage, prometheus, icmp, grpc), found http, tcp"
    ]


def test_probe_with_no_kind() -> None:
    [line] = errors(probe("        interval: 10s\n"))
    assert line.endswith("found none")
    assert line.startswith("components[0].probes[0]: ")


def test_duplicate_probe_name_across_controls_and_components() -> None:
    text = with_("controls:\n  - {name: api-health, tcp: {host: h, port: 1}}\n")
    assert errors(text) == [
        "components[0].probes[0].name: probe name 'api-health' is already used by "
        "controls[0]; names must be unique"
    ]


def test_duplicate_component_id() -> None:
    text = MINIMAL + MINIMAL.split("components:\n")[1].replace("api-health", "other")
    assert errors(text) == ["components[1].id: component id 'api' is already used by components[0]"]


def test_subscriber_components_must_exist() -> None:
    text = with_("subscribers:\n  - {name: A, email: a@b.example, components: [api, billing]}\n")
    assert errors(text) == [
        "subscribers[0].components[1]: unknown component 'billing' (known: api)"
    ]


# --- secrets are never echoed -------------------------------------------------------------------


@pytest.mark.parametrize(
    "channel",
    [
        "{type: sendgrid, api_key: [hunter2-secret], from: a@b.example}",
        "{type: twilio, account_sid: AC1, auth_token: 9876543210123, from: '+15550100'}",
        "{type: webhook, url: 'http://h/', secret: {hunter2-secret: 1}}",
        "{type: webhook, url: 'http://h/', secret: hunter2-secret, events: [hunter2-secret]}",
    ],
)
def test_secret_values_never_appear(channel: str) -> None:
    lines = errors(with_(f"channels:\n  - {channel}\n"))
    assert lines
    assert not any("hunter2" in line or "9876543210123" in line for line in lines)


def test_secret_from_env_never_appears() -> None:
    text = with_("channels:\n  - {type: webhook, url: '${HOOK}', secret: '${HOOK}'}\n")
    [line] = errors(text, {"HOOK": "not-a-url-but-a-secret"})
    assert line == "channels[0].url: not a valid URL"


def test_authorization_header_value_is_redacted() -> None:
    text = probe(
        "        http:\n          url: 'http://h/'\n"
        "          headers: {Authorization: 'Bearer topsecret'}\n"
        "          method: 'Bearer topsecret'\n"
    )
    [line] = errors(text)
    assert "topsecret" not in line
    assert line.startswith("components[0].probes[0].http.method: must be")


# --- YAML-level problems ------------------------------------------------------------------------


def test_yaml_syntax_error_names_line() -> None:
    [line] = errors("service:\n  name: [unclosed\n")
    assert line.startswith("line ")
    assert "not valid YAML" in line


def test_duplicate_yaml_key() -> None:
    [line] = errors(MINIMAL + "service: {}\n")
    assert line == "line 11, column 1: not valid YAML: key 'service' appears twice"


def test_merge_keys_still_work() -> None:
    """An explicit key may override a merged one: that is not a duplicate."""
    text = "detection: &d {interval: 10s, timeout: 2s}\n" + MINIMAL.replace(
        "      - name: api-health\n",
        "      - <<: *d\n        timeout: 1s\n        name: api-health\n",
    )
    config = parse_config(text, {})
    assert config.components[0].probes[0].interval == 10.0
    assert config.components[0].probes[0].timeout == 1.0


# 3,000 anchors, each a list holding the previous one: deep, and huge once expanded.
ALIAS_CHAIN = "a0: &a0 [1]\n" + "".join(
    f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 3000)
)


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("", "(top level): the configuration is empty"),
        ("- a\n- b\n", "(top level): expected a mapping of settings, got a list"),
        ("just text", "(top level): expected a mapping of settings, got text"),
        ("a: &a [*a]\n", "a[0]: a YAML alias refers to itself"),
        ("a: !!python/object:os.system x\n", "line 1"),
        ("a: " + "[" * 5000 + "]" * 5000, "line 1: not valid YAML: nested more than 64"),
        (ALIAS_CHAIN, "(file): too large"),
        ("\x00", "(file): not valid YAML"),
    ],
)
def test_hostile_yaml(text: str, start: str) -> None:
    [line] = errors(text)
    assert line.startswith(start)


TOO_DEEP = "line {}: not valid YAML: nested more than 64 levels deep"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        # deeper than libyaml's own limit (1,000 today), which it hits while scanning ahead
        ("a: " + "[" * 5000 + "]" * 5000, 1),
        ("a: " + "{b: " * 2000 + "1" + "}" * 2000, 1),
        ("a:\n" + "".join("  " * i + "- x:\n" for i in range(1, 1200)), 33),
        # deeper than ours, shallower than libyaml's
        ("a: " + "[" * 64 + "]" * 64, 1),
        ("a:\n" + "".join("  " * i + "- x:\n" for i in range(1, 40)), 33),
    ],
)
def test_nesting_limit_is_ours_whatever_the_parser(text: str, line: int) -> None:
    """Our line, not the YAML library's wording, which changes between releases."""
    assert errors(text) == [TOO_DEEP.format(line)]


def test_nesting_up_to_the_limit_is_not_a_yaml_error() -> None:
    assert errors(with_("x: " + "[" * 63 + "]" * 63 + "\n")) == [
        "x: unknown key (known keys: service, server, storage, cluster, detection, cadence, "
        "notify, export, controls, components, subscribers, channels)"
    ]


def test_a_yaml_error_deep_inside_keeps_its_own_line() -> None:
    """The fallback depth pass must not hide the parser's real complaint."""
    [line] = errors("a: " + "[" * 30 + "\n  b: {\n")
    assert line.startswith("line ")
    assert "not valid YAML" in line
    assert "nested more than" not in line


def test_one_large_string_aliased_many_times_is_refused_fast() -> None:
    """1 MB of text aliased 3,000 times is 3 GB once expanded: refused before it is built."""
    big = "x" * 1_000_000
    text = with_(
        f"notify: {{hold: &big '{big}'}}\n"
        "subscribers:\n" + "  - {name: *big, email: a@b.example}\n" * 3000
    )
    tracemalloc.start()
    started = time.perf_counter()
    try:
        lines = errors(text)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    [line] = lines
    m = re.fullmatch(
        r"\(file\): too large once aliases are expanded \(([\d,.]+) MB > 16 MB\)", line
    )
    assert m, line
    assert 2861 < float(m.group(1).replace(",", "")) < 2863  # 3,001 uses of 1,000,000 bytes
    assert elapsed < 5  # the expansion would take tens of seconds
    assert peak < 40_000_000  # the text and its parse, not the gigabytes of expansion


def test_aliases_within_the_budget_still_work() -> None:
    sentence = "You cannot reach the API, and integrations stop syncing. " * 20
    components = "".join(
        f"  - {{id: c{i}, name: C, impact: *impact, probes: [{{name: p{i}, tcp: "
        f"{{host: h, port: 1}}}}]}}\n"
        for i in range(100)
    )
    text = MINIMAL.replace("impact: You cannot reach the API.", f"impact: &impact '{sentence}'")
    config = parse_config(text + components, {})
    assert config.components[100].impact == sentence


def test_plain_text_over_the_budget_is_refused_without_talking_of_aliases() -> None:
    [line] = errors(with_(f"x: '{'y' * (17 * 2**20)}'\n"))
    assert line == "(file): too large (17.0 MB > 16 MB)"


def test_merge_key_bomb_is_refused() -> None:
    """`<<` merges copy the merged pairs: doubling them at every level is a bomb too."""
    lines = ["m0: &m0 {k: v}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, 40)]
    assert errors("\n".join(lines) + "\n") == [
        "(file): too large once aliases are expanded (over 1,000,000 MB > 16 MB)"
    ]


def test_billion_laughs_is_refused() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    [line] = errors("\n".join(lines) + "\n")
    assert line.startswith("(file): too large")


# --- load_config ---------------------------------------------------------------------------


def test_load_config_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.yaml")
    missing = tmp_path / "missing.yaml"
    assert info.value.lines == [f"{missing}: cannot read: No such file or directory"]
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("service: {name: caf\xe9}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not a valid file name"):
        load_config("a\0b")


def test_load_config_tolerates_bom(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert isinstance(load_config(path, {}), Config)


def test_config_is_frozen() -> None:
    config = parse_config(MINIMAL, {})
    with pytest.raises(Exception, match="frozen"):
        config.service.name = "x"  # type: ignore[misc]


def test_example_roundtrip_is_yaml_mapping() -> None:
    assert isinstance(yaml.safe_load(EXAMPLE.read_text()), dict)


def test_impact_per_language() -> None:
    from detector.config import ConfigError, parse_config

    base = (
        "service: {name: A, locale: en, contact: {name: J, email: j@a.example}}\n"
        "components:\n"
        "  - id: api\n    name: API\n    impact: {IMPACT}\n"
        "    probes: [{name: p, tcp: {host: 127.0.0.1, port: 1}}]\n"
    )
    cfg = parse_config(base.replace("{IMPACT}", "{en: You cannot pay., fr: Payer est impossible.}"))
    assert cfg.components[0].impact_in("fr_CA") == "Payer est impossible."
    assert cfg.components[0].impact_in("pl") == "You cannot pay."
    with pytest.raises(ConfigError) as e:
        parse_config(base.replace("{IMPACT}", "{fr: Payer est impossible.}"))
    assert e.value.lines == [
        "components[0].impact: needs a sentence in the service's language 'en'"
    ]


def test_cluster_needs_postgresql() -> None:
    assert errors(with_("cluster: {vantage: eu-west}\n")) == [
        "cluster: several instances share one PostgreSQL store: set storage.url to "
        "postgresql://... or remove `cluster`"
    ]
    pg = "storage: {url: 'postgresql://u@127.0.0.1/d'}\ncluster: {vantage: eu-west, lease: 3s}\n"
    cfg = parse_config(with_(pg + "detection: {quorum: 2}\n"), {})
    assert cfg.cluster is not None and cfg.cluster.lease == 3.0
    assert cfg.detection.quorum == 2


def test_a_quorum_one_vantage_cannot_reach_is_refused() -> None:
    assert errors(with_("detection: {quorum: 2}\n")) == [
        "detection.quorum: 2 vantages cannot agree: without `cluster` this detector is one "
        "vantage; use 1 or majority, or run several instances (`cluster`, PostgreSQL)"
    ]
    assert parse_config(with_("detection: {quorum: 1}\n"), {}).detection.quorum == 1
