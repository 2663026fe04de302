-- Alarm history (issue 16 §3): one row per alarm, raised when a figure over the alarm window
-- reached its threshold (`alarms` in the configuration), closed when a whole window passed below
-- it. `peak` is the highest figure seen while it was active. Kept `alarms.retention_days`.
CREATE TABLE alarms (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    peak       REAL    NOT NULL,
    threshold  REAL    NOT NULL,
    raised_ms  INTEGER NOT NULL,
    cleared_ms INTEGER
);
CREATE INDEX idx_alarms_raised ON alarms (raised_ms);
