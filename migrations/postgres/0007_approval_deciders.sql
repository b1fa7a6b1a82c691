-- The deciders of one approval, when they are not the policy's: the people Azure DevOps lists
-- as a stage's approvers (from_azure_devops). NULL: the policy decides.
ALTER TABLE approvals ADD COLUMN deciders JSONB;
