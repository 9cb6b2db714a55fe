-- What one pending version will change once effective (the run report's lines).
-- params: one row of each column below
insert into rules.pending_changes
values ($run_id, $kind, $name, $version, $effective_from, $status, $error, $newly_excluded,
    $no_longer_excluded, $would_remove, $summary)
