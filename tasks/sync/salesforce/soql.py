"""SOQL literals, written by seqguard, never from user text unescaped: the sync's time
windows and the cadence sequencer's `IN (...)` lists."""

from __future__ import annotations

from datetime import datetime

from tasks.core.clock import naive_utc


def datetime_literal(value: datetime) -> str:
    """A SOQL datetime literal (unquoted, UTC, whole seconds, rounded down)."""
    return naive_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def string_literal(text: str) -> str:
    """A SOQL string literal: backslashes and quotes escaped, never raw."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
