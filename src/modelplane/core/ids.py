"""Opaque identifiers: 32 lowercase hex characters, time-ordered for index locality."""

from __future__ import annotations

import os
import time

__all__ = ["new_id"]


def new_id() -> str:
    """A new opaque id: 48 bits of milliseconds then 80 random bits, as hex (like UUIDv7)."""
    return f"{int(time.time() * 1000):012x}{os.urandom(10).hex()}"
