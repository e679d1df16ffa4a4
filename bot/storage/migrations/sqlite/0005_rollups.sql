-- Schema 3: usage rollups, so that admission and reports cost the same with a thousand or a
-- million sessions of history; indexes that only serve live rows; retention.
--
-- Each rollup is defined once, by a view of what each ended session contributes to it
-- (`rollup_*_rows`: its keys and counts, with the session's id and start). The table is that
-- view summed by its keys: filled so here, kept so by one trigger in the transaction that
-- ends a session, and checked against it by the tests (bot.storage.rollups.differences). Days
-- and months are the server's local ones, keyed by the unix second they start at:
-- `local_day_start(timezone, moment)` and `local_month_start(timezone, moment)` are the
-- engine's calendar functions (registered on every SQLite connection by
-- bot.storage.local_days). A session counts on the day it started.
--
-- Rows stay when sessions go: retention deletes old sessions (their figures are already here),
-- and a member's erasure files their rows under member 0 (a "forgotten member"), so a server's
-- totals never change. When a server changes its timezone, its calls of the current and the
-- previous local month move to their new days in the same transaction (bot.storage.rollups);
-- older days stay as they were counted.

-- Every ended session with the keys it is rolled up under.
CREATE VIEW session_days AS
SELECT s.id, s.guild_id, s.member_id, s.avatar_label, s.end_reason, s.state, s.dialect,
       s.consumed_at, s.created_at,
       CASE s.state WHEN 'SETTLED' THEN 1 ELSE 0 END AS settled,
       CASE s.state WHEN 'RELEASED' THEN 1 ELSE 0 END AS released,
       coalesce(s.used_seconds, 0) AS seconds,
       local_day_start(coalesce(g.timezone, 'UTC'), s.created_at) AS day_start,
       local_month_start(coalesce(g.timezone, 'UTC'), s.created_at) AS month_start,
       s.created_at - s.created_at % 3600 AS hour_start
FROM sessions AS s LEFT JOIN guild_settings AS g ON g.guild_id = s.guild_id
WHERE s.state IN ('SETTLED', 'RELEASED');

-- A server's settled calls per local day: totals, the chart, the day's and month's budgets.
CREATE TABLE rollup_guild_days (
    guild_id  INTEGER NOT NULL,
    day_start INTEGER NOT NULL,
    settled   INTEGER NOT NULL,
    seconds   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, day_start)
) STRICT, WITHOUT ROWID;

CREATE VIEW rollup_guild_days_rows AS
SELECT id, created_at, guild_id, day_start, settled, seconds FROM session_days
WHERE state = 'SETTLED';

-- Settled calls per avatar (its name when the call started) and local day: top avatars.
CREATE TABLE rollup_avatar_days (
    guild_id     INTEGER NOT NULL,
    day_start    INTEGER NOT NULL,
    avatar_label TEXT    NOT NULL,
    settled      INTEGER NOT NULL,
    seconds      INTEGER NOT NULL,
    PRIMARY KEY (guild_id, day_start, avatar_label)
) STRICT, WITHOUT ROWID;

CREATE VIEW rollup_avatar_days_rows AS
SELECT id, created_at, guild_id, day_start, avatar_label, settled, seconds FROM session_days
WHERE state = 'SETTLED';

-- Ended calls (settled or released) per end reason and local day: how calls ended.
CREATE TABLE rollup_end_days (
    guild_id   INTEGER NOT NULL,
    day_start  INTEGER NOT NULL,
    end_reason TEXT    NOT NULL,
    sessions   INTEGER NOT NULL,
    seconds    INTEGER NOT NULL,
    PRIMARY KEY (guild_id, day_start, end_reason)
) STRICT, WITHOUT ROWID;

CREATE VIEW rollup_end_days_rows AS
SELECT id, created_at, guild_id, day_start, end_reason, 1 AS sessions, seconds
FROM session_days;

-- One member's ended calls per local day, avatar and end reason: a member's own report and
-- daily allowance, and the server's top members over days.
CREATE TABLE rollup_member_days (
    guild_id     INTEGER NOT NULL,
    member_id    INTEGER NOT NULL,
    day_start    INTEGER NOT NULL,
    avatar_label TEXT    NOT NULL,
    end_reason   TEXT    NOT NULL,
    settled      INTEGER NOT NULL,
    released     INTEGER NOT NULL,
    seconds      INTEGER NOT NULL,
    PRIMARY KEY (guild_id, member_id, day_start, avatar_label, end_reason)
) STRICT, WITHOUT ROWID;

