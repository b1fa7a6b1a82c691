-- Small named values the bot keeps between runs, such as how far the PR poller has looked.
CREATE TABLE cursors (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
