//! Who may decide: an approval's deciders resolved against Slack. User-group members come from
//! `usergroups.users.list` (Tier 2, so cached). If Slack cannot be reached, the last known
//! membership is used; with none, the answer is "unknown" and the click is refused with a reason,
//! never silently allowed. This is the intake's [`Chat`]: it also links to a run's card.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tracing::warn;

use super::home::team_card_link;
use super::web::SlackApi;
use crate::domain::Deciders;
use crate::store::RunRecord;
use crate::workflow::chat::Chat;

/// Members of each user group, with when they were fetched.
type GroupCache = HashMap<String, (Instant, Arc<HashSet<String>>)>;

pub struct Approvers {
    api: SlackApi,
    ttl: Duration,
    cache: Mutex<GroupCache>,
}

impl Approvers {
    pub fn new(api: SlackApi) -> Self {
        Self {
            api,
            ttl: Duration::from_secs(300),
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn members(&self, group: &str) -> Result<Arc<HashSet<String>>, String> {
        let cached = self.cached(group);
        if let Some((fetched, members)) = &cached
            && fetched.elapsed() < self.ttl
        {
            return Ok(members.clone());
        }
        match self.api.group_members(group).await {
            Ok(users) => {
                let members = Arc::new(users.into_iter().collect::<HashSet<_>>());
                self.lock()
                    .insert(group.to_owned(), (Instant::now(), members.clone()));
                Ok(members)
            }
            Err(e) => match cached {
                Some((_, members)) => {
                    warn!(group, error = %e, "cannot refresh user-group members; using the last known list");
                    Ok(members)
                }
                None => Err(format!(
                    "cannot list the members of user group {group}: {e}"
                )),
            },
        }
    }

    fn cached(&self, group: &str) -> Option<(Instant, Arc<HashSet<String>>)> {
        self.lock().get(group).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GroupCache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Chat for Approvers {
    async fn is_decider(&self, user: &str, deciders: &Deciders) -> Result<bool, String> {
        if deciders.names_user(user) {
            return Ok(true);
        }
        let mut failure = None;
        for group in deciders.groups() {
            match self.members(group).await {
                Ok(members) if members.contains(user) => return Ok(true),
                Ok(_) => {}
                Err(reason) => failure = Some(reason),
            }
        }
        failure.map_or(Ok(false), Err)
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<String>, String> {
        self.api
            .user_by_email(email)
            .await
            .map_err(|e| format!("cannot look up a Slack user by email: {e}"))
    }

    fn card_link(&self, team_domain: &str, run: &RunRecord) -> Option<String> {
        team_card_link(team_domain, run)
    }
}
