-- Queries SQLite writes differently from PostgreSQL, by name (see bot/storage/sql.py).
-- Each name is also in bot/storage/postgres/queries.sql, with the same parameters and columns.

-- name: quota_records
-- A server's timezone, alert channel, limits and role tiers (JSON objects) in one row.
SELECT
    (SELECT timezone FROM guild_settings WHERE guild_id = :guild),
    (SELECT alert_channel_id FROM guild_settings WHERE guild_id = :guild),
    (SELECT json_group_object(name, value) FROM guild_quotas WHERE guild_id = :guild),
    (SELECT json_group_object(role_id, member_day_seconds) FROM quota_role_tiers
     WHERE guild_id = :guild)

-- name: clear_limits
-- Delete a server's limits whose names are in the JSON array :names.
DELETE FROM guild_quotas WHERE guild_id = :guild
    AND name IN (SELECT value FROM json_each(:names))

-- name: avatar_search
-- A server's avatars whose name key contains :needle, those starting with it first.
SELECT * FROM avatars WHERE guild_id = :guild AND instr(name_key, :needle) > 0
  AND (NOT :usable_only OR (status = 'READY' AND review_state = 'APPROVED'))
ORDER BY instr(name_key, :needle) <> 1, name_key LIMIT :limit
