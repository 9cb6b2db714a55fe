"""Benchmark the rules engine against bare DuckDB running the same SQL.

    .venv/bin/python bench/rules.py --people 1000000

Generates crm.* straight with DuckDB SQL (people, companies with aliases, opportunities
and their contacts, engagements), writes a project with the built-in rules plus 20
more, then in the same process and on the same file:

- engine: `evaluate_rules` end to end (reload lists, record versions, run every rule on a
  locked read-only connection, store matches with company rows expanded, scopes,
  pending changes), as a cycle calls it; the first cycle and a steady-state one;
- bare: the same rule SQL run on a plain read-only connection, each result fetched as
  Arrow (what the DuckDB CLI would do), nothing stored.

Each round runs bare and the engine back to back, in alternating order. The machine's
speed drifts by a third between minutes (a shared VM), so the ratio is judged per round,
each engine run against the bare run beside it, and the median round counts
(`ratio_median_round`); the ratio of the best times of each (`ratio`) is printed too.
Bare storing (DuckDB alone writing every rule's rows, company rows expanded) is measured
after all rounds: the disk writes it leaves behind slowed whatever ran next.

Goal (issue 5): engine <= 1.3x bare and < 10 s at 1M people. The last line printed is
one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from tasks.core.resources import BUILTIN_RULES_DIR  # noqa: E402
from tasks.db import store  # noqa: E402
from tasks.rules.engine import define_macros  # noqa: E402
from tasks.rules.evaluate import evaluate_rules  # noqa: E402
from tasks.rules.project import load_project  # noqa: E402
from tasks.rules.statements import strip_semicolon  # noqa: E402

NOW = datetime(2026, 3, 2, 12, 0)

GENERATE_SQL = """
insert into crm.companies
select
    'c' || i || '.com' as company_domain,
    'Company ' || i as name,
    case when i % 10 = 0 then ['alias' || i || '.io'] else [] end as aliases,
    ['' || i] as hubspot_ids,
    [] as salesforce_account_ids,
    case when i % 20 = 0 then 'customer' when i % 3 = 0 then 'opportunity' else 'lead' end
from range($companies) as t(i);

insert into crm.company_domains
select company_domain, company_domain from crm.companies
union all
select 'alias' || i || '.io', 'c' || i || '.com' from range(0, $companies, 10) as t(i);

insert into crm.people
select
    'p' || i || '@'
        || case when i % 10 = 0 then 'gmail.com' else 'c' || (i % $companies) || '.com' end,
    'First' || i, 'Last' || i,
    case when i % 10 = 0 then null else 'c' || (i % $companies) || '.com' end,
    'rep' || (i % 50) || '@us.com',
    case i % 9 when 0 then 'customer' when 1 then 'lead' when 2 then 'subscriber'
        when 3 then 'evangelist' when 4 then 'opportunity' else 'marketingqualifiedlead' end,
    i % 33 = 0, i % 41 = 0,
    i::varchar, case when i % 2 = 0 then '003' || i end, null,
    $now::timestamp - to_days((hash(i, 'created') % 400)::integer),
    $now::timestamp - to_minutes((hash(i, 'updated') % 200000)::integer)
from range($people) as t(i);

insert into crm.opportunities
select
    'o' || i, case when i % 3 = 0 then 'salesforce' else 'hubspot' end,
    'Deal ' || i,
    case when i % 10 < 3 then 'appointmentscheduled' when i % 10 < 6 then 'closedwon'
        else 'closedlost' end,
    i % 10 >= 3, i % 10 between 3 and 5,
    (hash(i, 'amount') % 100000)::double,
    ($now::timestamp - to_days((hash(i, 'close') % 365)::integer))::date,
    'c' || (hash(i, 'company') % $companies) || '.com',
    $now::timestamp - to_days((hash(i, 'opp_updated') % 100)::integer)
from range($opportunities) as t(i);

