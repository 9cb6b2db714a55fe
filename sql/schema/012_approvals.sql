-- A person's decision on a run the circuit breaker held: approve (its unenrolls are
-- posted) or reject (they are cancelled, and not asked for again while nothing about
-- them changes). One row per run: the first decision, from the Prefect form or the CLI,
-- closes the hold for both; the note says why, for whoever reads the run later.
create table ops.approvals (
    run_id varchar primary key,
    decision varchar not null,          -- approved | rejected
    actor varchar not null,             -- user:<name>, or the name typed in the form
    note varchar,
    via varchar not null,               -- prefect-form | cli
    changes integer not null,           -- held changes it released or cancelled
    decided_at timestamp not null
);
