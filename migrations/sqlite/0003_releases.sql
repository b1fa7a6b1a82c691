-- One release at a time per repository: at most one unfinished release run each.
CREATE UNIQUE INDEX runs_one_release_per_repo ON runs (repo)
    WHERE kind = 'release' AND status IN ('running', 'waiting');

-- The release being shipped: taken out of staging_releases just before its release PR is merged,
-- so PRs merged meanwhile open the next version, and archived once it is deployed. At most one per
-- repository; a release that stopped after its merge stays here until a later run ships it.
CREATE TABLE shipping_releases (
    repo        TEXT PRIMARY KEY NOT NULL,
    version     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    tickets     TEXT NOT NULL,
    prs         TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    frozen_at   TEXT NOT NULL
);
