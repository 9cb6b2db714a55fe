-- A new version of a sequence's ruleset (or the default), as first seen.
-- params: one row of each column below
insert into rules.ruleset_versions (ruleset, is_default, seq, version, rules,
    colleague_reply, is_deleted, first_seen, effective_from)
values ($ruleset, $is_default, $seq, $version, $rules, $colleague_reply, $is_deleted,
    $first_seen, $effective_from)
