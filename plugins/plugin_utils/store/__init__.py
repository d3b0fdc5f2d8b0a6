"""The fleet record (store): every observation and action per PC, SQLite by default or PostgreSQL."""

from .record import Pc, Run, Seen, Store

__all__ = ["Pc", "Run", "Seen", "Store"]