CREATE INDEX rollup_member_days_by_day
    ON rollup_member_days (guild_id, day_start, member_id, settled, seconds);

CREATE VIEW rollup_member_days_rows AS
SELECT id, created_at, guild_id, member_id, day_start, avatar_label, end_reason,
       settled, released, seconds
FROM session_days;

-- Settled calls per member and local month: the server's top members over whole months.
CREATE TABLE rollup_member_months (
    guild_id    INTEGER NOT NULL,
    month_start INTEGER NOT NULL,
    member_id   INTEGER NOT NULL,
    settled     INTEGER NOT NULL,
    seconds     INTEGER NOT NULL,
    PRIMARY KEY (guild_id, month_start, member_id)
) STRICT, WITHOUT ROWID;

CREATE VIEW rollup_member_months_rows AS
SELECT id, created_at, guild_id, month_start, member_id, settled, seconds FROM session_days
WHERE state = 'SETTLED';

-- The whole account per UTC hour and Runway dialect: reconciling with Runway's figures.
CREATE TABLE rollup_account_hours (
    dialect    TEXT    NOT NULL,
    hour_start INTEGER NOT NULL,
    joined     INTEGER NOT NULL,  -- ended sessions someone joined
    seconds    INTEGER NOT NULL,  -- settled seconds
    PRIMARY KEY (dialect, hour_start)
) STRICT, WITHOUT ROWID;

CREATE VIEW rollup_account_hours_rows AS
SELECT id, created_at, dialect, hour_start,
       CASE WHEN consumed_at IS NULL THEN 0 ELSE 1 END AS joined, seconds
FROM session_days WHERE consumed_at IS NOT NULL OR state = 'SETTLED';

INSERT INTO rollup_guild_days
SELECT guild_id, day_start, sum(settled), sum(seconds) FROM rollup_guild_days_rows
GROUP BY guild_id, day_start;
INSERT INTO rollup_avatar_days
SELECT guild_id, day_start, avatar_label, sum(settled), sum(seconds) FROM rollup_avatar_days_rows
GROUP BY guild_id, day_start, avatar_label;
INSERT INTO rollup_end_days
SELECT guild_id, day_start, end_reason, sum(sessions), sum(seconds) FROM rollup_end_days_rows
GROUP BY guild_id, day_start, end_reason;
INSERT INTO rollup_member_days
SELECT guild_id, member_id, day_start, avatar_label, end_reason,
       sum(settled), sum(released), sum(seconds)
FROM rollup_member_days_rows GROUP BY guild_id, member_id, day_start, avatar_label, end_reason;
INSERT INTO rollup_member_months
SELECT guild_id, month_start, member_id, sum(settled), sum(seconds) FROM rollup_member_months_rows
GROUP BY guild_id, month_start, member_id;
INSERT INTO rollup_account_hours
SELECT dialect, hour_start, sum(joined), sum(seconds) FROM rollup_account_hours_rows
GROUP BY dialect, hour_start;

-- Sessions enter the rollups when they end, so they are inserted live and end by an UPDATE,
-- and an ended session is final: changing its figures would leave the rollups behind.
CREATE TRIGGER sessions_start_live BEFORE INSERT ON sessions
WHEN NEW.state NOT IN ('RESERVED', 'OPEN')
BEGIN
    SELECT RAISE(ABORT, 'a session is inserted live (RESERVED or OPEN) and ended by an UPDATE');
END;

CREATE TRIGGER sessions_ended_are_final BEFORE UPDATE ON sessions
WHEN OLD.state IN ('SETTLED', 'RELEASED') AND (
    NEW.state IS NOT OLD.state OR NEW.used_seconds IS NOT OLD.used_seconds
    OR NEW.guild_id IS NOT OLD.guild_id OR NEW.member_id IS NOT OLD.member_id
    OR NEW.avatar_label IS NOT OLD.avatar_label OR NEW.end_reason IS NOT OLD.end_reason
    OR NEW.created_at IS NOT OLD.created_at OR NEW.consumed_at IS NOT OLD.consumed_at
    OR NEW.dialect IS NOT OLD.dialect)
BEGIN
    SELECT RAISE(ABORT, 'an ended session is final: its figures are in the rollups');
END;

