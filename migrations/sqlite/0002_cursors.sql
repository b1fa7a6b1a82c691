-- Small named values the bot keeps between runs, such as how far the PR poller has looked.
CREATE TABLE cursors (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
