-- What deployed each archived release (its classic release or YAML run, as JSON), so that
-- `/release rollback` can deploy it again. Releases archived before this column have none.
ALTER TABLE archived_releases ADD COLUMN cd TEXT;
-- The hotfix branch a release shipped from (`/release hotfix`); none for a release of develop.
ALTER TABLE archived_releases ADD COLUMN hotfix TEXT;

-- Rollbacks: an archived version deployed again with `/release rollback`, the version it left,
-- and the stages deployed again. Rows are never changed or removed (see the triggers).
CREATE TABLE rollbacks (
    run_id          TEXT PRIMARY KEY NOT NULL,
    repo            TEXT NOT NULL,
    version         TEXT NOT NULL,
    left_version    TEXT NOT NULL,
    stages          TEXT NOT NULL,
    rolled_back_by  TEXT NOT NULL,
    rolled_back_at  TEXT NOT NULL
);
CREATE INDEX rollbacks_of_repo ON rollbacks (repo, rolled_back_at);
CREATE TRIGGER rollbacks_no_update BEFORE UPDATE ON rollbacks
BEGIN SELECT RAISE(ABORT, 'rollbacks are immutable'); END;
CREATE TRIGGER rollbacks_no_delete BEFORE DELETE ON rollbacks
BEGIN SELECT RAISE(ABORT, 'rollbacks are immutable'); END;
