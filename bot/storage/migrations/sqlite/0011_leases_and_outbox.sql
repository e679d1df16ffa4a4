-- Schema 11: what several bot processes on one database share beyond admission (issue 11).

-- Leadership by lease: the work only one process may do at a time (following and settling
-- the open sessions) is done by the holder of its row. The holder renews well before
-- `expires_at` (its own clock, in unix seconds) and deletes the row when it stops; any other
-- process takes an expired or missing row over.
CREATE TABLE leases (
    name       TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    holder     INTEGER NOT NULL,  -- the process (processes.id)
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- A session's end to announce (the summary DM, the moderation log, budget alerts), written in
-- the transaction that ends it, so it is announced exactly once whichever process ended it. A
-- process claims a row until `claimed_until` and deletes it once announced; a claim that runs
-- out (the process died mid-send) is taken by another process.
CREATE TABLE session_outbox (
    session_id    INTEGER NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    claimer       INTEGER,  -- a token of the claiming tracker, never a member
    claimed_until INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0
) STRICT;

-- How a call ended as the bot learnt it before Runway said (the join page reported the member
-- ended it, its time ran out or the connection dropped; a member or the line ended it): kept
-- for whichever process settles the call, as the reason where Runway's own state cannot tell.
ALTER TABLE sessions ADD COLUMN end_hint TEXT
    CHECK (end_hint IN (
        'member_ended', 'time_limit', 'abandoned', 'never_ready', 'cancelled'));
