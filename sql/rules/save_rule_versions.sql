-- A new version of a rule, as first seen (a handful of rows a cycle: one per changed file).
-- params: one row of each column below
insert into rules.versions (rule, seq, version, path, header, sql, sql_line, level,
    exclude_from_sequences, remove_enrolled, enabled, is_deleted, problem, first_seen,
    effective_from)
values ($rule, $seq, $version, $path, $header, $sql, $sql_line, $level,
    $exclude_from_sequences, $remove_enrolled, $enabled, $is_deleted, $problem, $first_seen,
    $effective_from)
