-- Each approval names the decision it asks for, so the policy for that decision (merge, ci,
-- release or a stage) says who may answer it.
ALTER TABLE approvals ADD COLUMN decides TEXT NOT NULL DEFAULT 'release';
-- Whose work the approval decides (a PR author's email), who may not decide it alone.
ALTER TABLE approvals ADD COLUMN author TEXT;
UPDATE approvals SET decides = 'merge' WHERE point IN ('merge', 're-review');
UPDATE approvals SET decides = 'ci' WHERE point = 'ci';
-- A stage's question did not record which stage it was about; a pending one is about the stage
-- its run waits at. An old, settled one keeps no name.
UPDATE approvals SET decides = 'stage:' || COALESCE(
    (SELECT json_extract(runs.state, '$.stage') FROM runs WHERE runs.id = approvals.run_id AND approvals.status = 'pending'),
    'unknown')
WHERE point = 'stage';

-- How many distinct people must approve, as the policy said at the first vote (for the card).
ALTER TABLE approvals ADD COLUMN required INTEGER NOT NULL DEFAULT 1;

-- The Approve clicks of a question that needs several people ("required = 2"): one row per
-- person, so the same person twice counts once.
CREATE TABLE approval_votes (
    approval_id TEXT NOT NULL REFERENCES approvals (id),
    voter       TEXT NOT NULL,
    voter_name  TEXT,
    option      TEXT NOT NULL,
    voted_at    TEXT NOT NULL,
    PRIMARY KEY (approval_id, voter)
);
