"""A component's impact per language and per severity (CONTRACT §3), and the warnings of
`detector check` for every (component, language) that subscribers need and the config lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.cli.check import summary
from detector.config import ConfigError, load_config, parse_config
from detector.config.languages import impact_warnings, missing_languages, readers
from detector.config.models import Config, Subscriber
from detector.config.subscribers import load_subscribers
from tests.config._data import EXAMPLE, EXAMPLE_ENV

BASE = (
    "service: {name: A, locale: en, contact: {name: J, email: j@a.example}}\n"
    "components:\n"
    "  - id: api\n    name: API\n    impact: IMPACT\n"
    "    probes: [{name: p, tcp: {host: 127.0.0.1, port: 1}}]\n"
    "  - id: web\n    name: Web\n    impact: You cannot sign in.\n"
    "    probes: [{name: q, tcp: {host: 127.0.0.1, port: 2}}]\n"
)
PER_SEVERITY = (
    "{major_outage: {en: You cannot pay., fr: Payer est impossible.}, "
    "degraded: {en: Paying is slow., fr: Payer est lent.}}"
)


def config(impact: str) -> Config:
    return parse_config(BASE.replace("IMPACT", impact))


def errors(impact: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        config(impact)
    return e.value.lines


def test_impact_per_severity_each_per_language() -> None:
    api = config(PER_SEVERITY).components[0]
    assert api.per_severity
    assert api.impact_for("major_outage") == {
        "en": "You cannot pay.",
        "fr": "Payer est impossible.",
    }
    assert api.impact_for("degraded") == {"en": "Paying is slow.", "fr": "Payer est lent."}
    # partial_outage is not given: the closest more severe one
    assert api.impact_for("partial_outage") == api.impact_for("major_outage")
    assert api.impact_in("fr", "degraded") == "Payer est lent."
    assert api.impact_translations("degraded")["en"] == "Paying is slow."


@pytest.mark.parametrize(
    ("given", "severity", "chosen"),
    [
        ("{degraded: d, major_outage: m}", "partial_outage", "m"),  # upward first
        ("{degraded: d, partial_outage: p}", "major_outage", "p"),  # then downward
        ("{partial_outage: p}", "degraded", "p"),
        ("{degraded: d, partial_outage: p, major_outage: m}", "degraded", "d"),
        ("{major_outage: m}", "operational", "m"),  # planned work, or anything unknown
        ("Plain.", "degraded", "Plain."),
        ("{en: E, fr: F}", "degraded", {"en": "E", "fr": "F"}),
    ],
)
def test_a_missing_severity_takes_the_closest_given(
    given: str, severity: str, chosen: object
) -> None:
    assert config(given).components[0].impact_for(severity) == chosen


@pytest.mark.parametrize(
    ("impact", "line"),
    [
        (
            "{major_outage: x, fr: y}",
            "components[0].impact.fr: not a severity (degraded, partial_outage, major_outage): an "
            "impact given per severity gives its languages inside each severity, e.g. "
            "major_outage: {fr: ...}",
        ),
        (
            "{en: {fr: x}}",
            "components[0].impact.en: expected a sentence (only a severity holds one per language)",
        ),
        (
            "{en: x, qqq: y}",
            "components[0].impact.qqq: not a language or a severity (write a "
            "language such as en or fr, or one of degraded, partial_outage, major_outage)",
        ),
        (
            "{major_outage: {en: x, fr: ' '}}",
            "components[0].impact.major_outage.fr: must not be empty",
        ),
        (
            "{major_outage: {en: x, qqq: y}}",
            "components[0].impact.major_outage.qqq: not a language (write e.g. en, fr, pt_BR)",
        ),
        (
            "{major_outage: {fr: y}}",
            "components[0].impact.major_outage: needs a sentence in the service's language 'en'",
        ),
        ("{en: 3}", "components[0].impact.en: expected a sentence"),
        ("{}", "components[0].impact: give a sentence, one per language, or one per severity"),
        ("''", "components[0].impact: must not be empty"),
    ],
)
def test_a_bad_impact_names_its_key_path(impact: str, line: str) -> None:
    assert errors(impact) == [line]


SUBSCRIBERS = [
    Subscriber(name="Globex", email="ops@globex.example", locale="fr_FR", components=["api"]),
    Subscriber(name="Kowalski", phone="+48225550199", locale="pl", components=["web"]),
    Subscriber(name="Nusantara", email="ops@nusantara.example", locale="id"),
    Subscriber(name="Initech", email="it@initech.example"),  # the service's language
]


def test_readers_follow_the_components_they_chose() -> None:
    cfg = config("x")
    assert readers(cfg, SUBSCRIBERS, ["api"]) == {
        "en": ["Initech"],
        "fr": ["Globex"],
        "id": ["Nusantara"],
    }
    assert set(readers(cfg, SUBSCRIBERS)) == {"en", "fr", "pl", "id"}
    assert missing_languages({"en": "x", "fr_CA": "y"}, cfg, SUBSCRIBERS, ["api"]) == ["id"]
    assert missing_languages("plain", cfg, SUBSCRIBERS, ["web"]) == ["id", "pl"]
    assert missing_languages(None, cfg, SUBSCRIBERS) == []


def test_check_warns_of_each_component_severity_and_language_missing() -> None:
    cfg = config(PER_SEVERITY.replace(", fr: Payer est lent.", ""))
    assert impact_warnings(cfg, SUBSCRIBERS) == [
        "components[0].impact.major_outage: no text in id (subscribers: Nusantara)",
        "components[0].impact.degraded: no text in fr (subscribers: Globex)",
        "components[0].impact.degraded: no text in id (subscribers: Nusantara)",
        "components[1].impact: no text in id (subscribers: Nusantara)",
        "components[1].impact: no text in pl (subscribers: Kowalski)",
    ]
    assert impact_warnings(cfg, []) == []  # the service's language is always given


def test_the_example_config_speaks_every_subscriber_language(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE, EXAMPLE_ENV)
    people = load_subscribers(cfg, EXAMPLE.parent)
    assert impact_warnings(cfg, people) == []
    for c in cfg.components:
        for value in c.impact_variants().values():
            assert isinstance(value, dict) and set(value) == {"en", "pl", "fr", "ar", "id"}
    assert any(c.per_severity for c in cfg.components)
    # one language fewer: `check` names it, and the config is still valid
    text = EXAMPLE.read_text().replace("      pl: Nie można przyjmować płatności kartą.\n", "")
    csv = EXAMPLE.parent / "subscribers.example.csv"
    path = tmp_path / "c.yaml"
    path.write_text(text.replace("subscribers.example.csv", str(csv)))
    cfg = load_config(path, EXAMPLE_ENV)
    lines = summary(cfg, load_subscribers(cfg, tmp_path), "c.yaml").splitlines()
    assert [line for line in lines if "no text in" in line] == [
        "warning: components[1].impact: no text in pl (subscribers: Kowalski Sp. z o.o.)"
    ]
