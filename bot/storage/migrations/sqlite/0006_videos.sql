-- Schema 6: avatar video messages (`/avatar say`), their limits, rollups and alerts.

-- Who may ask for videos besides Manage Server: members holding this role (NULL: managers only).
ALTER TABLE guild_settings ADD COLUMN video_role_id INTEGER;

-- One row per request. AWAITING_APPROVAL: in the review channel, nothing reserved or spent.
-- RESERVED: admitted (its estimate counts against the limits), Runway not answered yet.
-- RENDERING: Runway's task exists. POSTING: Runway finished it; the bot is posting the result.
-- SETTLED: ended, used_seconds is what it cost. RELEASED: ended costing nothing (refused,
-- rejected, failed, cancelled, timed out). A live video (RESERVED, RENDERING, POSTING) counts
-- estimate_seconds against the limits until it ends. `counted_at` is the moment it is charged
-- to (its day and month): the request, or its approval when it waited for one.
CREATE TABLE videos (
    id                INTEGER PRIMARY KEY,
    guild_id          INTEGER NOT NULL,
    channel_id        INTEGER NOT NULL,  -- where the result is posted
    member_id         INTEGER NOT NULL,  -- who asked
    avatar_id         INTEGER REFERENCES avatars (id) ON DELETE SET NULL,
    preset_id         TEXT,
    avatar_label      TEXT    NOT NULL,
    speech            TEXT    NOT NULL CHECK (speech IN ('text', 'audio')),
    text              TEXT CHECK (text IS NULL OR length(text) BETWEEN 1 AND 5000),
    voice_preset      TEXT,
    audio_seconds     INTEGER CHECK (audio_seconds > 0),
    state             TEXT    NOT NULL CHECK (state IN (
                          'AWAITING_APPROVAL', 'RESERVED', 'RENDERING', 'POSTING', 'SETTLED',
                          'RELEASED')),
    estimate_seconds  INTEGER NOT NULL CHECK (estimate_seconds > 0),
    used_seconds      INTEGER CHECK (used_seconds >= 0),
    cost_credits      INTEGER CHECK (cost_credits >= 0),
    runway_id         TEXT,
    upload_limit      INTEGER NOT NULL CHECK (upload_limit > 0),  -- bytes the channel takes
    message_id        INTEGER,           -- the posted result
    review_message_id INTEGER,
    reviewed_by       INTEGER,
    end_reason        TEXT CHECK (end_reason IN (
                          'posted', 'linked', 'failed', 'cancelled', 'timed_out', 'rejected',
                          'start_failed', 'abandoned', 'unpostable')),
    failure           TEXT,              -- Runway's reason, for the member and admins
    owner             INTEGER REFERENCES processes (id),
    created_at        INTEGER NOT NULL,
    counted_at        INTEGER NOT NULL,
    submitted_at      INTEGER,           -- when Runway took the task
    ended_at          INTEGER,
    CHECK ((state IN ('SETTLED', 'RELEASED')) = (ended_at IS NOT NULL)),
    CHECK ((state IN ('SETTLED', 'RELEASED')) = (end_reason IS NOT NULL)),
    CHECK ((state = 'SETTLED') = (used_seconds IS NOT NULL)),
    CHECK (state NOT IN ('RENDERING', 'POSTING') OR runway_id IS NOT NULL),
    CHECK ((speech = 'text') = (text IS NOT NULL))
) STRICT;

CREATE UNIQUE INDEX videos_runway_id ON videos (runway_id) WHERE runway_id IS NOT NULL;
-- A server's and a member's videos in flight (waiting for approval or live), covering what
-- admission counts and sums.
CREATE INDEX videos_live ON videos (guild_id, member_id, counted_at, state, estimate_seconds)
    WHERE state IN ('AWAITING_APPROVAL', 'RESERVED', 'RENDERING', 'POSTING');
-- Every live video in id order: what the tracker follows (and resumes after a restart).
CREATE INDEX videos_open ON videos (id) WHERE state IN ('RESERVED', 'RENDERING', 'POSTING');
-- A member's last admitted request: the cooldown.
CREATE INDEX videos_member_last ON videos (guild_id, member_id, counted_at)
    WHERE state NOT IN ('AWAITING_APPROVAL', 'RELEASED');
-- A server's ended videos by when they count: timezone moves and exports.
CREATE INDEX videos_ended ON videos (guild_id, counted_at) WHERE state IN ('SETTLED', 'RELEASED');

-- The recording of a request that waits for approval, until it is sent to Runway or rejected.
CREATE TABLE video_audio (
    video_id INTEGER NOT NULL PRIMARY KEY REFERENCES videos (id) ON DELETE CASCADE,
    mime     TEXT    NOT NULL,
    data     BLOB    NOT NULL
) STRICT;

