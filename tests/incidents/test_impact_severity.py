"""Notice facts carry each component's impact for the notice's severity: in the service's
language (`impacts`, what the composer has always read) and in every language given
(`impact_translations`), with `source_locale` naming the service's language."""

from __future__ import annotations

from pathlib import Path

import yaml

from detector.config import parse_config
from tests.web.conftest import TOKEN, MakeWorld, make_world, raw_config  # noqa: F401

WEB = {
    "major_outage": {"en": "You cannot sign in.", "fr": "Connexion impossible."},
    "degraded": {"en": "Signing in is slow.", "fr": "La connexion est lente."},
}


async def test_facts_carry_the_impact_of_the_notice_s_severity(
    make_world: MakeWorld,  # noqa: F811
    tmp_path: Path,
) -> None:
    raw = raw_config(tmp_path)
    raw["components"][1]["impact"] = WEB
    w = await make_world(config=parse_config(yaml.safe_dump(raw), env={"ADMIN": TOKEN}))

    inc = await w.outage("web")  # every probe down: a major outage
    facts = (await w.store.notices([inc.id]))[inc.id][0].facts
    assert facts["severity"] == "major_outage"
    assert facts["impacts"] == ["You cannot sign in."]
    assert facts["impact_translations"] == [WEB["major_outage"]]
    assert facts["source_locale"] == "en"

    body = {"title": "Slow sign-in", "components": ["web"], "severity": "degraded"}
    r = await w.post("/api/v1/admin/incidents", body)
    assert r.status == 201, r.text
    manual = r.body["incident"]["id"]
    facts = (await w.store.notices([manual]))[manual][0].facts
    assert facts["impacts"] == ["Signing in is slow."]
    assert facts["impact_translations"] == [WEB["degraded"]]
