"""Time is stored and returned as timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["as_utc", "from_epoch_ms", "to_epoch_ms", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as aware UTC; a naive value is taken to be UTC already (as databases return it)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch, as the metadata tables store times."""
    return round(value.timestamp() * 1000)


def from_epoch_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)
