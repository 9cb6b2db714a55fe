"""A short soak in `make test`: one simulated day of churn, seqguard's cycle every 15
minutes, judged by the independent oracle (bench/oracle.py). CI guards the week-long
figures with this day: no wrongful send, no wrongful removal."""

from __future__ import annotations

from pathlib import Path

from bench.churn import Rates
from bench.soak import run_soak

# busier than the bench's defaults, so one day meets every kind of signal
DAY_RATES = Rates(signal_per_enrollment=0.02, manual_unenroll=0.2, manual_enroll=0.2)


def test_a_day_of_churn_sends_no_wrongful_step_and_removes_no_one_wrongly(
        tmp_path: Path) -> None:
    result = run_soak(days=1, contacts=2000, seed=0, workdir=tmp_path, rates=DAY_RATES)
    figures, verdict = result["figures"], result["verdict"]
    assert figures["cycles"] == 96
    assert figures["steps_sent"] > 50 and len(verdict.removals) > 10, figures
    signals = {e.get("signal") for e in result["log"] if e["kind"] == "signal"}
    assert {"reply", "ooo", "unsubscribe", "open_deal"} <= signals, signals
    assert verdict.wrongful_sends == [], verdict.wrongful_sends[:5]
    assert verdict.wrongful_removals == [], verdict.wrongful_removals[:5]
    assert verdict.wrongful_enrollments == [], verdict.wrongful_enrollments[:5]
    assert verdict.unmodelled_rules == []
    assert figures["latency_p95_min"] <= 15.0, figures
