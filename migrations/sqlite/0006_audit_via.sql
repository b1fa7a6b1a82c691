-- What a person's action came through (button, operator API, slash command, Azure DevOps …),
-- for the audit trail. Entries written before this column have none.
ALTER TABLE audit_log ADD COLUMN via TEXT;
