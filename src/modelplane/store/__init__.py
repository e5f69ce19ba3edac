"""The metadata database: engines, sessions, tables and migrations."""

from modelplane.store.db import Database, get_database

__all__ = ["Database", "get_database"]
