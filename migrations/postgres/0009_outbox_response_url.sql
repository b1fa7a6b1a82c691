-- Where a note after the ack goes: the command's or the click's response_url (Slack lets a bot
-- answer there up to 5 times in 30 minutes, in a DM or a channel it is not in). NULL: use
-- chat.postEphemeral.
ALTER TABLE outbox ADD COLUMN response_url TEXT;
