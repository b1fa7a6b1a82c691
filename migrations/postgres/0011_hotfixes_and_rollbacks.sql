-- What deployed each archived release (its classic release or YAML run), so that
-- `/release rollback` can deploy it again. Releases archived before this column have none.
ALTER TABLE archived_releases ADD COLUMN cd JSONB;
-- The hotfix branch a release shipped from (`/release hotfix`); none for a release of develop.
ALTER TABLE archived_releases ADD COLUMN hotfix TEXT;

-- Rollbacks: an archived version deployed again with `/release rollback`, the version it left,
-- and the stages deployed again. Rows are never changed or removed (see the trigger).
CREATE TABLE rollbacks (
    run_id          TEXT PRIMARY KEY,
    repo            TEXT NOT NULL,
    version         TEXT NOT NULL,
    left_version    TEXT NOT NULL,
    stages          JSONB NOT NULL,
    rolled_back_by  TEXT NOT NULL,
    rolled_back_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX rollbacks_of_repo ON rollbacks (repo, rolled_back_at);
CREATE FUNCTION rollbacks_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'rollbacks are immutable';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER rollbacks_no_change BEFORE UPDATE OR DELETE ON rollbacks
FOR EACH ROW EXECUTE FUNCTION rollbacks_immutable();
