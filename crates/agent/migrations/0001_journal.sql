-- The agent's local journal (DESIGN section 6): one row per claimed job,
-- moving claimed -> sent_to_terminal -> result -> reported (or dropped).
CREATE TABLE IF NOT EXISTS journal (
    job_id        TEXT PRIMARY KEY NOT NULL,
    job_type      TEXT NOT NULL,
    input_data    TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    expires_at    TEXT,
    state         TEXT NOT NULL CHECK (state IN ('claimed', 'sent_to_terminal', 'result', 'reported', 'dropped')),
    order_comment TEXT,
    sends         INTEGER NOT NULL DEFAULT 0,
    result_status TEXT CHECK (result_status IN ('completed', 'failed')),
    output_data   TEXT,
    error_message TEXT,
    report_note   TEXT,
    report_tries  INTEGER NOT NULL DEFAULT 0,
    claimed_at    TEXT NOT NULL,
    sent_at       TEXT,
    result_at     TEXT,
    reported_at   TEXT
);
CREATE INDEX IF NOT EXISTS journal_state ON journal (state);

-- Charts opened by deploy jobs, so run/stop (which only name the deployment) find them.
CREATE TABLE IF NOT EXISTS deployments (
    deployment_id TEXT PRIMARY KEY NOT NULL,
    chart_id      INTEGER NOT NULL,
    expert        TEXT NOT NULL,
    symbol        TEXT NOT NULL,
    timeframe     TEXT NOT NULL,
    running       INTEGER NOT NULL DEFAULT 1,
    updated_at    TEXT NOT NULL
);
