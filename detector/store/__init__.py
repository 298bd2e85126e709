from detector.store.store import (
    STORE_ERRORS,
    Change,
    IncidentRow,
    MaintenanceRow,
    NoticeRow,
    OutboxRow,
    Store,
    StoreUnavailable,
)

__all__ = [
    "STORE_ERRORS",
    "Change",
    "IncidentRow",
    "MaintenanceRow",
    "NoticeRow",
    "OutboxRow",
    "Store",
    "StoreUnavailable",
]
