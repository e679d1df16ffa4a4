-- Schema 3: which process owns what, and an intent before every billable call to Runway.

-- One row per bot process that has run against this database. A process heartbeats every few
-- seconds; one whose heartbeat is old (or, on SQLite, any process but the one starting now) is
-- dead, and whatever it owned is resolved at once by the next reconciliation.
CREATE TABLE processes (
    id           INTEGER PRIMARY KEY,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    stopped_at   INTEGER
) STRICT;

-- Written before the bot asks Runway to create something it pays for, and resolved after:
-- ADOPTED (the bot follows the object), REMOVED (deleted at Runway), FAILED (Runway certainly
-- made nothing), UNRESOLVED (the dialect cannot tell; reported to admins). PENDING while the
-- call is in flight; UNSURE once the answer was lost, until a listing of Runway's objects
-- settles it. `kind` is any name the services define (avatar, document, session, ...), so a
-- new kind of billable call needs no migration.
CREATE TABLE runway_intents (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
    guild_id     INTEGER NOT NULL,
    member_id    INTEGER NOT NULL,
    owner        INTEGER NOT NULL REFERENCES processes (id),
    state        TEXT    NOT NULL DEFAULT 'PENDING' CHECK (state IN (
                     'PENDING', 'UNSURE', 'ADOPTED', 'REMOVED', 'FAILED', 'UNRESOLVED')),
    name         TEXT    NOT NULL,  -- what the member knows it by
    fingerprint  BLOB    NOT NULL,  -- SHA-256 of what was sent, to recognise it in a listing
    target       TEXT,              -- what it refers to at Runway (a session's avatar or preset)
    record_id    INTEGER,           -- the bot's own row it belongs to (avatar, session), if any
    detail       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
    runway_id    TEXT,
    created_at   INTEGER NOT NULL,  -- just before the call
    decide_after INTEGER NOT NULL,  -- not finding it before this proves nothing
    attempts     INTEGER NOT NULL DEFAULT 0,
    resolved_at  INTEGER,
    outcome      TEXT,              -- one sentence for admins
    CHECK ((state IN ('PENDING', 'UNSURE')) = (resolved_at IS NULL))
) STRICT;

CREATE INDEX runway_intents_open ON runway_intents (created_at)
    WHERE state IN ('PENDING', 'UNSURE');
CREATE INDEX runway_intents_guild ON runway_intents (guild_id, id DESC);
CREATE UNIQUE INDEX runway_intents_runway_id ON runway_intents (kind, runway_id)
    WHERE runway_id IS NOT NULL;
-- The intent written with a record (an avatar, a session), found without walking history.
CREATE INDEX runway_intents_record ON runway_intents (kind, record_id)
    WHERE record_id IS NOT NULL;

-- A reservation belongs to the process that made it, so a dead process's reservation is
-- resolved at once instead of after a timeout.
ALTER TABLE sessions ADD COLUMN owner INTEGER REFERENCES processes (id);

-- Rejoining a call from the same browser: the hash of a secret the join page generated and
-- sent with its first request, and the call's credentials (from Runway's one-time consume)
-- encrypted under that secret. Forgotten as soon as the session ends.
ALTER TABLE sessions ADD COLUMN join_secret_hash BLOB;
ALTER TABLE sessions ADD COLUMN join_credentials BLOB;

CREATE TRIGGER sessions_forget_join_credentials AFTER UPDATE OF state ON sessions
WHEN NEW.state IN ('SETTLED', 'RELEASED') AND NEW.join_credentials IS NOT NULL
BEGIN
    UPDATE sessions SET join_credentials = NULL WHERE id = NEW.id;
END;
