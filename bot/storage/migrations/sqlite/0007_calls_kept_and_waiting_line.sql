-- Schema 6: what Runway keeps of each call (the bot stores no transcript of its own), and a
-- waiting line for when every call slot of the Runway account is taken.

-- Per server, what the bot does with the transcript and recording Runway keeps of each call:
-- transcripts 'off' (shown to no one), 'member' (sent to the member, looked up by admins) or
-- 'moderation' (also posted in the moderation log); recordings offered (1) or not (0); and
-- after how many days the bot deletes a call's conversation at Runway (NULL: it never does).
ALTER TABLE guild_settings ADD COLUMN transcripts TEXT NOT NULL DEFAULT 'off'
    CHECK (transcripts IN ('off', 'member', 'moderation'));
ALTER TABLE guild_settings ADD COLUMN recordings INTEGER NOT NULL DEFAULT 0
    CHECK (recordings IN (0, 1));
ALTER TABLE guild_settings ADD COLUMN moderation_channel_id INTEGER;
ALTER TABLE guild_settings ADD COLUMN conversation_days INTEGER
    CHECK (conversation_days BETWEEN 1 AND 365);

-- Every call whose conversation Runway keeps (production dialect: a conversation's id is its
-- session's), until the bot has deleted it there: when the server's retention has passed, or
-- at once when its member asked to be forgotten (member_id is then 0, forgotten 1). A row goes
-- only once Runway confirms the deletion (or no longer has it); a failed deletion is retried
-- after `retry_at`, and `attempts` and `last_error` tell admins why it is still there. The row
-- outlives the session row, which retention may delete sooner.
CREATE TABLE conversations (
    runway_id  TEXT    NOT NULL PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    member_id  INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    forgotten  INTEGER NOT NULL DEFAULT 0 CHECK (forgotten IN (0, 1)),
    attempts   INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    retry_at   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
) STRICT, WITHOUT ROWID;

-- A server's conversations by start: what its retention deletes, oldest first.
CREATE INDEX conversations_by_start ON conversations (guild_id, started_at);
-- Conversations whose member asked to be forgotten: deleted at once.
CREATE INDEX conversations_forgotten ON conversations (retry_at) WHERE forgotten = 1;
-- Deletions that failed, for the admins' view of them.
CREATE INDEX conversations_failing ON conversations (guild_id) WHERE attempts > 0;

-- A session enters the list when it gets its Runway id (a session, or one found again by
-- reconciliation), so no code path that records one can forget it.
CREATE TRIGGER sessions_keep_conversation AFTER UPDATE OF runway_id ON sessions
WHEN NEW.runway_id IS NOT NULL AND OLD.runway_id IS NULL AND NEW.dialect = 'production'
BEGIN
    INSERT INTO conversations (runway_id, guild_id, member_id, started_at)
    VALUES (NEW.runway_id, NEW.guild_id, NEW.member_id, NEW.created_at)
    ON CONFLICT (runway_id) DO NOTHING;
END;

INSERT INTO conversations (runway_id, guild_id, member_id, started_at)
SELECT runway_id, guild_id, member_id, created_at FROM sessions
WHERE runway_id IS NOT NULL AND dialect = 'production';

-- An avatar's recent calls, newest first, for the admins' look-up (a member's come from
-- sessions_member_ended).
CREATE INDEX sessions_avatar_ended ON sessions (avatar_id, created_at)
    WHERE state IN ('SETTLED', 'RELEASED');

-- The waiting line: members who asked for a call while every call slot of the Runway account
-- was taken. `id` is the order of arrival (first come, within a server); servers take turns
-- (see line_turns). WAITING until a slot is given; OFFERING while the call given to the member
-- (session_id, reserved in the same transaction that gave it) is set up at Runway and its link
-- sent; the row goes once the link is delivered, or returns to WAITING, keeping its place, if
-- setting it up failed. The member's roles at the time they asked decide their allowance.
CREATE TABLE waiting_line (
    id                INTEGER PRIMARY KEY,
    guild_id          INTEGER NOT NULL,
    member_id         INTEGER NOT NULL,
    role_ids          TEXT    NOT NULL DEFAULT '[]',
    avatar_id         INTEGER REFERENCES avatars (id) ON DELETE SET NULL,
    preset_id         TEXT,
    runway_target     TEXT    NOT NULL,  -- what the call shows at Runway, for its intent
    avatar_label      TEXT    NOT NULL,
    wanted_seconds    INTEGER NOT NULL CHECK (wanted_seconds > 0),
    state             TEXT    NOT NULL DEFAULT 'WAITING' CHECK (state IN ('WAITING', 'OFFERING')),
    session_id        INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
    notice_channel_id INTEGER,  -- a DM that tells the member their place, once the command's
    notice_message_id INTEGER,  -- own reply can no longer be edited (Discord: 15 minutes)
    joined_at         INTEGER NOT NULL
) STRICT;

-- One place per member and server.
CREATE UNIQUE INDEX waiting_line_member ON waiting_line (guild_id, member_id);
CREATE INDEX waiting_line_order ON waiting_line (state, guild_id, id);

-- Round robin between servers: a counter that goes up each time a server is given a slot, so
-- the server served longest ago (or never) comes next.
CREATE TABLE line_turns (
    guild_id INTEGER NOT NULL PRIMARY KEY,
    served   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX line_turns_served ON line_turns (served);
