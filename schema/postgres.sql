-- Tables of aibind-postgres (the same as the npm @aibind/postgres package's).
-- Print this with `aibind schema postgres`, or let the stores create it: `await store.setup()`.
-- Custom table names (options chunks_table, status_table, table) are quoted identifiers.
-- expires_at is in epoch milliseconds.

-- PostgresStreamStore
CREATE TABLE IF NOT EXISTS "aibind_stream_chunks" (
  id   TEXT    NOT NULL,
  seq  INTEGER NOT NULL,
  data TEXT    NOT NULL,
  PRIMARY KEY (id, seq)
);

CREATE TABLE IF NOT EXISTS "aibind_stream_status" (
  id           TEXT    PRIMARY KEY,
  state        TEXT    NOT NULL DEFAULT 'active',
  error        TEXT,
  total_chunks INTEGER NOT NULL DEFAULT 0,
  expires_at   BIGINT  NOT NULL
);

CREATE INDEX IF NOT EXISTS "aibind_stream_status_expires_at_idx" ON "aibind_stream_status" (expires_at);

-- PostgresConversationStore
CREATE TABLE IF NOT EXISTS "aibind_conversations" (
  session_id TEXT   PRIMARY KEY,
  data       TEXT   NOT NULL,
  expires_at BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS "aibind_conversations_expires_at_idx" ON "aibind_conversations" (expires_at);
