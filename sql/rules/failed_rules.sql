-- The rules that failed closed in a run, with their error and the sequences they block.
-- params: $run_id
select s.rule, any_value(r.error) as error,
    list(distinct coalesce(s.sequence, '(any other sequence)')) filter (
        where s.blocks_new) as blocks
from rules.scopes as s
left join rules.runs as r
    on r.run_id = s.run_id and r.rule = s.rule and r.status = 'error' and not r.is_pending
where s.run_id = $run_id and s.failed
group by s.rule
order by s.rule
