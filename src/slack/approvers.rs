//! Who may decide: an approval's deciders resolved against Slack. User-group members come from
//! `usergroups.users.list` (Tier 2) and PR authors from `users.lookupByEmail`, both cached for
//! five minutes. If Slack cannot be reached, the last answer is used; with none, a group's
//! membership is "unknown" and the click is refused with a reason, never silently allowed. This is the intake's [`Chat`]: it also links to a run's card.

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

/// Answers fetched from Slack, with when: reused for `ttl`, and past it when Slack cannot be
/// reached.
struct Cache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> Cache<V> {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    async fn get<F, E>(&self, key: &str, fetch: F) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>>,
        E: std::fmt::Display,
    {
        let cached = self.lock().get(key).cloned();
        if let Some((fetched, value)) = &cached
            && fetched.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        match fetch.await {
            Ok(value) => {
                self.lock()
                    .insert(key.to_owned(), (Instant::now(), value.clone()));
                Ok(value)
            }
            Err(e) => match cached {
                Some((_, value)) => {
                    warn!(key, error = %e, "cannot ask Slack again; using the last answer");
                    Ok(value)
                }
                None => Err(e),
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, V)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub struct Approvers {
    api: SlackApi,
    /// Members of each user group.
    groups: Cache<Arc<HashSet<String>>>,
    /// The Slack user of each email (a PR author's), `None` for nobody.
    emails: Cache<Option<String>>,
    /// The email of each Slack user who clicked a stage whose approvers come from Azure DevOps.
    users: Cache<Option<String>>,
}

impl Approvers {
    pub fn new(api: SlackApi) -> Self {
        let ttl = Duration::from_secs(300);
        Self {
            api,
            groups: Cache::new(ttl),
            emails: Cache::new(ttl),
            users: Cache::new(ttl),
        }
    }

    async fn email_of(&self, user: &str) -> Result<Option<String>, String> {
        let fetch = async {
            self.api
                .user_email(user)
                .await
                .map_err(|e| format!("cannot read your email from Slack: {e}"))
        };
        self.users.get(user, fetch).await
    }

    async fn members(&self, group: &str) -> Result<Arc<HashSet<String>>, String> {
        let fetch = async {
            let users = self
                .api
                .group_members(group)
                .await
                .map_err(|e| format!("cannot list the members of user group {group}: {e}"))?;
            Ok(Arc::new(users.into_iter().collect::<HashSet<_>>()))
        };
        self.groups.get(group, fetch).await
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
        if deciders.has_emails() {
            match self.email_of(user).await {
                Ok(Some(email)) if deciders.names_email(&email) => return Ok(true),
                Ok(_) => {}
                Err(reason) => failure = Some(reason),
            }
        }
        failure.map_or(Ok(false), Err)
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<String>, String> {
        let fetch = async {
            self.api
                .user_by_email(email)
                .await
                .map_err(|e| format!("cannot look up a Slack user by email: {e}"))
        };
        self.emails.get(email, fetch).await
    }

    fn card_link(&self, team_domain: &str, run: &RunRecord) -> Option<String> {
        team_card_link(team_domain, run)
    }
}
