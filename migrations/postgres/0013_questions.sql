-- Mentions of the bot in a run card's thread, after the ack: a question for the reviewer, or an
-- "ignore" whose Azure DevOps thread is still to be closed. One row per Slack event (its
-- delivery key), answered once; a worker claims a row under a short lease.
CREATE TABLE questions (
    key          TEXT PRIMARY KEY NOT NULL,
    run_id       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    asked_by     TEXT NOT NULL,
    text         TEXT NOT NULL,
    asked_at     TIMESTAMPTZ NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    claim_by     TEXT,
    claim_until  TIMESTAMPTZ,
    answered_at  TIMESTAMPTZ
);
CREATE INDEX questions_open ON questions (answered_at, asked_at);
CREATE INDEX questions_asker ON questions (asked_by, asked_at);

-- Findings a person marked won't fix for a PR ("@bot ignore <finding>"): never raised again on it.
CREATE TABLE dismissals (
    repo         TEXT NOT NULL,
    pr_id        BIGINT NOT NULL,
    fingerprint  TEXT NOT NULL,
    title        TEXT NOT NULL,
    dismissed_by TEXT NOT NULL,
    dismissed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (repo, pr_id, fingerprint)
);

-- A mention in a thread names the thread's root: the run whose card it is.
CREATE INDEX runs_card_ts ON runs (card_ts) WHERE card_ts IS NOT NULL;
