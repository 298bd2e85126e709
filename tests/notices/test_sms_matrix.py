"""Issue 11, Done-when 2: the SMS matrix.

Every language × every stage a customer SMS goes out for × service and component names of 5, 12
and 20 characters → one segment (160 GSM-7 septets, or 70 UTF-16 units once one character is
outside GSM-7; extension characters count two), the time *and zone* of the next update where
one is promised, the status page link, and in each language a wording of its own per stage.

The link is the example config's status page, `https://status.acme.example/`: an SMS shows it
as `status.acme.example`, 19 characters. docs/configuration.md states that limit (`service.
status_page_url` up to 19 characters as an SMS shows it) and LINK_LIMIT below is what the
matrix proves; a longer link still works, in two segments where the names are long too.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from detector.notices.compose import LOCALES, compose
from detector.notices.model import NoticeFacts
from detector.notices.sms import segments, sms_length
from tests.notices.factory import REPORT_BY, at, facts

LINK_LIMIT = 19  # characters of the link as an SMS shows it (no scheme, no trailing slash)
STATUS_PAGE = "https://status.acme.example/"
SMS_LINK = "status.acme.example"
assert len(SMS_LINK) == LINK_LIMIT

ZONE = "Europe/Warsaw"  # 10:17Z is 11:17 in winter
NEXT_UPDATE = {"en": "11:17", "pl": "11:17", "fr": "11:17", "ar": "11:17", "id": "11.17"}
ZONE_LABEL = {"en": "UTC+1", "pl": "CET", "fr": "UTC+1", "ar": "UTC+1", "id": "UTC+1"}


def next_update(locale: str) -> re.Pattern[str]:
    """The time then its zone: "11:17 UTC+1", "11:17 AM UTC+1", "11:17 ص UTC+1"."""
    return re.compile(
        rf"{re.escape(NEXT_UPDATE[locale])}(?: \S{{1,2}})? {re.escape(ZONE_LABEL[locale])}"
    )


LENGTHS = (5, 12, 20)
SERVICES = {5: "Nimbo", 12: "Globex Cloud", 20: "Globex Payments Plus"}
COMPONENTS = {5: "Login", 12: "Checkout API", 20: "Customer Webhooks EU"}
ADDED = {5: "Admin", 12: "Billing Page", 20: "Partner Dashboard EU"}  # joins when "expanded"
SEVERITIES = ("major_outage", "partial_outage", "degraded")
LESS = {"major_outage": "partial_outage", "partial_outage": "degraded"}  # got worse from
MORE = {"partial_outage": "major_outage", "degraded": "major_outage"}  # got better from

# A person's update, as they would write it in each language (it is the part an SMS may cut).
MESSAGE = {
    "en": "We have rolled back this morning's release; syncing should resume shortly.",
    "pl": "Wycofaliśmy dzisiejsze wdrożenie; synchronizacja powinna wkrótce wrócić.",
    "fr": "Nous avons annulé la mise en production de ce matin ; la synchronisation reprend.",
    "ar": "تراجعنا عن تحديث هذا الصباح، ونتوقع أن تعود المزامنة قريبًا.",
    "id": "Kami telah membatalkan rilis pagi ini; sinkronisasi akan segera pulih.",
}
WINDOW = {"starts_at": at("2025-11-25T21:00:00"), "ends_at": at("2025-11-25T23:00:00")}


def stages(locale: str, severity: str, component: str, added: str) -> dict[str, dict[str, Any]]:
    """Each stage's facts (changes to the factory's): the incident's at `severity`, then the
    recovery, the report and the maintenance stages, as the engine publishes them."""
    done: dict[str, Any] = {"next_update_at": None, "report_by": REPORT_BY}
    window: dict[str, Any] = {
        "status": "maintenance",
        "severity": "operational",
        "next_update_at": None,
        "extra": dict(WINDOW),
    }
    out: dict[str, dict[str, Any]] = {
        "opened": {},
        "update": {},
        "expanded": {
            "components": [component, added],
            "extra": {"added_components": [added]},
        },
        "identified": {"status": "identified"},
        "recurred": {"extra": {"previous_severity": "operational"}},
        "human": {"message": MESSAGE[locale]},
        "human_fixed": {"kind": "human", "message": MESSAGE[locale], "status": "monitoring"},
        "monitoring": {"status": "monitoring", "report_by": REPORT_BY},
        "resolved": {"status": "resolved", **done},
        "postmortem": {"status": "resolved", **done},
        "maintenance_scheduled": window,
        "maintenance_started": window,
        "maintenance_ended": window,
        "maintenance_cancelled": window,
    }
    if severity in LESS:
        out["worse"] = {"kind": "severity_changed", "extra": {"previous_severity": LESS[severity]}}
    if severity in MORE:
        out["better"] = {"kind": "severity_changed", "extra": {"previous_severity": MORE[severity]}}
    return out


def stage_facts(
    locale: str, stage: str, severity: str, service: str, component: str, added: str
) -> NoticeFacts:
    changes = dict(stages(locale, severity, component, added)[stage])
    kind = str(changes.pop("kind", stage))
    base: dict[str, Any] = {
        "severity": severity,
        "service_name": service,
        "components": [component],
        "status_page_url": STATUS_PAGE,
    }
    return facts(kind, **{**base, **changes})


def matrix(locale: str, service: str, component: str, added: str) -> dict[tuple[str, str], str]:
    """(severity, stage) → the SMS, for one language and one set of names."""
    return {
        (severity, stage): compose(
            stage_facts(locale, stage, severity, service, component, added), locale, ZONE
        ).sms
        for severity in SEVERITIES
        for stage in stages(locale, severity, component, added)
    }


def promises_an_update(locale: str, stage: str) -> bool:
    return stage not in ("resolved", "postmortem") and not stage.startswith("maintenance")


@pytest.mark.parametrize("component_len", LENGTHS)
@pytest.mark.parametrize("service_len", LENGTHS)
@pytest.mark.parametrize("locale", LOCALES)
def test_every_stage_is_one_segment_with_the_zone_and_the_link(
    locale: str, service_len: int, component_len: int
) -> None:
    service, component = SERVICES[service_len], COMPONENTS[component_len]
    added = ADDED[component_len]
    sent = matrix(locale, service, component, added)
    problems = []
    for (severity, stage), sms in sent.items():
        where = f"{locale} {severity} {stage} ({sms_length(sms)} units): {sms!r}"
        if segments(sms) != 1:
            problems.append(f"two segments: {where}")
        if SMS_LINK not in sms:
            problems.append(f"no link: {where}")
        if promises_an_update(locale, stage) and not next_update(locale).search(sms):
            problems.append(f"no next update with its zone: {where}")
        named = added if stage == "expanded" else component  # "now also <added>"
        if not stage.startswith("human") and named not in sms:
            problems.append(f"{named!r} is not named: {where}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("component_len", LENGTHS)
@pytest.mark.parametrize("locale", LOCALES)
def test_no_two_stages_read_the_same(locale: str, component_len: int) -> None:
    """A reader can tell the stages apart: "cause found" does not read as "opened"."""
    component, added = COMPONENTS[component_len], ADDED[component_len]
    for service_len in LENGTHS:
        sent = matrix(locale, SERVICES[service_len], component, added)
        for severity in SEVERITIES:
            texts: dict[str, str] = {}
            for (sev, stage), sms in sent.items():
                if sev != severity or stage == "human_fixed":  # the same person's same words
                    continue
                same = [other for other, text in texts.items() if text == sms]
                assert not same, f"{locale} {severity}: {stage} reads as {same[0]}: {sms!r}"
                texts[stage] = sms


def test_the_matrix_covers_every_kind_an_sms_is_sent_for() -> None:
    """Every kind reaches SMS: a twilio channel takes every customer event by default."""
    from detector.domain import Kind

    covered = {
        stage_facts("en", stage, severity, "Nimbo", "Login", "Admin").kind
        for severity in SEVERITIES
        for stage in stages("en", severity, "Login", "Admin")
    }
    assert covered == set(Kind)
