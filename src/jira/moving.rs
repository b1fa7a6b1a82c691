//! Moving an issue to a status: the walk over the transitions Jira offers (the choice of each hop
//! is `transitions.rs`), with a Resolution where a transition's screen requires one.

use reqwest::Method;
use serde_json::json;

use super::dto::{ChangelogDto, TransitionDto, TransitionsDto};
use super::transitions::{Hop, MAX_HOPS, Offered, next_hop};
use super::{Jira, JiraClient, JiraError, Moved};
use crate::domain::JiraKey;
use crate::http_client::Call;

/// Walks taken before a transient failure is the caller's.
const WALKS: u32 = 3;

impl JiraClient {
    /// [`Self::walk`], taken again after a transient failure on the way. A transition's POST is
    /// not retried blind, since it may have taken effect; the walk starts again from the status
    /// Jira reads back, so nothing moves twice. A release of many tickets then does not fail on
    /// one 500 among its hundreds of calls.
    pub(super) async fn walk_to(&self, key: &JiraKey, status: &str) -> Result<Moved, JiraError> {
        let mut walks = 1;
        loop {
            match self.walk(key, status).await {
                Err(JiraError::Http(e)) if e.is_transient() && walks < WALKS => walks += 1,
                moved => return moved,
            }
        }
    }

    /// Transitions are found by the status they lead to (or their own name), since their ids
    /// differ from workflow to workflow; a status further away is walked to (`transitions.rs`).
    /// After a crash mid-walk, the next call goes on from wherever the issue is.
    async fn walk(&self, key: &JiraKey, status: &str) -> Result<Moved, JiraError> {
        let from = self.issue(key).await?.status;
        if from.eq_ignore_ascii_case(status) {
            return Ok(Moved::AlreadyThere);
        }
        let mut current = from.clone();
        let mut been = vec![from.clone()];
        let mut history_read = false;
        let mut through: Vec<String> = Vec::new();
        loop {
            let offered = self.offered(key).await?;
            let mut hop = next_hop(&offered, status, &been);
            if matches!(hop, Hop::Toward(_)) && !history_read {
                been.extend(self.statuses_been(key).await?);
                history_read = true;
                hop = next_hop(&offered, status, &been);
            }
            match hop {
                Hop::Arrive(transition) => {
                    self.take(key, transition).await?;
                    through.push(transition.name.clone());
                    return Ok(Moved::Moved {
                        from,
                        transition: through.join(" → "),
                    });
                }
                Hop::Toward(transition) if through.len() + 1 < MAX_HOPS => {
                    self.take(key, transition).await?;
                    through.push(transition.name.clone());
                    current.clone_from(&transition.to);
                    been.push(transition.to.clone());
                }
                _ => {
                    let mut reachable: Vec<String> = offered
                        .iter()
                        .map(|t| t.to.clone())
                        .filter(|s| !s.is_empty())
                        .collect();
                    reachable.dedup();
                    return Err(JiraError::NoPath {
                        key: key.clone(),
                        current,
                        target: status.to_owned(),
                        reachable,
                        through,
                    });
                }
            }
        }
    }

    /// The transitions from the issue's current status, with their screens' fields.
    async fn offered(&self, key: &JiraKey) -> Result<Vec<Offered>, JiraError> {
        let url = self.url(
            &["issue", key.as_str(), "transitions"],
            &[("expand", "transitions.fields")],
        );
        let offered: TransitionsDto = self.api.json(Call::get(url)).await?;
        Ok(offered
            .transitions
            .into_iter()
            .map(TransitionDto::offered)
            .collect())
    }

    /// Takes `transition`, with JIRA_RESOLUTION when its screen requires a Resolution.
    async fn take(&self, key: &JiraKey, transition: &Offered) -> Result<(), JiraError> {
        let mut body = json!({"transition": {"id": transition.id}});
        if let Some(allowed) = &transition.resolution {
            let wanted = &self.resolution;
            let Some(name) = allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(wanted))
                .or(allowed.is_empty().then_some(wanted))
            else {
                return Err(JiraError::Resolution {
                    key: key.clone(),
                    transition: transition.name.clone(),
                    wanted: wanted.clone(),
                    allowed: allowed.clone(),
                });
            };
            body["fields"] = json!({"resolution": {"name": name}});
        }
        let url = self.url(&["issue", key.as_str(), "transitions"], &[]);
        self.api
            .send(Call::with_body(Method::POST, url, body, false))
            .await?;
        Ok(())
    }

    /// The statuses the issue has been in, from its changelog's first 100 entries
    /// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-changelog-get).
    async fn statuses_been(&self, key: &JiraKey) -> Result<Vec<String>, JiraError> {
        let url = self.url(
            &["issue", key.as_str(), "changelog"],
            &[("maxResults", "100")],
        );
        let changelog: ChangelogDto = self.api.json(Call::get(url)).await?;
        Ok(changelog
            .values
            .into_iter()
            .flat_map(|change| change.items)
            .filter(|item| item.field == "status")
            .flat_map(|item| [item.from_string, item.to_string])
            .flatten()
            .collect())
    }
}
