-- Schema 9: the audit log follows the server's retention (`/privacy retention`), like its
-- sessions: the scheduled upkeep deletes a server's entries older than it keeps, oldest first,
-- in small batches, through this index (a range of the server's oldest entries, never a walk
-- of its whole history).
CREATE INDEX audit_log_guild_time ON audit_log (guild_id, created_at);
