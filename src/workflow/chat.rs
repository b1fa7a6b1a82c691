//! What the intake asks of the chat the bot lives in, after the ack: who may decide approvals,
//! and where a run's card is. Slack answers it (`slack::approvers`), so the workflow knows
//! nothing of Slack's API or of its links.

use async_trait::async_trait;

use crate::domain::Deciders;
use crate::store::RunRecord;

#[async_trait]
pub trait Chat: Send + Sync {
    /// Whether `user` is one of `deciders`; a user group's members may have to be fetched.
    /// `Err` says why that could not be checked.
    async fn is_decider(&self, user: &str, deciders: &Deciders) -> Result<bool, String>;

    /// The chat's user with this email (a PR author's), `None` when nobody has it. `Err` says
    /// why the lookup failed.
    async fn user_by_email(&self, email: &str) -> Result<Option<String>, String>;

    /// A link to `run`'s card for people of the workspace at `team_domain`, once it is posted.
    fn card_link(&self, team_domain: &str, run: &RunRecord) -> Option<String>;
}
