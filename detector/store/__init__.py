from detector.store.store import (
    Change,
    IncidentRow,
    MaintenanceRow,
    NoticeRow,
    OutboxRow,
    Store,
)

__all__ = ["Change", "IncidentRow", "MaintenanceRow", "NoticeRow", "OutboxRow", "Store"]
