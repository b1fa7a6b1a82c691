-- A Slack post about to be sent: its key (`card:<run>`, `outbox:<id>`) and when the first try
-- began. A mark found on a later try means an earlier one may have reached Slack without its ts
-- being recorded, so the sender looks for the message (by its metadata) before posting again.
CREATE TABLE post_marks (
    key    TEXT PRIMARY KEY NOT NULL,
    since  TIMESTAMPTZ NOT NULL
);
CREATE INDEX post_marks_since ON post_marks (since);
