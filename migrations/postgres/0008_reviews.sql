-- The AI reviews done, one per (repository, PR, source commit) across runs, so a second request
-- for the same commit reuses the first instead of paying for another.
CREATE TABLE reviews (
    repo        TEXT NOT NULL,
    pr_id       BIGINT NOT NULL,
    source      TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    brief       TEXT NOT NULL,
    reviewed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (repo, pr_id, source)
);