CREATE TRIGGER sessions_roll_up AFTER UPDATE OF state ON sessions
WHEN NEW.state IN ('SETTLED', 'RELEASED') AND OLD.state IN ('RESERVED', 'OPEN')
BEGIN
    INSERT INTO rollup_guild_days (guild_id, day_start, settled, seconds)
    SELECT guild_id, day_start, settled, seconds FROM rollup_guild_days_rows WHERE id = NEW.id
    ON CONFLICT (guild_id, day_start) DO UPDATE SET
        settled = settled + excluded.settled, seconds = seconds + excluded.seconds;

    INSERT INTO rollup_avatar_days (guild_id, day_start, avatar_label, settled, seconds)
    SELECT guild_id, day_start, avatar_label, settled, seconds FROM rollup_avatar_days_rows
    WHERE id = NEW.id
    ON CONFLICT (guild_id, day_start, avatar_label) DO UPDATE SET
        settled = settled + excluded.settled, seconds = seconds + excluded.seconds;

    INSERT INTO rollup_end_days (guild_id, day_start, end_reason, sessions, seconds)
    SELECT guild_id, day_start, end_reason, sessions, seconds FROM rollup_end_days_rows
    WHERE id = NEW.id
    ON CONFLICT (guild_id, day_start, end_reason) DO UPDATE SET
        sessions = sessions + excluded.sessions, seconds = seconds + excluded.seconds;

    INSERT INTO rollup_member_days (guild_id, member_id, day_start, avatar_label, end_reason,
                                    settled, released, seconds)
    SELECT guild_id, member_id, day_start, avatar_label, end_reason, settled, released, seconds
    FROM rollup_member_days_rows WHERE id = NEW.id
    ON CONFLICT (guild_id, member_id, day_start, avatar_label, end_reason) DO UPDATE SET
        settled = settled + excluded.settled, released = released + excluded.released,
        seconds = seconds + excluded.seconds;

    INSERT INTO rollup_member_months (guild_id, month_start, member_id, settled, seconds)
    SELECT guild_id, month_start, member_id, settled, seconds FROM rollup_member_months_rows
    WHERE id = NEW.id
    ON CONFLICT (guild_id, month_start, member_id) DO UPDATE SET
        settled = settled + excluded.settled, seconds = seconds + excluded.seconds;

    INSERT INTO rollup_account_hours (dialect, hour_start, joined, seconds)
    SELECT dialect, hour_start, joined, seconds FROM rollup_account_hours_rows WHERE id = NEW.id
    ON CONFLICT (dialect, hour_start) DO UPDATE SET
        joined = joined + excluded.joined, seconds = seconds + excluded.seconds;
END;

-- Indexes split in two by state: those over live sessions (partial: RESERVED or OPEN) and
-- those over ended ones (partial: SETTLED or RELEASED). A query about live calls can then only
-- use a live index and never walks history, whatever the planner's statistics say; a query
-- about history (a CSV export, retention, a timezone change) reads only the period it names.
--
-- Live sessions of a server (prefix) and of a member, covering what admission counts and sums.
DROP INDEX sessions_live;
CREATE INDEX sessions_live ON sessions (guild_id, member_id, created_at, max_seconds)
    WHERE state IN ('RESERVED', 'OPEN');
-- Every live session in id order: what the tracker sweeps.
CREATE INDEX sessions_open ON sessions (id) WHERE state IN ('RESERVED', 'OPEN');
-- A server's and a member's ended sessions by start. Sums come from the rollups now.
DROP INDEX sessions_guild_time;
CREATE INDEX sessions_ended ON sessions (guild_id, created_at)
    WHERE state IN ('SETTLED', 'RELEASED');
DROP INDEX sessions_member_time;
CREATE INDEX sessions_member_ended ON sessions (guild_id, member_id, created_at)
    WHERE state IN ('SETTLED', 'RELEASED');
-- The account's ended sessions by start, covering what reconciliation counts at the edges of a
-- period that do not fill a whole hour of rollup_account_hours.
DROP INDEX sessions_time;
CREATE INDEX sessions_ended_started
    ON sessions (created_at, dialect, state, consumed_at, used_seconds)
    WHERE state IN ('SETTLED', 'RELEASED');

-- Retention: settled sessions that started before the local month this many months back are
-- deleted by a scheduled job (their figures stay in the rollups); NULL keeps everything.
ALTER TABLE guild_settings ADD COLUMN retention_months INTEGER
    CHECK (retention_months BETWEEN 1 AND 120);
