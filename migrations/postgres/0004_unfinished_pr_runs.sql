-- Starting a review asked for by a person looks up the unfinished runs of the PRs in its group
-- commit; without this index that is a scan of every unfinished run.
CREATE INDEX runs_unfinished_pr ON runs (pr_id) WHERE status IN ('running', 'waiting');
