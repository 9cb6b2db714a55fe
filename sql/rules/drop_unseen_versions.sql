-- The rows and fingerprints of the versions no kept run sees.
-- inputs: unseen_versions
delete from rules.match_rows where (rule, version, is_pending) in
    (select (rule, version, is_pending) from unseen_versions);
delete from rules.match_fingerprints where (rule, version, is_pending) in
    (select (rule, version, is_pending) from unseen_versions);
