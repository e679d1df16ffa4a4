-- Schema 8 on PostgreSQL: what a member's limits still need after `/privacy forget-me`
-- (migrations/sqlite/0008_held_usage.sql says what each column means).

CREATE TABLE held_usage (
    guild_id         bigint NOT NULL,
    member_id        bigint NOT NULL,
    day_start        bigint NOT NULL,
    call_seconds     bigint NOT NULL CHECK (call_seconds >= 0),
    video_seconds    bigint NOT NULL CHECK (video_seconds >= 0),
    call_ended_at    bigint,
    video_counted_at bigint,
    expires_at       bigint NOT NULL,
    PRIMARY KEY (guild_id, member_id)
);

CREATE INDEX held_usage_expiry ON held_usage (expires_at);
