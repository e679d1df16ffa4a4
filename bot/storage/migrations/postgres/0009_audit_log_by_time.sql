-- Schema 9 on PostgreSQL: the audit log follows the server's retention
-- (migrations/sqlite/0009_audit_log_by_time.sql says why).
CREATE INDEX audit_log_guild_time ON audit_log (guild_id, created_at);
