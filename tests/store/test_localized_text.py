"""Operator text per language in the store: a mapping is kept in the same text column as a
JSON object and read back as the mapping; a plain string (even one that looks like JSON) stays
a string. Runs on SQLite, and on PostgreSQL when DETECTOR_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import pytest

from detector.store import Change, IncidentRow, MaintenanceRow, Store
from detector.text import decode_localized, encode_localized

NOW = 1_800_000_000.0
CAUSE = {"en": "A full disk.", "fr": "Un disque plein.", "ar": "قرص ممتلئ."}


def incident(cause: object, actions: object = None) -> IncidentRow:
    return IncidentRow(
        id="web-1",
        component_ids=["web"],
        title="Dashboard",
        status="identified",
        severity="major_outage",
        started_at=NOW,
        detected_at=NOW,
        cause=cause,  # type: ignore[arg-type]
        actions=actions,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "cause",
    [CAUSE, "A full disk.", None, '{"en": 1}', "{not json", '{"en": "looks like a mapping"'],
)
async def test_cause_and_actions_round_trip(store: Store, cause: object) -> None:
    await store.commit(Change(incidents=[incident(cause, {"en": "Alerts.", "pl": "Alerty."})]), NOW)
    got = await store.incident("web-1")
    assert got is not None
    assert got.cause == cause
    assert got.actions == {"en": "Alerts.", "pl": "Alerty."}


async def test_maintenance_message_round_trips(store: Store) -> None:
    words = {"en": "Brief interruptions.", "id": "Gangguan singkat."}
    row = MaintenanceRow(
        id="maint-1",
        component_ids=["api"],
        title="Upgrade",
        starts_at=NOW + 60,
        ends_at=NOW + 3600,
        message=words,
    )
    await store.commit(Change(maintenance=[row]), NOW)
    assert [m.message for m in await store.maintenance_rows()] == [words]


def test_encoding_keeps_plain_text_as_it_is() -> None:
    assert encode_localized("Plain.") == "Plain."
    assert encode_localized(None) is None
    assert decode_localized(encode_localized(CAUSE)) == CAUSE
    assert decode_localized("{}") == "{}"  # an empty mapping was never stored
    assert decode_localized('["en"]') == '["en"]'
