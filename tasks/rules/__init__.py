"""The rules stage: the files the data team edits and what seqguard does with them.

files.py (rule files), rulesets.py, play_files.py, lists.py (CSV lists) and project.py
(a project's files together) read them as hostile input; statements.py checks a SELECT
before it runs; propagation.py versions every edit and decides when it takes effect;
engine.py runs one version read-only within budget.py's time budget; evaluate.py is the
cycle's rule step, storing whom each version names (matches.py), what it does per
sequence (scopes.py) and what pending edits will change (pending.py); lint.py (with
lint_db.py), explain.py and preview.py answer the data team's questions."""
