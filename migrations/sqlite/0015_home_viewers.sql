-- Who opened the App Home tab, and when last: those of the last 7 days get it published again
-- when what it shows changes.
CREATE TABLE home_viewers (
    user_id    TEXT PRIMARY KEY NOT NULL,
    opened_at  TEXT NOT NULL
);
