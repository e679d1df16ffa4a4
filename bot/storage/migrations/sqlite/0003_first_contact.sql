-- Schema 3: what a server sees first. The welcome the bot posts once when it joins a server,
-- and a small copy of each avatar's picture for join pages and review posts.

-- A server the bot has welcomed: at most one welcome per server, ever, even after the bot
-- is removed and invited again (the row is claimed before the message is posted).
CREATE TABLE guild_welcomes (
    guild_id   INTEGER NOT NULL PRIMARY KEY,
    channel_id INTEGER NOT NULL,
    claimed_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- An avatar's picture, re-encoded by the bot (a square JPEG a few dozen KB): the image the
-- member supplied at first, replaced by Runway's processed image once the bot could fetch it.
-- `source_uri` is the processed image's address it was fetched from (NULL for the supplied
-- image), so a newer processed image is noticed.
CREATE TABLE avatar_pictures (
    avatar_id    INTEGER NOT NULL PRIMARY KEY REFERENCES avatars (id) ON DELETE CASCADE,
    guild_id     INTEGER NOT NULL,
    source       TEXT    NOT NULL CHECK (source IN ('supplied', 'processed')),
    source_uri   TEXT,
    content_type TEXT    NOT NULL CHECK (content_type IN ('image/jpeg')),
    data         BLOB    NOT NULL CHECK (length(data) BETWEEN 1 AND 262144),
    updated_at   INTEGER NOT NULL,
    CHECK ((source = 'processed') = (source_uri IS NOT NULL))
) STRICT;
