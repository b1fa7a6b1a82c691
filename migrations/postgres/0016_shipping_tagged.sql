-- Whether the run shipping a release got as far as its version tag: a later release that takes
-- the release over cannot reuse that version, because the tag names the earlier merge commit.
ALTER TABLE shipping_releases ADD COLUMN tagged BOOLEAN NOT NULL DEFAULT FALSE;