insert into crm.opportunity_contacts
select o.opportunity_id, o.crm, 'p' || (hash(o.opportunity_id, k) % $people) || '@c'
    || (hash(o.opportunity_id, k) % $people % $companies) || '.com'
from crm.opportunities as o, range(2) as k(k);

insert into crm.engagements
with picks as (
    select
        i,
        hash(i, 'who') % $people as who,
        i % 10 < 8 as is_email,
        i % 10 < 8 and hash(i, 'dir') % 5 = 0 as is_inbound
    from range($engagements) as t(i)
)
select
    'e' || i, case when i % 4 = 0 then 'salesforce' else 'hubspot' end,
    case when is_email then 'email' when i % 10 = 8 then 'meeting' else 'call' end,
    case when is_inbound then 'inbound' when is_email then 'outbound' end,
    'p' || who || '@' || case when who % 10 = 0 then 'gmail.com'
        else 'c' || (who % $companies) || '.com' end,
    case when is_inbound and hash(i, 'alias') % 20 = 0 then 'Alias' || i || '@gmail.com'
        when is_inbound then 'P' || who || '@' || case when who % 10 = 0 then 'gmail.com'
            else 'c' || (who % $companies) || '.com' end
        else 'rep' || (i % 50) || '@us.com' end,
    is_inbound and hash(i, 'ooo') % 20 = 0,
    is_email and not is_inbound and hash(i, 'bounce') % 100 = 0,
    case when is_email and not is_inbound and hash(i, 'seq') % 2 = 0
        then 'seq-' || (hash(i, 'seq') % 20) end,
    $now::timestamp - to_minutes((hash(i, 'when') % (180 * 24 * 60))::integer)
        + to_days(case when i % 10 = 8 and hash(i, 'future') % 4 = 0 then 14 else 0 end)
