-- Schema 11: what several bot processes on one database share beyond admission (issue 11).
-- See migrations/sqlite/0011_leases_and_outbox.sql for what each table is for.

CREATE TABLE leases (
    name       text   NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    holder     bigint NOT NULL,
    expires_at bigint NOT NULL
);

CREATE TABLE session_outbox (
    session_id    bigint NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    created_at    bigint NOT NULL,
    claimer       bigint,
    claimed_until bigint,
    attempts      bigint NOT NULL DEFAULT 0
);

ALTER TABLE sessions ADD COLUMN end_hint text
    CHECK (end_hint IN (
        'member_ended', 'time_limit', 'abandoned', 'never_ready', 'cancelled'));
