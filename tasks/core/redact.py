"""Configured secrets never leave seqguard, whatever echoes them back.

A server that echoes the bearer token in an error body would otherwise carry it into
error lines, logs, Prefect's database, artifacts and the DuckDB file. So every credential
is remembered the moment it is resolved (tasks/core/config.py `Credential.resolve`), and each
exit where text leaves the process or lands on disk replaces it with `[redacted]`:

- log records of every logger, Prefect's included, through a log record factory (it sees
  each record whichever handlers Prefect sets up later, tracebacks formatted and cleaned);
- seqguard's own errors (`SeqguardError` cleans its message), so the CLI's error line and
  Prefect's failed-state messages are clean; the CLI cleans any other error line too;
- Prefect artifacts (tasks/run/report.py) and the run summary the CLI prints;
- the rows that keep remote or run text: ops.outbox error/response, rules.runs.error and
  rules.pending_changes, ops.runs.summary.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc

REDACTED = "[redacted]"
# shorter values would blank out ordinary words; no real credential is this short
MIN_SECRET_LENGTH = 6

_secrets: set[str] = set()
_ordered: list[str] = []  # the same, longest first, so a longer form is replaced whole
_lock = threading.Lock()
_base_factory = logging.getLogRecordFactory()


def remember(secret: str) -> str:
    """Note a resolved credential (and the forms an echo may take: URL- and JSON-escaped)
    so every exit redacts it; returns it unchanged."""
    if len(secret) < MIN_SECRET_LENGTH:
        return secret
    forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
    global _base_factory
    with _lock:
        _secrets.update(forms)
        _ordered[:] = sorted(_secrets, key=len, reverse=True)
        current = logging.getLogRecordFactory()
        if current is not _clean_record:
            _base_factory = current
            logging.setLogRecordFactory(_clean_record)
    return secret


def redact(text: str) -> str:
    """The text with every remembered secret replaced by [redacted]."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redacted(value: Any) -> Any:
    """A copy of plain data (dicts, lists, strings) with every secret redacted; other
    values (numbers, times) pass through."""
    if not _ordered:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redacted(v) for v in value)
    return value


def redacted_columns(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """The table with every secret redacted in the named string columns (remote answers
    before they are stored)."""
    for name in columns:
        column = table.column(name)
        for secret in _ordered:
            column = pc.replace_substring(column, secret, REDACTED)
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def _clean_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """The log record factory: the message, and any traceback, redacted at creation."""
    record = _base_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a malformed call; logging reports it at emit
        return record
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[0] is not None:
        # the traceback as text, cleaned; the exception object itself is dropped so no
        # formatter (Prefect's JSON one reads it) can print it uncleaned
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    return record
