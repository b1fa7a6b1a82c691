//! Publishing the App Home tab when a user opens it, and again when it changes (`live_home.rs`)
//! for those who opened it lately. The Socket Mode callback only spawns [`HomeTab::opened`] and
//! acks; a lost publish is redone at the next change or the next opening.

use tokio::sync::OnceCell;
use tracing::warn;

use super::blocks::{self, HomeModel, Waiting};
use super::web::{SlackApi, SlackError};
use crate::clock::Clock;
use crate::store::{NewDelivery, RunRecord, Store, StoreError};
use crate::workflow::intake::Intake;

pub struct HomeTab {
    store: Store,
    api: SlackApi,
    clock: Clock,
    /// Judges who may decide what, so buttons go only to who may press them.
    intake: Intake,
    /// The workspace URL, learnt once from auth.test.
    workspace: OnceCell<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Slack(#[from] SlackError),
}

impl HomeTab {
    pub fn new(store: Store, api: SlackApi, clock: Clock, intake: Intake) -> Self {
        Self {
            store,
            api,
            clock,
            intake,
            workspace: OnceCell::new(),
        }
    }

    /// Handles one `app_home_opened` event: Slack retries an event it thinks was not acked in
    /// time, so a retry of an event already seen (same `event_id`) publishes nothing.
    pub async fn opened(&self, event_id: &str, user: &str) -> Result<(), HomeError> {
        let delivery = NewDelivery {
            key: format!("slack:event:{event_id}"),
            source: "slack".into(),
            intent: None,
        };
        if self
            .store
            .remember_delivery(&delivery, self.clock.now())
            .await?
        {
            let now = self.clock.now();
            self.store.saw_home(user, now).await?;
            // Read before the tab, so that a change made while it is drawn is published again.
            let fingerprint = self.store.home_fingerprint().await?;
            self.publish(user).await?;
            Ok(self.store.home_shown(user, &fingerprint, true, now).await?)
        } else {
            tracing::debug!(event_id, "retried event ignored");
            Ok(())
        }
    }

    /// Shows `user` the frozen repositories, the pending approvals (with buttons only where they
    /// may decide), the staging releases and the last 10 runs.
    pub async fn publish(&self, user: &str) -> Result<(), HomeError> {
        let workspace = match self
            .workspace
            .get_or_try_init(|| async { self.api.auth_test().await.map(|b| b.url) })
            .await
        {
            Ok(url) => Some(url.as_str()),
            Err(e) => {
                warn!(error = %e, "cannot learn the workspace URL; the Home tab has no card links");
                None
            }
        };
        let link = |run: &RunRecord| card_link(workspace?, run);
        let pending = self.store.pending_approvals(50).await?;
        let mut runs = Vec::new();
        for approval in &pending {
            runs.push(self.store.get_run(approval.run_id).await?);
        }
        let mut waiting = Vec::new();
        for (approval, run) in pending.iter().zip(&runs) {
            let Some(run) = run else { continue };
            let read_only = self.intake.may_decide(user, approval, run).await.err();
            waiting.push(Waiting {
                approval,
                run,
                link: link(run),
                read_only: read_only.map(|why| why.read_only()),
            });
        }
        let staging = self.store.all_staging().await?;
        let freezes = self.store.freezes().await?;
        let recent_runs = self.store.recent_runs(10).await?;
        let recent = recent_runs.iter().map(|run| (run, link(run))).collect();
        let view = blocks::home(&HomeModel {
            waiting,
            staging: &staging,
            freezes: &freezes,
            recent,
        });
        self.api.publish_home(user, view).await?;
        Ok(())
    }
}

/// The link to `run`'s card in the workspace at `https://{team_domain}.slack.com`.
pub fn team_card_link(team_domain: &str, run: &RunRecord) -> Option<String> {
    card_link(&format!("https://{team_domain}.slack.com"), run)
}

/// `https://{domain}.slack.com/archives/{channel}/p{ts without the dot}`.
pub fn card_link(workspace: &str, run: &RunRecord) -> Option<String> {
    let ts = run.card_ts.as_ref()?;
    Some(format!(
        "{}/archives/{}/p{}",
        workspace.trim_end_matches('/'),
        run.channel_id,
        ts.replace('.', "")
    ))
}
