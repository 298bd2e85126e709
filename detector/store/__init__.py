from detector.store.cluster import Fenced, Lease, Member, Verdict
from detector.store.errors import StoreUnavailable
from detector.store.store import (
    STORE_ERRORS,
    Change,
    IncidentRow,
    MaintenanceRow,
    NoticeRow,
    OutboxRow,
    Store,
)

__all__ = [
    "STORE_ERRORS",
    "Change",
    "Fenced",
    "IncidentRow",
    "Lease",
    "MaintenanceRow",
    "Member",
    "NoticeRow",
    "OutboxRow",
    "Store",
    "StoreUnavailable",
    "Verdict",
]