from picks;
"""

HEADER = """-- rule: {name}
-- description: Benchmark rule {name}.
-- level: {level}
-- exclude_from_sequences: {exclude}
-- remove_enrolled: true
-- enabled: true
"""

# twenty more rules of the kinds a data team writes: activity windows, deal facts,
# company roll-ups, owner and lifecycle filters
EXTRA_RULES: dict[str, tuple[str, str]] = {
    "recent_call": ("contact", """
        select email, 'call on ' || max(occurred_at)::date as reason
        from crm.engagements
        where type = 'call' and occurred_at between cycle_time() - interval 30 day and cycle_time()
        group by email"""),
    "big_open_deal": ("company", """
        select company_domain, 'open deal over 50k: ' || name as reason
        from crm.opportunities where not is_closed and amount > 50000"""),
    "closed_lost_recently": ("company", """
        select company_domain, 'lost ' || max(close_date) as reason
        from crm.opportunities
        where is_closed and not is_won and close_date >= cycle_time()::date - 60
        group by company_domain"""),
    "open_deal_contact": ("contact", """
        select oc.email, 'contact on open deal ' || o.name as reason
        from crm.opportunity_contacts as oc
        join crm.opportunities as o using (crm, opportunity_id)
        where not o.is_closed"""),
    "many_meetings": ("contact", """
        select email, count(*) || ' meetings' as reason
        from crm.engagements
        where type = 'meeting' and occurred_at >= cycle_time() - interval 180 day
        group by email having count(*) >= 3"""),
    "new_last_week": ("contact", """
        select email, 'created ' || created_at::date as reason
        from crm.people where created_at >= cycle_time() - interval 7 day"""),
    "freemail_subscriber": ("contact", """
        select email from crm.people
        where company_domain is null and lifecycle_stage = 'subscriber'"""),
    "internal": ("contact", """
        select email, 'colleague' as reason from crm.people
        where split_part(email, '@', 2) in ('us.com', 'us.io')"""),
    "mql_recently_updated": ("contact", """
        select email from crm.people
        where lifecycle_stage = 'marketingqualifiedlead'
            and updated_at >= cycle_time() - interval 14 day"""),
    "hot_company": ("company", """
        with inbound as (
            select p.company_domain, count(*) as emails
            from crm.engagements as e
            join crm.people as p on p.email = e.email
            where e.direction = 'inbound' and not e.is_ooo
                and e.occurred_at >= cycle_time() - interval 30 day
                and p.company_domain is not null
            group by all
        )
        select company_domain, emails || ' inbound emails in 30 days' as reason
        from inbound where emails >= 3"""),
    "sequence_fatigue": ("contact", """
        select email, count(*) || ' sequence emails in 90 days' as reason
        from crm.engagements
        where sent_by_sequence is not null
            and occurred_at >= cycle_time() - interval 90 day
        group by email having count(*) >= 4"""),
    "bounced_domain": ("company", """
        select company_domain, count(*) || ' bounced people' as reason
        from crm.people where is_bounced and company_domain is not null
        group by company_domain having count(*) >= 2"""),
    "customer_company": ("company", """
        select company_domain, 'customer account ' || name as reason
        from crm.companies where lifecycle_stage = 'customer'"""),
    "evangelist": ("contact", """
        select email, 'evangelist' as reason from crm.people
        where lifecycle_stage = 'evangelist'"""),
    "strategic_owner": ("contact", """
        select email, 'owned by a strategic rep' as reason from crm.people
        where owner_email in ('rep7@us.com', 'rep8@us.com')"""),
    "recently_updated": ("contact", """
        select email from crm.people where updated_at >= cycle_time() - interval 1 day"""),
    "away": ("contact", """
        select email, 'out of office until later' as reason
        from crm.engagements
        where is_ooo and occurred_at between cycle_time() - interval 7 day and cycle_time()
        group by email"""),
    "won_deal_contact": ("contact", """
        select oc.email, 'on won deal ' || o.name as reason
        from crm.opportunity_contacts as oc
        join crm.opportunities as o using (crm, opportunity_id)
        where o.is_won and o.close_date >= cycle_time()::date - 365"""),
    "stale_opportunity": ("company", """
        select company_domain, 'deal untouched 60 days' as reason
        from crm.opportunities
        where not is_closed and updated_at < cycle_time() - interval 60 day
        group by company_domain"""),
    "multi_crm_person": ("contact", """
        select email, 'in both CRMs' as reason from crm.people
        where hubspot_id is not null and salesforce_contact_id is not null
            and lifecycle_stage in ('opportunity', 'customer')"""),
}


def generate(db: Path, people: int, companies: int, opportunities: int,
             engagements: int) -> float:
    """crm.* filled by DuckDB SQL; returns seconds."""
    started = time.perf_counter()
    with store.connect(db) as con:
        for statement in [s for s in GENERATE_SQL.split(";\n") if s.strip()]:
            con.execute(statement, {k: v for k, v in {
                "people": people, "companies": companies, "opportunities": opportunities,
                "engagements": engagements, "now": NOW}.items() if f"${k}" in statement})
        con.execute("checkpoint")
    return time.perf_counter() - started


def write_project(root: Path) -> int:
    """The built-ins (from the repo) plus the 20 extra rules; returns the rule count."""
    rules = root / "sql" / "exclusions"
    rules.mkdir(parents=True)
    for i, (name, (level, sql)) in enumerate(EXTRA_RULES.items()):
        exclude = "true" if i % 2 else "false"  # half global, half ruleset-only
        (rules / f"{name}.sql").write_text(
            HEADER.format(name=name, level=level, exclude=exclude) + sql.strip() + "\n")
    # every rule applies somewhere (global or in this ruleset), as in a real project
    in_ruleset = [n for i, n in enumerate(EXTRA_RULES) if i % 2 == 0] + ["recent_manual_email"]
    (root / "sql" / "rulesets.yml").write_text(
        "default: {rules: []}\nsequences:\n"
        f'  "Enterprise outbound": {{rules: [{", ".join(in_ruleset)}], colleague_reply: true}}\n')
    return len(EXTRA_RULES) + len(list(BUILTIN_RULES_DIR.glob("*.sql")))


class Timer:
    """Wall time and CPU time (all threads of this process): the machine may be shared,
    and CPU seconds are the figure other processes do not inflate."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def settled() -> None:
    """Wait until the disk writes of what ran before are done: on two cores, the kernel
    writing back one run's checkpoint took CPU from the run measured after it."""
    os.sync()


