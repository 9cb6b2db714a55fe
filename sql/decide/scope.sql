-- What each in-force rule does per sequence in a run, from the rules step's
-- rules.scopes, with sequence names (as rulesets.yml and plays write them) resolved to
-- the sequencer's ids. A row with a null sequence is the default ruleset: it applies to
-- every sequence that has no rows of its own. A row with a play applies only to that
-- play's enrollments. Failed rules (fail closed) carry the error they failed with.
-- params: $run_id, $sequencer
with
run_scopes as (
    select * from rules.scopes where run_id = $run_id
),
errors as (
    select rule, any_value(error) as error
    from rules.runs
    where run_id = $run_id and kind = 'rule' and status = 'error'
    group by all
),
resolved as (
    select
        r.rule,
        r.version as rule_version,
        case when r.sequence is null then null else coalesce(s.sequence_id, r.sequence) end
            as sequence_id,
        r.play,
        r.blocks_new as blocks,
        r.removes_enrolled as removes,
        r.failed,
        -- the widest reason names the scope
        case
            when list_contains(r.why, 'global') then 'global'
            when list_contains(r.why, 'ruleset') then 'ruleset'
            when list_contains(r.why, 'default_ruleset') then 'default_ruleset'
            when list_contains(r.why, 'play') then 'play'
            else r.why[1]
        end as scope,
        e.error
    from run_scopes as r
    left join ops.sequences as s
        on s.crm = $sequencer and (s.sequence_id = r.sequence or s.name = r.sequence)
    left join errors as e on e.rule = r.rule
),
final as (
    select distinct * from resolved
)
select * from final
