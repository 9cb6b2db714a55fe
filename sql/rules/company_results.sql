-- Company results in the shapes of run_sets and match_rows, so rules.people_of reaches
-- the people they name.
-- inputs: result_rows, result_versions
create or replace temp view company_run_sets as
select '' as run_id, 0::bigint as seq, rule, version, is_pending
from result_versions;
create or replace temp view company_match_rows as
select v.rule, v.version, v.is_pending, r.email, r.company_domain, r.reason,
    0::bigint as from_seq, null::bigint as to_seq
from result_rows as r
join result_versions as v using (slot);
