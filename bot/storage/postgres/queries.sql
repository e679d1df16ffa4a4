-- Queries PostgreSQL writes differently from SQLite, by name (see bot/storage/sql.py).
-- Each name is also in bot/storage/sqlite/queries.sql, with the same parameters and columns.

-- name: quota_records
-- A server's timezone, alert channel, limits and role tiers (JSON objects) in one row.
SELECT
    (SELECT timezone FROM guild_settings WHERE guild_id = :guild),
    (SELECT alert_channel_id FROM guild_settings WHERE guild_id = :guild),
    (SELECT coalesce(json_object_agg(name, value), '{}')::text FROM guild_quotas
     WHERE guild_id = :guild),
    (SELECT coalesce(json_object_agg(role_id, member_day_seconds), '{}')::text
     FROM quota_role_tiers WHERE guild_id = :guild)

-- name: clear_limits
-- Delete a server's limits whose names are in the JSON array :names.
DELETE FROM guild_quotas WHERE guild_id = :guild
    AND name IN (SELECT json_array_elements_text(:names::json))

-- name: avatar_search
-- A server's avatars whose name key contains :needle, those starting with it first.
SELECT * FROM avatars WHERE guild_id = :guild AND strpos(name_key, :needle) > 0
  AND (NOT :usable_only OR (status = 'READY' AND review_state = 'APPROVED'))
ORDER BY strpos(name_key, :needle) <> 1, name_key LIMIT :limit
