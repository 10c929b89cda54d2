-- aibind SQLite schema (aibind-sqlite), identical to the tables of the npm @aibind/sqlite
-- package, so a Python and a Node service can share one database file.
-- expires_at is epoch milliseconds, as the npm package writes it.
-- Print it with `aibind schema sqlite`, or let the stores' setup() run it.

-- Durable streams: one row per chunk, seq 1-based.
CREATE TABLE IF NOT EXISTS aibind_stream_chunks (
  id   TEXT    NOT NULL,
  seq  INTEGER NOT NULL,
  data TEXT    NOT NULL,
  PRIMARY KEY (id, seq)
);

-- Durable streams: one row per stream.
CREATE TABLE IF NOT EXISTS aibind_stream_status (
  id           TEXT    PRIMARY KEY,
  state        TEXT    NOT NULL DEFAULT 'active',
  error        TEXT,
  total_chunks INTEGER NOT NULL DEFAULT 0,
  expires_at   INTEGER NOT NULL
);

-- Conversation histories: the ChatHistory JSON of one session.
CREATE TABLE IF NOT EXISTS aibind_conversations (
  session_id TEXT    PRIMARY KEY,
  data       TEXT    NOT NULL,
  expires_at INTEGER NOT NULL
);
