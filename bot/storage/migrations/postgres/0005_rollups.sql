-- Schema 5 on PostgreSQL: usage rollups, live-only indexes and retention, as
-- migrations/sqlite/0005_rollups.sql (whose notes say why each exists).
--
-- SQLite gets local_day_start and local_month_start from Python (bot.storage.local_days,
-- registered on every connection). Here they are PL/pgSQL with exactly the same rules, which
-- tests/storage/test_calendar.py checks against Python's zoneinfo over many zones and instants:
-- a local day runs from one local midnight to the next (23 or 25 hours across a clock change);
-- a midnight that does not exist is read with the offset before the jump, one that happens
-- twice is the first (Python's fold=0); an unknown zone counts in UTC.
--
-- The zone is applied as the session's TimeZone, set inside the function (its SET clause puts
-- the caller's back on exit), not with AT TIME ZONE: that reads CET, EET, MET and WET as
-- fixed-offset abbreviations, where Python (and TimeZone) read the zone files with their
-- summer time.

-- The session time zone's UTC offset at unix second `moment`, in seconds.
CREATE FUNCTION zone_offset(moment bigint) RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    SELECT extract(timezone FROM to_timestamp(moment))::bigint
$$;

-- The unix second at which the local wall time `wall` (seconds since 1970-01-01 00:00, local)
-- happens in the session time zone, read as Python's zoneinfo reads it with fold=0. Within a
-- day either way the zone has at most one change of offset, from `before` to `after`: an
-- offset that maps the wall time back onto itself is right; when both do (the wall time
-- happens twice) the earlier instant, and when neither does (it falls in a gap) the offset
-- in force before the gap.
CREATE FUNCTION zone_wall_to_unix(wall bigint) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
DECLARE
    before bigint := zone_offset(wall - 86400);
    after bigint := zone_offset(wall + 86400);
    before_fits boolean := zone_offset(wall - before) = before;
    after_fits boolean := zone_offset(wall - after) = after;
BEGIN
    IF before_fits AND after_fits THEN
        RETURN wall - greatest(before, after);
    ELSIF before_fits THEN
        RETURN wall - before;
    ELSIF after_fits THEN
        RETURN wall - after;
    END IF;
    RETURN wall - least(before, after);
END;
$$;

-- When local day `day` begins in the session time zone, as unix seconds.
CREATE FUNCTION zone_midnight(day date) RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    SELECT zone_wall_to_unix((day - DATE '1970-01-01')::bigint * 86400)
$$;

-- Make `zone` the session time zone until the calling function returns, or UTC if this
-- server's time zone database does not know it (as zone_or_utc in Python).
CREATE FUNCTION use_zone_or_utc(zone text) RETURNS void
LANGUAGE plpgsql VOLATILE STRICT AS $$
BEGIN
    PERFORM set_config('timezone', zone, true);
EXCEPTION WHEN invalid_parameter_value THEN
    PERFORM set_config('timezone', 'UTC', true);
END;
$$;

-- The start of the local day of `zone` that contains `moment`.
CREATE FUNCTION local_day_start(zone text, moment bigint) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT SET timezone = 'UTC' AS $$
DECLARE
    day date;
BEGIN
    PERFORM use_zone_or_utc(zone);
    day := to_timestamp(moment)::date;
    IF zone_midnight(day) > moment THEN
        RETURN zone_midnight(day - 1);
    ELSIF zone_midnight(day + 1) <= moment THEN
        RETURN zone_midnight(day + 1);
    END IF;
    RETURN zone_midnight(day);
END;
$$;

-- The start of the local calendar month of `zone` that contains `moment`.
CREATE FUNCTION local_month_start(zone text, moment bigint) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT SET timezone = 'UTC' AS $$
DECLARE
    first date;
BEGIN
    PERFORM use_zone_or_utc(zone);
    first := date_trunc('month', to_timestamp(moment)::date)::date;
    IF zone_midnight(first) > moment THEN
        RETURN zone_midnight((first - interval '1 month')::date);
    ELSIF zone_midnight((first + interval '1 month')::date) <= moment THEN
        RETURN zone_midnight((first + interval '1 month')::date);
    END IF;
    RETURN zone_midnight(first);
END;
$$;

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

CREATE TABLE rollup_guild_days (
    guild_id  bigint NOT NULL,
    day_start bigint NOT NULL,
    settled   bigint NOT NULL,
    seconds   bigint NOT NULL,
    PRIMARY KEY (guild_id, day_start)
);

CREATE VIEW rollup_guild_days_rows AS
SELECT id, created_at, guild_id, day_start, settled, seconds FROM session_days
WHERE state = 'SETTLED';

CREATE TABLE rollup_avatar_days (
    guild_id     bigint NOT NULL,
    day_start    bigint NOT NULL,
    avatar_label text   NOT NULL,
    settled      bigint NOT NULL,
    seconds      bigint NOT NULL,
    PRIMARY KEY (guild_id, day_start, avatar_label)
);

CREATE VIEW rollup_avatar_days_rows AS
SELECT id, created_at, guild_id, day_start, avatar_label, settled, seconds FROM session_days
WHERE state = 'SETTLED';

CREATE TABLE rollup_end_days (
    guild_id   bigint NOT NULL,
    day_start  bigint NOT NULL,
    end_reason text   NOT NULL,
    sessions   bigint NOT NULL,
    seconds    bigint NOT NULL,
    PRIMARY KEY (guild_id, day_start, end_reason)
);

CREATE VIEW rollup_end_days_rows AS
SELECT id, created_at, guild_id, day_start, end_reason, 1 AS sessions, seconds
FROM session_days;

CREATE TABLE rollup_member_days (
    guild_id     bigint NOT NULL,
    member_id    bigint NOT NULL,
    day_start    bigint NOT NULL,
    avatar_label text   NOT NULL,
    end_reason   text   NOT NULL,
    settled      bigint NOT NULL,
    released     bigint NOT NULL,
    seconds      bigint NOT NULL,
    PRIMARY KEY (guild_id, member_id, day_start, avatar_label, end_reason)
);

CREATE INDEX rollup_member_days_by_day
    ON rollup_member_days (guild_id, day_start, member_id, settled, seconds);

CREATE VIEW rollup_member_days_rows AS
SELECT id, created_at, guild_id, member_id, day_start, avatar_label, end_reason,
       settled, released, seconds
FROM session_days;

CREATE TABLE rollup_member_months (
    guild_id    bigint NOT NULL,
    month_start bigint NOT NULL,
    member_id   bigint NOT NULL,
    settled     bigint NOT NULL,
    seconds     bigint NOT NULL,
    PRIMARY KEY (guild_id, month_start, member_id)
);

CREATE VIEW rollup_member_months_rows AS
SELECT id, created_at, guild_id, month_start, member_id, settled, seconds FROM session_days
WHERE state = 'SETTLED';

CREATE TABLE rollup_account_hours (
    dialect    text   NOT NULL,
    hour_start bigint NOT NULL,
    joined     bigint NOT NULL,  -- ended sessions someone joined
    seconds    bigint NOT NULL,  -- settled seconds
    PRIMARY KEY (dialect, hour_start)
);

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
-- (SQLSTATE 23000, so the driver reports an integrity error, as SQLite's RAISE(ABORT) does.)
CREATE FUNCTION sessions_start_live() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a session is inserted live (RESERVED or OPEN) and ended by an UPDATE'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER sessions_start_live BEFORE INSERT ON sessions
FOR EACH ROW WHEN (NEW.state NOT IN ('RESERVED', 'OPEN'))
EXECUTE FUNCTION sessions_start_live();

CREATE FUNCTION sessions_ended_are_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'an ended session is final: its figures are in the rollups'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER sessions_ended_are_final BEFORE UPDATE ON sessions
FOR EACH ROW WHEN (OLD.state IN ('SETTLED', 'RELEASED') AND (
    NEW.state IS DISTINCT FROM OLD.state OR NEW.used_seconds IS DISTINCT FROM OLD.used_seconds
    OR NEW.guild_id IS DISTINCT FROM OLD.guild_id OR NEW.member_id IS DISTINCT FROM OLD.member_id
    OR NEW.avatar_label IS DISTINCT FROM OLD.avatar_label
    OR NEW.end_reason IS DISTINCT FROM OLD.end_reason
    OR NEW.created_at IS DISTINCT FROM OLD.created_at
    OR NEW.consumed_at IS DISTINCT FROM OLD.consumed_at
    OR NEW.dialect IS DISTINCT FROM OLD.dialect))
EXECUTE FUNCTION sessions_ended_are_final();

-- The same six statements as SQLite's trigger, each reading the session by its id.
CREATE FUNCTION sessions_roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_guild_days AS r (guild_id, day_start, settled, seconds)
    SELECT guild_id, day_start, settled, seconds FROM rollup_guild_days_rows WHERE id = NEW.id
    ON CONFLICT (guild_id, day_start) DO UPDATE SET
        settled = r.settled + excluded.settled, seconds = r.seconds + excluded.seconds;

    INSERT INTO rollup_avatar_days AS r (guild_id, day_start, avatar_label, settled, seconds)
    SELECT guild_id, day_start, avatar_label, settled, seconds FROM rollup_avatar_days_rows
    WHERE id = NEW.id
    ON CONFLICT (guild_id, day_start, avatar_label) DO UPDATE SET
        settled = r.settled + excluded.settled, seconds = r.seconds + excluded.seconds;

    INSERT INTO rollup_end_days AS r (guild_id, day_start, end_reason, sessions, seconds)
    SELECT guild_id, day_start, end_reason, sessions, seconds FROM rollup_end_days_rows
    WHERE id = NEW.id
    ON CONFLICT (guild_id, day_start, end_reason) DO UPDATE SET
        sessions = r.sessions + excluded.sessions, seconds = r.seconds + excluded.seconds;

    INSERT INTO rollup_member_days AS r (guild_id, member_id, day_start, avatar_label,
                                         end_reason, settled, released, seconds)
    SELECT guild_id, member_id, day_start, avatar_label, end_reason, settled, released, seconds
    FROM rollup_member_days_rows WHERE id = NEW.id
    ON CONFLICT (guild_id, member_id, day_start, avatar_label, end_reason) DO UPDATE SET
        settled = r.settled + excluded.settled, released = r.released + excluded.released,
        seconds = r.seconds + excluded.seconds;

    INSERT INTO rollup_member_months AS r (guild_id, month_start, member_id, settled, seconds)
    SELECT guild_id, month_start, member_id, settled, seconds FROM rollup_member_months_rows
    WHERE id = NEW.id
    ON CONFLICT (guild_id, month_start, member_id) DO UPDATE SET
        settled = r.settled + excluded.settled, seconds = r.seconds + excluded.seconds;

    INSERT INTO rollup_account_hours AS r (dialect, hour_start, joined, seconds)
    SELECT dialect, hour_start, joined, seconds FROM rollup_account_hours_rows WHERE id = NEW.id
    ON CONFLICT (dialect, hour_start) DO UPDATE SET
        joined = r.joined + excluded.joined, seconds = r.seconds + excluded.seconds;
    RETURN NULL;
END;
$$;
CREATE TRIGGER sessions_roll_up AFTER UPDATE OF state ON sessions
FOR EACH ROW WHEN (NEW.state IN ('SETTLED', 'RELEASED') AND OLD.state IN ('RESERVED', 'OPEN'))
EXECUTE FUNCTION sessions_roll_up();

-- Indexes split in two by state: those over live sessions and those over ended ones.
DROP INDEX sessions_live;
CREATE INDEX sessions_live ON sessions (guild_id, member_id, created_at, max_seconds)
    WHERE state IN ('RESERVED', 'OPEN');
CREATE INDEX sessions_open ON sessions (id) WHERE state IN ('RESERVED', 'OPEN');
DROP INDEX sessions_guild_time;
CREATE INDEX sessions_ended ON sessions (guild_id, created_at)
    WHERE state IN ('SETTLED', 'RELEASED');
DROP INDEX sessions_member_time;
CREATE INDEX sessions_member_ended ON sessions (guild_id, member_id, created_at)
    WHERE state IN ('SETTLED', 'RELEASED');
DROP INDEX sessions_time;
CREATE INDEX sessions_ended_started
    ON sessions (created_at, dialect, state, consumed_at, used_seconds)
    WHERE state IN ('SETTLED', 'RELEASED');

-- Retention: settled sessions that started before the local month this many months back are
-- deleted by a scheduled job (their figures stay in the rollups); NULL keeps everything.
ALTER TABLE guild_settings ADD COLUMN retention_months bigint
    CHECK (retention_months BETWEEN 1 AND 120);
