-- The core tables. Times are RFC 3339 UTC text written by the application (never by SQL), so
-- they compare correctly as text. JSON columns are text.

-- One row per durable run: where it is, what it knows, who holds it.
CREATE TABLE runs (
    id            TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    repo          TEXT,
    pr_id         INTEGER,
    subject       TEXT NOT NULL,
    step          TEXT NOT NULL,
    state         TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'waiting', 'done', 'failed', 'cancelled')),
    seq           INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,
    polls         INTEGER NOT NULL DEFAULT 0,
    wake_at       TEXT,
    lease_owner   TEXT,
    lease_until   TEXT,
    decision      TEXT,
    outcome       TEXT,
    channel_id    TEXT NOT NULL,
    card_ts       TEXT,
    card_version  INTEGER NOT NULL DEFAULT 1,
    card_synced   INTEGER NOT NULL DEFAULT 0,
    card_claim_by TEXT,
    card_claim_until TEXT,
    started_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX runs_due ON runs (status, wake_at);
CREATE INDEX runs_subject ON runs (kind, repo, pr_id);
CREATE INDEX runs_card_behind ON runs (created_at) WHERE card_version > card_synced;

-- One row per wait point of a run. At most one is pending per run.
CREATE TABLE approvals (
    id             TEXT PRIMARY KEY NOT NULL,
    run_id         TEXT NOT NULL REFERENCES runs (id),
    point          TEXT NOT NULL,
    prompt         TEXT NOT NULL,
    options        TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'decided', 'expired', 'superseded')),
    decided_option TEXT,
    decided_by     TEXT,
    decided_at     TEXT,
    expires_at     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX approvals_one_pending ON approvals (run_id) WHERE status = 'pending';
CREATE INDEX approvals_expiry ON approvals (expires_at) WHERE status = 'pending';

-- Who did what, when, in which run.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  TEXT,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL,
    at      TEXT NOT NULL
);
CREATE INDEX audit_log_run ON audit_log (run_id, id);

-- The release being assembled for each repository: one current row per repo.
CREATE TABLE staging_releases (
    repo        TEXT PRIMARY KEY NOT NULL,
    version     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    tickets     TEXT NOT NULL,
    prs         TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Released versions. Rows are never changed or removed (see the triggers).
CREATE TABLE archived_releases (
    repo        TEXT NOT NULL,
    version     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    tickets     TEXT NOT NULL,
    prs         TEXT NOT NULL,
    released_at TEXT NOT NULL,
    PRIMARY KEY (repo, version)
);
CREATE TRIGGER archived_releases_no_update BEFORE UPDATE ON archived_releases
BEGIN SELECT RAISE(ABORT, 'archived releases are immutable'); END;
CREATE TRIGGER archived_releases_no_delete BEFORE DELETE ON archived_releases
BEGIN SELECT RAISE(ABORT, 'archived releases are immutable'); END;

-- Dedupe keys of everything delivered to us (envelopes, events, webhooks), with the intent still
-- to be carried out, if any.
CREATE TABLE deliveries (
    key          TEXT PRIMARY KEY NOT NULL,
    source       TEXT NOT NULL,
    intent       TEXT,
    received_at  TEXT NOT NULL,
    processed_at TEXT
);
CREATE INDEX deliveries_pending ON deliveries (received_at) WHERE processed_at IS NULL;

-- The effect journal: each external effect of a run, recorded before and after the call.
CREATE TABLE effects (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    name        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('started', 'done')),
    result      TEXT,
    attempts    INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (run_id, name)
);

-- Slack messages waiting to be sent: thread replies and ephemeral notes. Cards are synced from
-- runs.card_version instead, so only their latest rendering is ever sent.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT REFERENCES runs (id),
    kind         TEXT NOT NULL CHECK (kind IN ('thread_reply', 'ephemeral')),
    channel_id   TEXT NOT NULL,
    user_id      TEXT,
    message      TEXT NOT NULL,
    not_before   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    claim_by     TEXT,
    claim_until  TEXT,
    sent_at      TEXT,
    error        TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX outbox_pending ON outbox (not_before) WHERE sent_at IS NULL AND error IS NULL;
