-- Repositories frozen with `/release freeze`: their Merge buttons and release starts are refused,
-- with the reason and who froze them, until `/release unfreeze`. One row per frozen repository.
CREATE TABLE freezes (
    repo       TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    frozen_by  TEXT NOT NULL,
    frozen_at  TIMESTAMPTZ NOT NULL
);
