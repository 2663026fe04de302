-- PulseMQ schema, version 1.
--
-- Follows the tables of the original Python 0.2.0 (see shared/docs/original-0.2.0.md §6) with its
-- bugs fixed:
--   * stats topic rows are keyed by (namespace, topic_name, ts), not (topic_name, ts), so equal
--     topic names in different namespaces no longer collide;
--   * a namespace that still has topics cannot be deleted (ON DELETE RESTRICT), the API refuses;
--   * user_type and role values are constrained (the original accepted any string);
--   * stats_system_minute gains drops and latency percentiles; settings holds the per-install
--     JWT secret (never a hard-coded default).
--
-- Portability: the SQL is meant to run on PostgreSQL too, apart from these SQLite-specific spots:
--   * `INTEGER PRIMARY KEY AUTOINCREMENT` (PostgreSQL: `BIGINT GENERATED ALWAYS AS IDENTITY`).
--     AUTOINCREMENT is kept on purpose: a deleted user's id must never be handed to a new user,
--     since sessions, stats and audit rows refer to ids;
--   * timestamps are TEXT `YYYY-MM-DD HH:MM:SS` UTC filled by `CURRENT_TIMESTAMP`
--     (PostgreSQL: use TIMESTAMP columns with the same default);
--   * booleans are INTEGER 0/1 (PostgreSQL: BOOLEAN).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    user_type     TEXT    NOT NULL DEFAULT 'mq_normal'
                  CHECK (user_type IN ('super_admin', 'mq_super', 'mq_normal', 'admin_only')),
    -- bcrypt ($2b$...) for accounts that may log in to the admin console.
    password_hash TEXT    DEFAULT NULL,
    -- lowercase hex SHA-256 of the MQ token (tokens are 128-bit random, so no salt is needed).
    token_hash    TEXT    DEFAULT NULL,
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at    TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at    TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE namespaces (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    created_by  TEXT    NOT NULL,
    is_active   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at  TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE topics (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- RESTRICT: deleting a namespace that still has topics is refused; the API reports how many.
    namespace_id INTEGER NOT NULL REFERENCES namespaces (id) ON DELETE RESTRICT,
    name         TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (namespace_id, name)
);

CREATE TABLE namespace_permissions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    namespace_id INTEGER NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    role         TEXT    NOT NULL DEFAULT 'sub' CHECK (role IN ('sub', 'pub', 'admin')),
    granted_by   TEXT    NOT NULL,
    granted_at   TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (user_id, namespace_id)
);

-- Names rather than ids on purpose: an audit trail must survive the deletion of what it talks about.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    op_type     TEXT NOT NULL,
    target_type TEXT NOT NULL DEFAULT 'namespace_permission',
    operator    TEXT NOT NULL,
    target      TEXT NOT NULL,
    namespace   TEXT DEFAULT NULL,
    old_value   TEXT DEFAULT NULL,
    new_value   TEXT DEFAULT NULL,
    created_at  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Minute and hour statistics. No foreign keys: history outlives deleted users and topics.
CREATE TABLE stats_topic_minute (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace   TEXT    NOT NULL,
    topic_name  TEXT    NOT NULL,
    minute_ts   INTEGER NOT NULL,
    msg_count   INTEGER NOT NULL DEFAULT 0,
    byte_count  INTEGER NOT NULL DEFAULT 0,
    sub_count   INTEGER NOT NULL DEFAULT 0,
    pub_count   INTEGER NOT NULL DEFAULT 0,
    latency_p50 REAL    NOT NULL DEFAULT 0,
    latency_p99 REAL    NOT NULL DEFAULT 0,
    latency_max REAL    NOT NULL DEFAULT 0,
    drop_count  INTEGER NOT NULL DEFAULT 0,
    sub_churn   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (namespace, topic_name, minute_ts)
);

CREATE TABLE stats_user_minute (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL,
    minute_ts   INTEGER NOT NULL,
    pub_count   INTEGER NOT NULL DEFAULT 0,
    pub_bytes   INTEGER NOT NULL DEFAULT 0,
    sub_count   INTEGER NOT NULL DEFAULT 0,
    sub_bytes   INTEGER NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0,
    is_online   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_id, minute_ts)
);

CREATE TABLE stats_system_minute (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    minute_ts          INTEGER NOT NULL UNIQUE,
    msg_total          INTEGER NOT NULL DEFAULT 0,
    byte_total         INTEGER NOT NULL DEFAULT 0,
    online_users       INTEGER NOT NULL DEFAULT 0,
    active_connections INTEGER NOT NULL DEFAULT 0,
    auth_total         INTEGER NOT NULL DEFAULT 0,
    auth_fail          INTEGER NOT NULL DEFAULT 0,
    perm_denied        INTEGER NOT NULL DEFAULT 0,
    drops              INTEGER NOT NULL DEFAULT 0,
    latency_p50_us     REAL    NOT NULL DEFAULT 0,
    latency_p99_us     REAL    NOT NULL DEFAULT 0,
    cache_hit_rate     REAL    NOT NULL DEFAULT 0,
    memory_mb          REAL    NOT NULL DEFAULT 0
);

CREATE TABLE stats_topic_hour (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace       TEXT    NOT NULL,
    topic_name      TEXT    NOT NULL,
    hour_ts         INTEGER NOT NULL,
    msg_count       INTEGER NOT NULL DEFAULT 0,
    byte_count      INTEGER NOT NULL DEFAULT 0,
    avg_sub_count   REAL    NOT NULL DEFAULT 0,
    avg_latency_p50 REAL    NOT NULL DEFAULT 0,
    avg_latency_p99 REAL    NOT NULL DEFAULT 0,
    UNIQUE (namespace, topic_name, hour_ts)
);

CREATE TABLE stats_user_hour (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL,
    hour_ts        INTEGER NOT NULL,
    pub_count      INTEGER NOT NULL DEFAULT 0,
    pub_bytes      INTEGER NOT NULL DEFAULT 0,
    sub_count      INTEGER NOT NULL DEFAULT 0,
    sub_bytes      INTEGER NOT NULL DEFAULT 0,
    online_minutes INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_id, hour_ts)
);

-- Per-installation key/value settings (e.g. the JWT secret).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE INDEX idx_audit_log_created_at ON audit_log (created_at);
CREATE INDEX idx_audit_log_operator ON audit_log (operator);
CREATE INDEX idx_topics_namespace ON topics (namespace_id);
CREATE INDEX idx_ns_perms_user ON namespace_permissions (user_id);
CREATE INDEX idx_ns_perms_ns ON namespace_permissions (namespace_id);
CREATE INDEX idx_stats_topic_minute_ts ON stats_topic_minute (minute_ts);
CREATE INDEX idx_stats_user_minute_ts ON stats_user_minute (minute_ts);
CREATE INDEX idx_stats_topic_hour_ts ON stats_topic_hour (hour_ts);
CREATE INDEX idx_stats_user_hour_ts ON stats_user_hour (hour_ts);