def bare(db: Path, project: Path) -> tuple[Timer, int]:
    """The same SQL on a plain read-only connection, each result fetched as Arrow."""
    rules = load_project(project).rules
    rows = 0
    settled()
    with Timer() as timer, store.connect(db, read_only=True) as con:
        define_macros(con, NOW)  # cycle_time() is part of the rules' SQL
        for rule in rules:
            rows += con.sql(rule.sql).to_arrow_table().num_rows
    return timer, rows


BARE_CONTACT_SQL = """
insert into bench_matches
select 'bare', $rule, 'v', lower(trim(email)), null, {reason}::varchar, false
from ({sql}) where email is not null
"""
BARE_COMPANY_SQL = """
insert into bench_matches
with named as (
    select lower(trim(company_domain)) as domain, any_value({reason}::varchar) as reason
    from ({sql}) where company_domain is not null group by 1
),
companies as (
    select coalesce(d.company_domain, n.domain) as company_domain, any_value(n.reason) as reason
    from named as n left join crm.company_domains as d on d.domain = n.domain group by 1
),
reach as (
    select company_domain, reason, company_domain as domain from companies
    union
    select c.company_domain, c.reason, d.domain
    from companies as c join crm.company_domains as d on d.company_domain = c.company_domain
)
select 'bare', $rule, 'v', p.email, r.company_domain, r.reason, false
from reach as r join crm.people as p on p.company_domain = r.domain
"""


def bare_store(db: Path, project: Path) -> Timer:
    """DuckDB alone doing the engine's job: every rule's rows (company rows expanded) into
    a matches table, in one transaction on one read-write connection, nothing between."""
    rules = load_project(project).rules
    with store.connect(db) as con:
        con.execute("create or replace table bench_matches as select * from rules.matches "
                    "limit 0")
        define_macros(con, NOW)
        # which rules name a reason (binding only, outside the timing)
        reasons = {r.name: "reason" in {c[0] for c in con.execute("describe " + r.sql)
                                        .fetchall()} for r in rules}
    settled()
    with Timer() as timer, store.connect(db) as con:
        define_macros(con, NOW)
        con.execute("begin transaction")
        for rule in rules:
            template = BARE_COMPANY_SQL if rule.level == "company" else BARE_CONTACT_SQL
            reason = "reason" if reasons[rule.name] else "null"
            con.execute(template.format(sql=strip_semicolon(rule.sql), reason=reason),
                        {"rule": rule.name})
        con.execute("commit")
    with store.connect(db) as con:
        con.execute("drop table bench_matches")
    return timer


