"""What every stage shares: the run's configuration (seqguard.yml, validated once), the
error classes with their one-line messages, the clock (naive UTC, the `--now` parser),
the redaction of secrets, and the hostile-input reader of the files users commit."""
