-- Schema 1: everything the bot stores.
-- Conventions: STRICT tables; integer primary keys; Discord snowflakes as INTEGER (they fit in
-- a signed 64-bit integer); times as INTEGER unix seconds, UTC; enums as TEXT with a CHECK.

-- App-level key/value facts that belong to no guild (e.g. the hash of the synced commands).
CREATE TABLE app_state (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- One row per guild that changed a default; a missing row means "all defaults".
CREATE TABLE guild_settings (
    guild_id          INTEGER NOT NULL PRIMARY KEY,
    manager_role_id   INTEGER,
    approval_required INTEGER NOT NULL DEFAULT 0 CHECK (approval_required IN (0, 1)),
    review_channel_id INTEGER,
    alert_channel_id  INTEGER,
    timezone          TEXT    NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64),
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE avatars (
    id                  INTEGER PRIMARY KEY,
    guild_id            INTEGER NOT NULL,
    runway_id           TEXT UNIQUE,  -- NULL until Runway has created it
    name                TEXT    NOT NULL CHECK (length(name) >= 1),
    name_key            TEXT    NOT NULL CHECK (length(name_key) >= 1),
    personality         TEXT    NOT NULL,
    start_script        TEXT,
    voice_preset        TEXT    NOT NULL,
    image_source_url    TEXT,
    reference_image_uri TEXT,
    processed_image_uri TEXT,
    status              TEXT    NOT NULL DEFAULT 'PROCESSING'
                        CHECK (status IN ('PROCESSING', 'READY', 'FAILED')),
    failure_reason      TEXT,
    review_state        TEXT    NOT NULL DEFAULT 'APPROVED'
                        CHECK (review_state IN ('APPROVED', 'PENDING', 'REJECTED')),
    review_message_id   INTEGER,  -- the review post in the admin channel, while there is one
    created_by          INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (guild_id, name_key)
) STRICT;

-- A knowledge document exists at Runway once it has a row here. ORPHANED means it exists at
-- Runway but is attached to nothing (an attach that failed, or its avatar was deleted); a
-- cleanup deletes it at Runway and then here.
CREATE TABLE documents (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    avatar_id  INTEGER REFERENCES avatars (id) ON DELETE SET NULL,
    runway_id  TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL CHECK (length(name) >= 1),
    tokens     INTEGER NOT NULL CHECK (tokens >= 0),
    byte_size  INTEGER NOT NULL CHECK (byte_size >= 0),
    added_by   INTEGER NOT NULL,
    state      TEXT    NOT NULL DEFAULT 'ATTACHED' CHECK (state IN ('ATTACHED', 'ORPHANED')),
    created_at INTEGER NOT NULL,
    CHECK (state = 'ORPHANED' OR avatar_id IS NOT NULL)
) STRICT;

CREATE INDEX documents_avatar ON documents (avatar_id);
CREATE INDEX documents_orphaned ON documents (created_at) WHERE state = 'ORPHANED';

-- Deleting an avatar turns the documents still recorded for it into orphans, so whatever the
-- bot could not delete at Runway is retried by the cleanup instead of being forgotten.
CREATE TRIGGER avatars_orphan_documents BEFORE DELETE ON avatars
BEGIN
    UPDATE documents SET state = 'ORPHANED' WHERE avatar_id = OLD.id;
END;

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    actor_id   INTEGER,  -- NULL when the bot itself acted
    action     TEXT    NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    subject    TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX audit_log_guild_newest ON audit_log (guild_id, id DESC);

-- RESERVED: the reservation is written, Runway not called yet. OPEN: a Runway session exists.
-- SETTLED: ended, used_seconds is what it cost. RELEASED: ended before costing anything.
-- A live session (RESERVED or OPEN) counts max_seconds against the limits until settled.
CREATE TABLE sessions (
    id               INTEGER PRIMARY KEY,
    guild_id         INTEGER NOT NULL,
    member_id        INTEGER NOT NULL,
    avatar_id        INTEGER REFERENCES avatars (id) ON DELETE SET NULL,
    preset_id        TEXT,
    avatar_label     TEXT    NOT NULL,  -- shown in reports after the avatar is gone
    runway_id        TEXT,
    dialect          TEXT    NOT NULL CHECK (dialect IN ('production', 'seed')),
    state            TEXT    NOT NULL DEFAULT 'RESERVED'
                     CHECK (state IN ('RESERVED', 'OPEN', 'SETTLED', 'RELEASED')),
    max_seconds      INTEGER NOT NULL CHECK (max_seconds > 0),
    used_seconds     INTEGER CHECK (used_seconds >= 0),
    end_reason       TEXT CHECK (end_reason IN (
                         'member_ended', 'completed', 'time_limit', 'failed', 'cancelled',
                         'never_ready', 'start_failed', 'abandoned')),
    join_code_hash   BLOB,
    code_expires_at  INTEGER,
    code_used_at     INTEGER,
    seed_credentials TEXT CHECK (seed_credentials IS NULL OR json_valid(seed_credentials)),
    consumed_at      INTEGER,
    created_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    CHECK ((state IN ('SETTLED', 'RELEASED')) = (ended_at IS NOT NULL)),
    CHECK ((state IN ('SETTLED', 'RELEASED')) = (end_reason IS NOT NULL)),
    CHECK ((state = 'SETTLED') = (used_seconds IS NOT NULL)),
    CHECK (state <> 'OPEN' OR runway_id IS NOT NULL)
) STRICT;

-- Reservations are the hot path, so the indexes below skip what a reservation does not have yet.
CREATE UNIQUE INDEX sessions_runway_id ON sessions (runway_id) WHERE runway_id IS NOT NULL;
CREATE UNIQUE INDEX sessions_join_code ON sessions (join_code_hash)
    WHERE join_code_hash IS NOT NULL;
-- Live sessions of a guild (prefix) and of a member; also what the tracker resumes.
CREATE INDEX sessions_live ON sessions (guild_id, member_id) WHERE state IN ('RESERVED', 'OPEN');
-- Usage of a guild over time; covering, so quota sums never touch the table.
CREATE INDEX sessions_guild_time
    ON sessions (guild_id, created_at, state, member_id, used_seconds, max_seconds);
CREATE INDEX sessions_member_time ON sessions (guild_id, member_id, created_at);
