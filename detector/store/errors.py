"""What the store raises of its own (the driver's errors are SQLAlchemy's)."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The store cannot be used as it is: its file vanished or was replaced, or its schema is
    newer than this detector knows."""
