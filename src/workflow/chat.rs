//! What the intake asks of the chat the bot lives in, after the ack: who may decide approvals,
//! and where a run's card is. Slack answers it (`slack::approvers`), so the workflow knows
//! nothing of Slack's API or of its links.

use async_trait::async_trait;

use super::decide::Permission;
use crate::store::RunRecord;

#[async_trait]
pub trait Chat: Send + Sync {
    /// Whether `user` may decide approvals; a user group's members may have to be fetched.
    async fn permission(&self, user: &str) -> Permission;

    /// A link to `run`'s card for people of the workspace at `team_domain`, once it is posted.
    fn card_link(&self, team_domain: &str, run: &RunRecord) -> Option<String>;
}
