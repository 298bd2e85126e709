"""Operator text per language through the admin API (CONTRACT §3): a mapping is accepted,
stored and shown as given; each answer names the subscriber languages the text misses; the
notice facts carry the source-language text and every translation."""

from __future__ import annotations

from detector.config.models import Subscriber
from tests.web.conftest import UP, MakeWorld

BASE = "/api/v1/admin"
FR = Subscriber(name="Globex", email="ops@globex.example", locale="fr", components=["web"])
PL = Subscriber(name="Kowalski", email="k@kowalski.example", locale="pl_PL", components=["api"])
ID = Subscriber(name="Nusantara", email="ops@nusantara.example", locale="id")


async def test_update_cause_resolve_accept_text_per_language(make_world: MakeWorld) -> None:
    w = await make_world(subscribers=[FR, PL, ID])
    inc = await w.outage("web")  # followed by Globex (fr) and Nusantara (id), not Kowalski

    r = await w.post(f"{BASE}/incidents/{inc.id}/updates", {"message": "We are on it."})
    assert r.status == 200 and r.body["missing_languages"] == ["fr", "id"]

    words = {"en": "We found it.", "fr": "Nous l'avons trouvé."}
    r = await w.post(f"{BASE}/incidents/{inc.id}/updates", {"message": words})
    assert r.status == 200 and r.body["missing_languages"] == ["id"]
    facts = (await w.store.notices([inc.id]))[inc.id][-1].facts
    assert facts["message"] == "We found it." and facts["message_translations"] == words
    assert facts["source_locale"] == "en"

    cause = {"en": "A full disk.", "fr": "Un disque plein.", "id": "Disk penuh."}
    r = await w.post(f"{BASE}/incidents/{inc.id}/cause", {"cause": cause, "actions": "Alerts."})
    assert r.status == 200 and r.body["missing_languages"] == ["fr", "id"]  # the actions'
    assert r.body["incident"]["cause"] == cause  # shown as given
    stored = await w.store.incident(inc.id)
    assert stored is not None and stored.cause == cause and stored.actions == "Alerts."
    facts = (await w.store.notices([inc.id]))[inc.id][-1].facts
    assert facts["cause"] == "A full disk." and facts["cause_translations"] == cause

    r = await w.get(f"/api/v1/incidents/{inc.id}")
    assert r.status == 200 and r.body["cause"] == cause

    await w.feed("web", UP, 2)
    words = {"en": "All good.", "fr_FR": "Tout est rétabli.", "id": "Semua baik."}
    r = await w.post(f"{BASE}/incidents/{inc.id}/resolve", {"message": words})
    assert r.status == 200 and r.body["missing_languages"] == []
    facts = (await w.store.notices([inc.id]))[inc.id][-1].facts
    assert facts["message"] == "All good." and facts["message_translations"] == words


async def test_open_and_maintenance_report_missing_languages(make_world: MakeWorld) -> None:
    w = await make_world(subscribers=[FR, PL, ID])
    body = {
        "title": "Invoices are late",
        "components": ["api"],
        "severity": "degraded",
        "message": {"en": "Invoices are late.", "pl": "Faktury się spóźniają."},
    }
    r = await w.post(f"{BASE}/incidents", body)
    assert r.status == 201 and r.body["missing_languages"] == ["id"]  # not Globex: web only

    r = await w.post(
        f"{BASE}/maintenance",
        {
            "title": "Database upgrade",
            "components": ["web"],
            "starts_at": "2027-01-16T00:00:00Z",
            "ends_at": "2027-01-16T01:00:00Z",
            "message": {"en": "Brief interruptions.", "fr_CA": "De brèves interruptions."},
        },
    )
    assert r.status == 201 and r.body["missing_languages"] == ["id"]
    assert r.body["maintenance"]["message"]["fr_CA"] == "De brèves interruptions."
    rows = await w.store.maintenance_rows()
    assert rows[0].message == {"en": "Brief interruptions.", "fr_CA": "De brèves interruptions."}
    notice = (await w.store.notices([rows[0].id]))[rows[0].id][0]
    assert notice.facts["message"] == "Brief interruptions."
    assert notice.facts["message_translations"]["fr_CA"] == "De brèves interruptions."


async def test_text_per_language_needs_the_service_language(make_world: MakeWorld) -> None:
    w = await make_world()
    inc = await w.outage("web")
    before = len((await w.store.notices([inc.id]))[inc.id])
    cases: list[tuple[str, dict[str, object]]] = [
        ("updates", {"message": {"fr": "Bonjour."}}),
        ("cause", {"cause": "Disk.", "actions": {"fr": "Alertes."}}),
        ("resolve", {"message": {"pl": "Koniec."}}),
    ]
    for path, body in cases:
        r = await w.post(f"{BASE}/incidents/{inc.id}/{path}", body)
        field = next(k for k, v in body.items() if isinstance(v, dict))
        assert r.status == 400 and r.body == {
            "error": f"{field}: needs the text in the service's language 'en' too"
        }
    assert len((await w.store.notices([inc.id]))[inc.id]) == before  # nothing was published
    r = await w.post(f"{BASE}/incidents/{inc.id}/updates", {"message": "Hello."})
    assert r.status == 200 and r.body["missing_languages"] == []  # no subscribers: en only


async def test_the_status_page_shows_maintenance_words_in_its_language_only(
    make_world: MakeWorld,
) -> None:
    w = await make_world()
    words = {"en": "Brief interruptions.", "fr": "De brèves interruptions."}
    r = await w.post(
        f"{BASE}/maintenance",
        {
            "title": "Database upgrade",
            "components": ["web"],
            "starts_at": "2027-01-16T00:00:00Z",
            "ends_at": "2027-01-16T01:00:00Z",
            "message": words,
        },
    )
    assert r.status == 201
    fr, pl = (await w.get("/?lang=fr")).text, (await w.get("/?lang=pl")).text
    assert "De brèves interruptions." in fr and "Brief interruptions." not in fr
    assert not any(text in pl for text in words.values())
