//! What the Socket Mode handlers do with an envelope, without the Socket Mode plumbing: answer
//! slash commands in the ack, and persist button clicks as intents for the intake. Nothing here
//! waits on anything but our own database, so acks leave within milliseconds.

use std::sync::Arc;

use slack_morphism::prelude::*;
use tracing::{info, warn};

use super::commands::{self, Command};
use super::{actions, blocks, mrkdwn};
use crate::clock::Clock;
use crate::domain::{PrRef, RepoName};
use crate::store::{NewDelivery, Store, StoreError};
use crate::workflow::intake::Intent;
use crate::workflow::pr::PrFlow;
use crate::workflow::pr::start::{Requested, Requester, ReviewRequest, request_review};
use crate::workflow::{Engine, Flow, Wakers};

/// A click could not be saved. The envelope is then not acked, so Slack marks the button as failed
/// and the user can click again, rather than the click being lost silently.
#[derive(Debug, thiserror::Error)]
#[error("cannot save the click: {0}")]
pub struct Unsaved(#[from] StoreError);

pub struct FrontDoor {
    store: Store,
    clock: Clock,
    engine: Engine,
    repos: Vec<RepoName>,
    wakers: Arc<Wakers>,
}

/// What a slash command is about, as Slack delivered it.
pub struct CommandCall<'a> {
    pub command: &'a str,
    pub text: &'a str,
    pub user: &'a str,
    pub trigger: &'a str,
    pub channel: &'a str,
    /// The workspace's domain, for links to messages.
    pub team_domain: Option<&'a str>,
}

impl FrontDoor {
    pub fn new(
        store: Store,
        clock: Clock,
        engine: Engine,
        repos: Vec<RepoName>,
        wakers: Arc<Wakers>,
    ) -> Self {
        Self {
            store,
            clock,
            engine,
            repos,
            wakers,
        }
    }

    /// The answer to a slash command, sent inside the ack. Starting a run touches only the
    /// database.
    pub async fn command(&self, call: &CommandCall<'_>) -> SlackCommandEventResponse {
        let reply = match commands::parse(call.command, call.text, &self.repos) {
            Ok(Command::ReviewHelp) => commands::review_help(),
            Ok(Command::ReleaseHelp) => commands::release_help(&self.repos),
            Ok(Command::Review(pr)) => self.review(call, pr).await,
            Ok(command) => not_built_yet(&command),
            Err(error) => {
                info!(user = call.user, command = call.command, %error, "slash command refused");
                error.to_string()
            }
        };
        SlackCommandEventResponse::new(blocks::text(&reply))
            .with_response_type(SlackMessageResponseType::Ephemeral)
    }

    async fn review(&self, call: &CommandCall<'_>, pr: PrRef) -> String {
        if !self.engine.runs(<PrFlow as Flow>::KIND) {
            return "Reviews need Azure DevOps: an admin sets AZDO_ORGANIZATION, AZDO_PROJECT and AZDO_PAT.".into();
        }
        let name = mrkdwn::escape(&pr.to_string());
        let request = ReviewRequest {
            pr_id: pr.id,
            repo: pr.repo,
            requester: Requester::Slack {
                user: call.user.to_owned(),
                trigger: call.trigger.to_owned(),
            },
        };
        match request_review(&self.engine, &self.store, request).await {
            Ok(Requested::Started(_)) => format!(
                "Reviewing {name}. Follow it on its card in <#{}>.",
                self.engine.channel()
            ),
            Ok(Requested::AlreadyRunning(run)) => match (&run.card_ts, call.team_domain) {
                (Some(ts), Some(domain)) => format!(
                    "A run for {name} is already under way: <https://{domain}.slack.com/archives/{}/p{}|see its card>.",
                    run.channel_id,
                    ts.replace('.', "")
                ),
                _ => format!(
                    "A run for {name} is already under way; its card is in <#{}>.",
                    run.channel_id
                ),
            },
            Ok(Requested::Duplicate) => format!("Already on it: {name}."),
            Err(e) => {
                warn!(error = %e, "cannot start a review");
                "The review could not be started: the bot cannot reach its database. Try again in a minute.".into()
            }
        }
    }

    /// Persists every approval click in `event` as an intent, deduplicated by the click itself,
    /// so a redelivered envelope counts once.
    pub async fn interaction(&self, event: &SlackInteractionEvent) -> Result<(), Unsaved> {
        let SlackInteractionEvent::BlockActions(event) = event else {
            return Ok(());
        };
        let Some(user) = &event.user else {
            return Ok(());
        };
        let channel = event
            .channel
            .as_ref()
            .map(|c| c.id.to_string())
            .or_else(|| match &event.container {
                SlackInteractionActionContainer::Message(m) => {
                    m.channel_id.as_ref().map(ToString::to_string)
                }
                _ => None,
            })
            .unwrap_or_default();
        for action in event.actions.iter().flatten() {
            let Some((approval, option)) =
                actions::parse(&action.action_id.0, action.value.as_deref())
            else {
                continue;
            };
            let intent = Intent::Decide {
                approval,
                option,
                user: user.id.to_string(),
                channel: channel.clone(),
            };
            let delivery = NewDelivery {
                key: format!("slack:action:{}:{}", event.trigger_id, action.action_id),
                source: "slack".into(),
                intent: serde_json::to_value(&intent).ok(),
            };
            if self
                .store
                .insert_delivery(&delivery, self.clock.now())
                .await?
            {
                self.wakers.intake.notify_one();
            } else {
                warn!(key = %delivery.key, "duplicate click delivery ignored");
            }
        }
        Ok(())
    }
}

/// An honest answer for commands whose workflow is not in this build yet.
fn not_built_yet(command: &Command) -> String {
    let what = match command {
        Command::Release(repo) => {
            format!("a release of `{}`", super::mrkdwn::escape(repo.as_str()))
        }
        Command::ReleaseStatus(_) => "the release status".into(),
        Command::ReleaseHistory(_) => "the release history".into(),
        Command::Review(_) | Command::ReviewHelp | Command::ReleaseHelp => "that".into(),
    };
    format!(
        "Understood: {what}. This release-agent build cannot do that yet: the workflow is still being \
         built (see \"Not yet\" in the README). Nothing was started."
    )
}