def engine(db: Path, project: Path, run_id: str, now: datetime) -> tuple[Timer, Any]:
    settled()
    with Timer() as timer:
        evaluation = evaluate_rules(db, project, run_id, now)
    return timer, evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=None, help="default people / 5")
    parser.add_argument("--opportunities", type=int, default=None, help="default people / 10")
    parser.add_argument("--engagements", type=int, default=None, help="default people * 5")
    parser.add_argument("--rounds", type=int, default=7,
                        help="steady-state rounds (from the 3rd, old matches are pruned)")
    args = parser.parse_args()
    companies = args.companies or max(args.people // 5, 1)
    opportunities = args.opportunities or max(args.people // 10, 1)
    engagements = args.engagements or args.people * 5

    with tempfile.TemporaryDirectory() as tmp:
        db, project = Path(tmp) / "bench.duckdb", Path(tmp) / "project"
        generated = generate(db, args.people, companies, opportunities, engagements)
        rule_count = write_project(project)
        print(f"generated {args.people:,} people, {companies:,} companies, "
              f"{opportunities:,} opportunities, {engagements:,} engagements in "
              f"{generated:.1f} s; {rule_count} rules")
        first, evaluation = engine(db, project, "first", NOW)
        print(f"engine, first cycle: {first.wall:.2f} s ({first.cpu:.2f} s CPU), "
              f"{evaluation.matches:,} matches, failed {evaluation.rules_failed}")
        engines, bares = [], []
        for round_no in range(args.rounds):
            now = NOW + timedelta(minutes=15 * (round_no + 1))
            # each pair back to back, the order alternating, so a drift favours neither
            if round_no % 2:
                engine_timer, evaluation = engine(db, project, f"steady-{round_no}", now)
                bare_timer, bare_rows = bare(db, project)
            else:
                bare_timer, bare_rows = bare(db, project)
                engine_timer, evaluation = engine(db, project, f"steady-{round_no}", now)
            bares.append(bare_timer)
            engines.append(engine_timer)
            print(f"round {round_no + 1}: bare {bare_timer.wall:.2f} s ({bare_timer.cpu:.2f} "
                  f"CPU, {bare_rows:,} rows), engine {engine_timer.wall:.2f} s "
                  f"({engine_timer.cpu:.2f} CPU, {evaluation.matches:,} matches), phases "
                  + ", ".join(f"{k} {v:.2f}" for k, v in evaluation.phases.items()))
        # storing writes and drops millions of rows; the disk writes that follow would slow
        # whatever ran next, so it is measured after the pairs
        bare_stores = [bare_store(db, project) for _ in range(min(args.rounds, 3))]
        print("bare storing: " + ", ".join(f"{t.wall:.2f} s ({t.cpu:.2f} CPU)"
                                           for t in bare_stores))
        rule_seconds = sorted(((r.seconds, r.rule) for r in evaluation.runs), reverse=True)[:5]
        print("slowest rules in the engine: " + ", ".join(f"{n} {s:.2f} s"
                                                        for s, n in rule_seconds))
        with duckdb.connect(str(db), read_only=True) as con:
            size_mb = con.execute("select sum(total_blocks * block_size) / 1e6 from "
                                  "pragma_database_size()").fetchall()[0][0]

    def best(timers: list[Timer], attr: str) -> float:
        return min(getattr(t, attr) for t in timers)

    round_ratios = [e.wall / b.wall for e, b in zip(engines, bares, strict=True)]
    median_ratio = statistics.median(round_ratios)

    result = {
        "people": args.people, "companies": companies, "opportunities": opportunities,
        "engagements": engagements, "rules": rule_count,
        "engine_first_cycle_s": round(first.wall, 3),
        "engine_s": round(best(engines, "wall"), 3),
        "bare_duckdb_s": round(best(bares, "wall"), 3),
        "ratio": round(best(engines, "wall") / best(bares, "wall"), 3),
        "ratio_per_round": [round(r, 3) for r in round_ratios],
        "ratio_median_round": round(median_ratio, 3),
        "engine_cpu_s": round(best(engines, "cpu"), 3),
        "bare_duckdb_cpu_s": round(best(bares, "cpu"), 3),
        "ratio_cpu": round(best(engines, "cpu") / best(bares, "cpu"), 3),
        "bare_duckdb_storing_s": round(best(bare_stores, "wall"), 3),
        "bare_duckdb_storing_cpu_s": round(best(bare_stores, "cpu"), 3),
        "ratio_vs_storing_cpu": round(best(engines, "cpu") / best(bare_stores, "cpu"), 3),
        "engine_phases_s": {k: round(v, 3) for k, v in evaluation.phases.items()},
        "matches": evaluation.matches, "output_rows": bare_rows,
        "rules_failed": len(evaluation.rules_failed),
        "database_mb": round(float(size_mb or 0), 1),
        "goal_met": median_ratio <= 1.3 and best(engines, "wall") < 10,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
