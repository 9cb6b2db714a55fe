-- Every recorded version of every rule (tasks/rules/propagation.py).
select rule, seq, version, first_seen, effective_from, is_deleted, path, header, sql,
    level, exclude_from_sequences, remove_enrolled, enabled, problem, sql_line
from rules.versions
