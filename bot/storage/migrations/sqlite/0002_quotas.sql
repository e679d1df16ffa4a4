-- Schema 2: per-guild quotas, daily allowances by role, and the budget alerts already posted.
-- The guild's timezone and alert channel are columns of guild_settings (schema 1).

-- One row per limit a guild changed: a missing row means the bot's default, value NULL means
-- no limit at all, 0 means none allowed. Seconds for time limits, counts for the others.
CREATE TABLE guild_quotas (
    guild_id   INTEGER NOT NULL,
    name       TEXT    NOT NULL CHECK (name IN (
                   'max_avatars', 'guild_day_seconds', 'guild_month_seconds',
                   'member_day_seconds', 'guild_live', 'member_live', 'cooldown_seconds',
                   'session_seconds')),
    value      INTEGER CHECK (value >= 0),
    updated_by INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, name)
) STRICT, WITHOUT ROWID;

-- Daily seconds per member for those who hold a role (NULL: unlimited). A member gets the most
-- generous of the guild's daily allowance and the tiers of the roles they hold.
CREATE TABLE quota_role_tiers (
    guild_id           INTEGER NOT NULL,
    role_id            INTEGER NOT NULL,
    member_day_seconds INTEGER CHECK (member_day_seconds >= 0),
    updated_by         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (guild_id, role_id)
) STRICT, WITHOUT ROWID;

-- Thresholds of a budget already announced in a period (its start, unix seconds), so that each
-- is posted once even when sessions settle concurrently; old periods are pruned as new ones come.
CREATE TABLE quota_alerts_sent (
    guild_id     INTEGER NOT NULL,
    budget       TEXT    NOT NULL CHECK (budget IN ('day', 'month')),
    period_start INTEGER NOT NULL,
    percent      INTEGER NOT NULL CHECK (percent BETWEEN 1 AND 100),
    sent_at      INTEGER NOT NULL,
    PRIMARY KEY (guild_id, budget, period_start, percent)
) STRICT, WITHOUT ROWID;

-- The cooldown reads when a member's last session ended on every start: one index seek instead
-- of a walk over the member's whole history.
CREATE INDEX sessions_member_last_end ON sessions (guild_id, member_id, ended_at)
    WHERE state = 'SETTLED';

-- Reconciling with Runway sums every guild's sessions of a period.
CREATE INDEX sessions_time ON sessions (created_at);
