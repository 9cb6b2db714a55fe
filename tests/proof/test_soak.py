"""A short soak in `make test`: six simulated hours of busy churn, seqguard's cycle every
15 minutes, HubSpot's unenroll workflow acting 5 minutes after each write, judged by the
independent oracle (bench/oracle.py) with that lag in mind. CI guards the week-long
figures with it: no wrongful send, no wrongful removal, no decision written twice. (A
whole day took ~500 s on a loaded machine, too long for the suite's 10-minute budget;
`bench/soak.py --days 1` runs it by hand.)"""

from __future__ import annotations

from pathlib import Path

from bench.churn import Rates
from bench.soak import WORKFLOW_LAG, run_soak

# much busier than the bench's defaults, so six hours meet every kind of signal (with
# seed 3: the churn's choices follow the sequencer's state, which the workflow's lag moves)
DAY_RATES = Rates(rep_enrollments=15.0, signal_per_enrollment=0.08, deals_opened=4.0,
                  opportunities_opened=2.0, manual_unenroll=0.6, manual_enroll=0.6)


def test_hours_of_churn_send_no_wrongful_step_and_remove_no_one_wrongly(
        tmp_path: Path) -> None:
    result = run_soak(days=0.25, contacts=2000, seed=3, workdir=tmp_path, rates=DAY_RATES,
                      workflow_lag=WORKFLOW_LAG)
    figures, verdict = result["figures"], result["verdict"]
    assert figures["cycles"] == 24 and figures["workflow_lag_min"] == WORKFLOW_LAG
    assert figures["steps_sent"] > 40 and len(verdict.removals) > 8, figures
    signals = {e.get("signal") for e in result["log"] if e["kind"] == "signal"}
    assert {"reply", "ooo", "unsubscribe", "open_deal"} <= signals, signals
    assert verdict.wrongful_sends == [], verdict.wrongful_sends[:5]
    assert verdict.wrongful_removals == [], verdict.wrongful_removals[:5]
    assert verdict.wrongful_enrollments == [], verdict.wrongful_enrollments[:5]
    assert verdict.duplicate_writes == [], verdict.duplicate_writes[:5]
    assert verdict.unmodelled_rules == []
    # the unenrolls written in a cycle are unverified until the workflow's run is read
    assert figures["unenrolls_written"] >= len(verdict.removals) > 0
    assert figures["unverified_max"] > 0 and figures["unverified_listed"] > 0, figures
    assert figures["latency_p95_min"] <= 15.0 + WORKFLOW_LAG, figures
