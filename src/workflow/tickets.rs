//! Jira as both workflows use it: which project new tickets go to, and moving tickets without
//! letting one stuck ticket stop a run.

use std::sync::Arc;

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

    /// Fills in the summary and link of each ticket that has none yet. A key Jira does not know
    /// is noted and dropped.
    pub async fn describe(
        &self,
        tickets: Vec<Ticket>,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Ticket>, StepError> {
        let mut described = Vec::with_capacity(tickets.len());
        for ticket in tickets {
            if !ticket.url.is_empty() {
                described.push(ticket);
                continue;
            }
            match self.client.issue(&ticket.key).await {
                Ok(issue) => described.push(Ticket {
                    summary: issue.summary,
                    url: issue.url,
                    ..ticket
                }),
                Err(JiraError::Http(HttpError::NotFound { .. })) => {
                    notes.push(format!(
                        "{} is not a Jira issue the bot can see; ignored",
                        ticket.key
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(described)
    }
}
