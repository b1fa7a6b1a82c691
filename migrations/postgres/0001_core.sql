-- The core tables; the same shape as migrations/sqlite/0001_core.sql, in native types.

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    repo          TEXT,
    pr_id         BIGINT,
    subject       TEXT NOT NULL,
    step          TEXT NOT NULL,
    state         JSONB NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'waiting', 'done', 'failed', 'cancelled')),
    seq           BIGINT NOT NULL DEFAULT 0,
    attempts      BIGINT NOT NULL DEFAULT 0,
    polls         BIGINT NOT NULL DEFAULT 0,
    wake_at       TIMESTAMPTZ,
    lease_owner   TEXT,
    lease_until   TIMESTAMPTZ,
    decision      JSONB,
    outcome       TEXT,
    channel_id    TEXT NOT NULL,
    card_ts       TEXT,
    card_version  BIGINT NOT NULL DEFAULT 1,
    card_synced   BIGINT NOT NULL DEFAULT 0,
    card_claim_by TEXT,
    card_claim_until TIMESTAMPTZ,
    started_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX runs_due ON runs (status, wake_at);
CREATE INDEX runs_subject ON runs (kind, repo, pr_id);
CREATE INDEX runs_card_behind ON runs (created_at) WHERE card_version > card_synced;

CREATE TABLE approvals (
    id             TEXT PRIMARY KEY,
    run_id         TEXT NOT NULL REFERENCES runs (id),
    point          TEXT NOT NULL,
    prompt         TEXT NOT NULL,
    options        JSONB NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'decided', 'expired', 'superseded')),
    decided_option TEXT,
    decided_by     TEXT,
    decided_at     TIMESTAMPTZ,
    expires_at     TIMESTAMPTZ NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX approvals_one_pending ON approvals (run_id) WHERE status = 'pending';
CREATE INDEX approvals_expiry ON approvals (expires_at) WHERE status = 'pending';

CREATE TABLE audit_log (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id  TEXT,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL,
    at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_run ON audit_log (run_id, id);

CREATE TABLE staging_releases (
    repo        TEXT PRIMARY KEY,
    version     TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    tickets     JSONB NOT NULL,
    prs         JSONB NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE archived_releases (
    repo        TEXT NOT NULL,
    version     TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    tickets     JSONB NOT NULL,
    prs         JSONB NOT NULL,
    released_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (repo, version)
);
CREATE FUNCTION archived_releases_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'archived releases are immutable';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER archived_releases_no_change BEFORE UPDATE OR DELETE ON archived_releases
FOR EACH ROW EXECUTE FUNCTION archived_releases_immutable();

CREATE TABLE deliveries (
    key          TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    intent       JSONB,
    received_at  TIMESTAMPTZ NOT NULL,
    processed_at TIMESTAMPTZ
);
CREATE INDEX deliveries_pending ON deliveries (received_at) WHERE processed_at IS NULL;

CREATE TABLE effects (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    name        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('started', 'done')),
    result      JSONB,
    attempts    BIGINT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (run_id, name)
);

CREATE TABLE outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       TEXT REFERENCES runs (id),
    kind         TEXT NOT NULL CHECK (kind IN ('thread_reply', 'ephemeral')),
    channel_id   TEXT NOT NULL,
    user_id      TEXT,
    message      JSONB NOT NULL,
    not_before   TIMESTAMPTZ NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    claim_by     TEXT,
    claim_until  TIMESTAMPTZ,
    sent_at      TIMESTAMPTZ,
    error        TEXT,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX outbox_pending ON outbox (not_before) WHERE sent_at IS NULL AND error IS NULL;
