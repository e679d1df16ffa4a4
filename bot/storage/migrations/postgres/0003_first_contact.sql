-- Schema 3 on PostgreSQL: the welcome the bot posts once per server, and each avatar's
-- picture (migrations/sqlite/0003_first_contact.sql).

-- A server the bot has welcomed: at most one welcome per server, ever, even after the bot
-- is removed and invited again (the row is claimed before the message is posted).
CREATE TABLE guild_welcomes (
    guild_id   bigint NOT NULL PRIMARY KEY,
    channel_id bigint NOT NULL,
    claimed_at bigint NOT NULL
);

-- An avatar's picture, re-encoded by the bot (a square JPEG a few dozen KB).
CREATE TABLE avatar_pictures (
    avatar_id    bigint NOT NULL PRIMARY KEY REFERENCES avatars (id) ON DELETE CASCADE,
    guild_id     bigint NOT NULL,
    source       text   NOT NULL CHECK (source IN ('supplied', 'processed')),
    source_uri   text,
    content_type text   NOT NULL CHECK (content_type IN ('image/jpeg')),
    data         bytea  NOT NULL CHECK (length(data) BETWEEN 1 AND 262144),
    updated_at   bigint NOT NULL,
    CHECK ((source = 'processed') = (source_uri IS NOT NULL))
);
