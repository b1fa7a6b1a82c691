-- What each AI review cost, one row per review a run did (append-only): the month's spend, held
-- to REVIEW_MONTHLY_BUDGET_USD, and the review figures of /metrics.
CREATE TABLE review_spend (
    run_id   TEXT NOT NULL,
    source   TEXT NOT NULL,
    repo     TEXT NOT NULL,
    pr_id    INTEGER NOT NULL,
    cost_usd REAL,
    tokens   INTEGER,
    at       TEXT NOT NULL,
    PRIMARY KEY (run_id, source)
);
CREATE INDEX review_spend_at ON review_spend (at);