-- Rollups of ended videos, kept like the sessions' (schema 5): a view of what each ended video
-- contributes, summed by a trigger in the transaction that ends it.
CREATE VIEW video_days AS
SELECT v.id, v.guild_id, v.member_id, v.state, v.counted_at AS created_at,
       CASE v.state WHEN 'SETTLED' THEN 1 ELSE 0 END AS videos,
       CASE v.state WHEN 'RELEASED' THEN 1 ELSE 0 END AS released,
       coalesce(v.used_seconds, 0) AS seconds,
       local_day_start(coalesce(g.timezone, 'UTC'), v.counted_at) AS day_start
FROM videos AS v LEFT JOIN guild_settings AS g ON g.guild_id = v.guild_id
WHERE v.state IN ('SETTLED', 'RELEASED');

-- A server's settled videos per local day: its daily video budget, reports and alerts.
CREATE TABLE rollup_video_days (
    guild_id  INTEGER NOT NULL,
    day_start INTEGER NOT NULL,
    videos    INTEGER NOT NULL,
    seconds   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, day_start)
) STRICT, WITHOUT ROWID;

CREATE VIEW rollup_video_days_rows AS
SELECT id, created_at, guild_id, day_start, videos, seconds FROM video_days
WHERE state = 'SETTLED';

-- One member's ended videos per local day: their daily allowance and their own report.
CREATE TABLE rollup_video_member_days (
    guild_id  INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    day_start INTEGER NOT NULL,
    videos    INTEGER NOT NULL,
    released  INTEGER NOT NULL,
    seconds   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, member_id, day_start)
) STRICT, WITHOUT ROWID;

CREATE VIEW rollup_video_member_days_rows AS
SELECT id, created_at, guild_id, member_id, day_start, videos, released, seconds
FROM video_days;

CREATE TRIGGER videos_ended_are_final BEFORE UPDATE ON videos
WHEN OLD.state IN ('SETTLED', 'RELEASED') AND (
    NEW.state IS NOT OLD.state OR NEW.used_seconds IS NOT OLD.used_seconds
    OR NEW.guild_id IS NOT OLD.guild_id OR NEW.member_id IS NOT OLD.member_id
    OR NEW.counted_at IS NOT OLD.counted_at)
BEGIN
    SELECT RAISE(ABORT, 'an ended video is final: its figures are in the rollups');
END;

CREATE TRIGGER videos_roll_up AFTER UPDATE OF state ON videos
WHEN NEW.state IN ('SETTLED', 'RELEASED') AND OLD.state NOT IN ('SETTLED', 'RELEASED')
BEGIN
    INSERT INTO rollup_video_days (guild_id, day_start, videos, seconds)
    SELECT guild_id, day_start, videos, seconds FROM rollup_video_days_rows WHERE id = NEW.id
    ON CONFLICT (guild_id, day_start) DO UPDATE SET
        videos = videos + excluded.videos, seconds = seconds + excluded.seconds;

    INSERT INTO rollup_video_member_days (guild_id, member_id, day_start, videos, released,
                                          seconds)
    SELECT guild_id, member_id, day_start, videos, released, seconds
    FROM rollup_video_member_days_rows WHERE id = NEW.id
    ON CONFLICT (guild_id, member_id, day_start) DO UPDATE SET
        videos = videos + excluded.videos, released = released + excluded.released,
        seconds = seconds + excluded.seconds;
END;

-- The video limits join the quota names, and their alerts the budgets. SQLite cannot change a
-- CHECK, so both tables are rebuilt with their rows.
CREATE TABLE guild_quotas_new (
    guild_id   INTEGER NOT NULL,
    name       TEXT    NOT NULL CHECK (name IN (
                   'max_avatars', 'guild_day_seconds', 'guild_month_seconds',
                   'member_day_seconds', 'guild_live', 'member_live', 'cooldown_seconds',
                   'session_seconds', 'video_guild_day_seconds', 'video_member_day_seconds',
                   'video_cooldown_seconds')),
    value      INTEGER CHECK (value >= 0),
    updated_by INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, name)
) STRICT, WITHOUT ROWID;
INSERT INTO guild_quotas_new SELECT guild_id, name, value, updated_by, updated_at
FROM guild_quotas;
DROP TABLE guild_quotas;
ALTER TABLE guild_quotas_new RENAME TO guild_quotas;

CREATE TABLE quota_alerts_sent_new (
    guild_id     INTEGER NOT NULL,
    budget       TEXT    NOT NULL CHECK (budget IN ('day', 'month', 'video_day')),
    period_start INTEGER NOT NULL,
    percent      INTEGER NOT NULL CHECK (percent BETWEEN 1 AND 100),
    sent_at      INTEGER NOT NULL,
    PRIMARY KEY (guild_id, budget, period_start, percent)
) STRICT, WITHOUT ROWID;
INSERT INTO quota_alerts_sent_new
SELECT guild_id, budget, period_start, percent, sent_at FROM quota_alerts_sent;
DROP TABLE quota_alerts_sent;
ALTER TABLE quota_alerts_sent_new RENAME TO quota_alerts_sent;
