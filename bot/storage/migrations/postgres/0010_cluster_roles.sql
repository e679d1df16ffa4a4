-- Schema 10 on PostgreSQL: process roles and places, shard claims
-- (migrations/sqlite/0010_cluster_roles.sql says what each column means).

ALTER TABLE processes ADD COLUMN role text NOT NULL DEFAULT 'all' CHECK (role IN ('all', 'web'));
ALTER TABLE processes ADD COLUMN place text;

CREATE TABLE shard_claims (
    shard_id    bigint NOT NULL PRIMARY KEY CHECK (shard_id >= 0),
    shard_count bigint NOT NULL CHECK (shard_count > shard_id),
    process_id  bigint NOT NULL REFERENCES processes (id),
    claimed_at  bigint NOT NULL
);

CREATE INDEX shard_claims_process ON shard_claims (process_id);
