"""The post stage: the outbox posted to the sequencer exactly once (poster.py), what the
sequencer holds read back and the outbox confirmed against it (reads.py), the circuit
breaker that holds a run unenrolling too many (breaker.py) and its approval in the
Prefect UI or on the CLI (approval.py); sequencers/ holds one adapter per sequencer
behind one protocol."""
