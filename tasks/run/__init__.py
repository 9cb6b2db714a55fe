"""One run of the cycle around the stages: ops.runs (a row per cycle, the time it may
not go back before; runs.py), the lock that keeps one cycle per database and is freed by
its holder's death (lock.py), and the run's Prefect artifacts and progress (report.py)."""
