"""The recovery notice promises a report by a date; `reports_overdue` counts the promises
broken (resolved, date passed, no published post-mortem), for the alert that says so."""

from __future__ import annotations

from detector.store import Change, IncidentRow, Store

NOW = 1_800_000_000.0


def incident(iid: str, **over: object) -> IncidentRow:
    row = IncidentRow(
        id=iid,
        component_ids=["api"],
        title="API",
        status="resolved",
        severity="major_outage",
        started_at=NOW - 9000,
        detected_at=NOW - 8990,
        resolved_at=NOW - 8000,
        report_by=NOW - 1,
    )
    for k, v in over.items():
        setattr(row, k, v)
    return row


async def test_reports_overdue_counts_only_broken_promises(store: Store) -> None:
    await store.commit(
        Change(
            incidents=[
                incident("late"),
                incident("published", postmortem_published_at=NOW - 10),
                incident("not-yet", report_by=NOW + 3600),
                incident("open", resolved_at=None, status="monitoring"),
                incident("vetoed", vetoed=True),
            ]
        ),
        NOW,
    )
    assert await store.reports_overdue(NOW) == 1
    assert await store.reports_overdue(NOW + 7200) == 2  # "not-yet" is late by then
    assert [i.id for i in await store.overdue_reports(NOW + 7200)] == ["late", "not-yet"]
