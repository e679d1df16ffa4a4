-- Schema 8: what a member's limits still need after `/privacy forget-me`, and nothing more.
--
-- Forgetting a member deletes their calls and videos and files their usage under the
-- forgotten member, which would start their daily allowance and their wait between calls
-- again: forgetting oneself would be a way round the limits. So the same transaction keeps,
-- under the member's id and with nothing else about them, the seconds of calls and of avatar
-- videos charged to them on the server's local day that was running (`day_start`), and when
-- their last call ended and their last video was counted, only while a wait between them
-- can still apply. Admission adds these to what the rollups say of the member (the server's
-- own totals already hold the seconds, under the forgotten member). The row is deleted by the
-- scheduled upkeep once `expires_at` has passed: the day is over and no wait needs it.
-- Forgetting the member again within the day adds to it.
CREATE TABLE held_usage (
    guild_id         INTEGER NOT NULL,
    member_id        INTEGER NOT NULL,
    day_start        INTEGER NOT NULL,
    call_seconds     INTEGER NOT NULL CHECK (call_seconds >= 0),
    video_seconds    INTEGER NOT NULL CHECK (video_seconds >= 0),
    call_ended_at    INTEGER,
    video_counted_at INTEGER,
    expires_at       INTEGER NOT NULL,
    PRIMARY KEY (guild_id, member_id)
) STRICT, WITHOUT ROWID;

-- What the upkeep deletes: rows whose time is up.
CREATE INDEX held_usage_expiry ON held_usage (expires_at);
