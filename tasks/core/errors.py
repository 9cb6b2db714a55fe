"""The few error classes seqguard raises on purpose.

Each carries one line for the user: what is wrong (naming the file, rule, record or
setting) and how to fix it. The CLI prints that line and exits non-zero.
"""

from __future__ import annotations

from tasks.core.redact import redact


class SeqguardError(Exception):
    """Base: `str(err)` is the one line shown to the user. Its message may quote a remote
    answer, so any configured secret in it is redacted here, where it is made."""

    exit_code = 1

    def __init__(self, message: object = "") -> None:
        super().__init__(redact(str(message)))


class ConfigError(SeqguardError):
    """A missing or wrong setting, credential or CRM endpoint."""

    exit_code = 2


class SyncError(SeqguardError):
    """A CRM could not be read (auth, network, API error) after retries."""

    exit_code = 2


class StoreError(SeqguardError):
    """The database could not be opened or migrated."""

    exit_code = 2


class RuleFileError(SeqguardError):
    """A rule, play, ruleset or list file is broken; `file:line: what; fix`."""


class SequencerRejected(SeqguardError):
    """The sequencer refused a change (already enrolled, unsubscribed, unknown id)."""
