//! Jira as both workflows use it: which project new tickets go to, and moving tickets without
//! letting one stuck ticket stop a run.

use std::sync::Arc;

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use crate::domain::JiraKey;
use crate::http_client::HttpError;
use crate::jira::{Jira, JiraError};
use crate::workflow::StepError;

/// A ticket as a run shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub key: JiraKey,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub url: String,
    /// Created by the bot because the branch named none.
    #[serde(default)]
    pub created: bool,
}

impl Ticket {
    pub fn bare(key: JiraKey) -> Self {
        Self {
            key,
            summary: String::new(),
            url: String::new(),
            created: false,
        }
    }
}

/// Tickets read or moved at once. One at a time, a release of hundreds of tickets under a slow
/// or failing Jira took minutes (the soak benchmark); a few at once stay well within Jira's
/// limits.
pub const AT_ONCE: usize = 4;

/// Jira and where tickets are created. One client serves both flows.
#[derive(Clone)]
pub struct JiraSide {
    pub client: Arc<dyn Jira>,
    pub project: String,
    pub issue_type: String,
    /// The projects whose keys in a branch name count (DEFAULT_JIRA_PROJECT, each repository's
    /// `jira_project`, JIRA_PROJECTS): a branch cannot move another team's tickets.
    pub projects: Vec<String>,
}

impl JiraSide {
    /// Moves a ticket to `status`. A move Jira cannot make is noted for the card, not fatal, and
    /// returned; only a transient failure is an error (the step is tried again).
    pub async fn move_ticket(
        &self,
        key: &JiraKey,
        status: &str,
        notes: &mut Vec<String>,
    ) -> Result<Option<String>, StepError> {
        match self.client.move_to(key, status).await {
            Ok(_) => Ok(None),
            Err(JiraError::Http(e)) if e.is_transient() => Err(e.into()),
            Err(e) => {
                let warning = format!("{key} was not moved to {status}: {e}");
                notes.push(warning.clone());
                Ok(Some(warning))
            }
        }
    }

    /// [`Self::move_ticket`] for each of `keys`, a few at once; the warnings of those that
    /// would not move, in the order of `keys`.
    pub async fn move_all(
        &self,
        keys: &[JiraKey],
        status: &str,
        notes: &mut Vec<String>,
    ) -> Result<Vec<String>, StepError> {
        let mut stuck = Vec::new();
        for some in keys.chunks(AT_ONCE) {
            let moves = join_all(some.iter().map(|key| async move {
                let mut noted = Vec::new();
                let warning = self.move_ticket(key, status, &mut noted).await;
                (warning, noted)
            }))
            .await;
            for (warning, noted) in moves {
                notes.extend(noted);
                stuck.extend(warning?);
            }
        }
        Ok(stuck)
    }

    /// Fills in the summary and link of each ticket that has none yet, a few at once. A key
    /// Jira does not know is noted and dropped.
    pub async fn describe(
        &self,
        tickets: Vec<Ticket>,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Ticket>, StepError> {
        let mut described = Vec::with_capacity(tickets.len());
        for some in tickets.chunks(AT_ONCE) {
            let looked = join_all(some.iter().map(|ticket| async move {
                if !ticket.url.is_empty() {
                    return Ok(ticket.clone());
                }
                let issue = self.client.issue(&ticket.key).await?;
                Ok(Ticket {
                    summary: issue.summary,
                    url: issue.url,
                    ..ticket.clone()
                })
            }))
            .await;
            for (ticket, looked) in some.iter().zip(looked) {
                match looked {
                    Ok(ticket) => described.push(ticket),
                    Err(JiraError::Http(HttpError::NotFound { .. })) => notes.push(format!(
                        "{} is not a Jira issue the bot can see; ignored",
                        ticket.key
                    )),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(described)
    }
}
