-- Every recorded version of every sequence's ruleset (tasks/rules/propagation.py).
select ruleset, is_default, seq, version, first_seen, effective_from, is_deleted, rules,
    colleague_reply
from rules.ruleset_versions
