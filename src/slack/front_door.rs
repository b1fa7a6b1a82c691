//! What the Slack handlers do with an envelope, without the Socket Mode or HTTP plumbing: answer
//! slash commands in the ack, and persist review requests as intents for the intake (clicks and
//! mentions: `intents.rs`). Nothing here waits on anything but our own database, so acks leave
//! within milliseconds.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use slack_morphism::prelude::*;
use tracing::{info, warn};

use super::commands::{self, Command};
use super::workspace::Origin;
use super::{blocks, help, mrkdwn};
use crate::clock::Clock;
use crate::domain::{ApprovalId, ApprovalStatus, PrRef, RepoName, RunKind, Version};
use crate::store::{Arrived, NewDelivery, RunRecord, Store, StoreError};
use crate::workflow::freeze;
use crate::workflow::intake::Intent;
use crate::workflow::pr::view::under_way_line;
use crate::workflow::release::audit::{self, NoTrail};
use crate::workflow::release::report::{self, Active};
use crate::workflow::release::start::{Asked, ReleaseRequested, request_release};
use crate::workflow::{Engine, Wakers};

/// A click or a mention could not be saved. The envelope is then not acked, so Slack marks the
/// button as failed (the user is told to click again) or sends the mention again, rather than
/// it being lost silently.
#[derive(Debug, thiserror::Error)]
pub enum Unsaved {
    /// Known before trying: the database has not answered since then.
    #[error("not saved: the database has not answered since {0}")]
    DatabaseDown(DateTime<Utc>),
    #[error("cannot save it: {0}")]
    Store(#[from] StoreError),
}

pub struct FrontDoor {
    pub(super) store: Store,
    pub(super) clock: Clock,
    pub(super) engine: Engine,
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
    /// Where notes after the ack go (`SlackApi::respond` checks it is Slack's).
    pub response_url: Option<&'a str>,
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

    /// The answer to a slash command, sent inside the ack. Nothing here waits on more than the
    /// database.
    pub async fn command(&self, call: &CommandCall<'_>) -> SlackCommandEventResponse {
        let command = commands::parse(call.command, call.text, &self.repos);
        let helps = matches!(
            command,
            Ok(Command::ReviewHelp | Command::ReleaseHelp) | Err(_)
        );
        if let (false, Some(since)) = (helps, self.store.down_since()) {
            info!(
                user = call.user,
                command = call.command,
                "slash command refused: the database is down"
            );
            return answer(&database_down(since));
        }
        let reply = match command {
            Ok(Command::ReviewHelp) => help::review_help(),
            Ok(Command::ReleaseHelp) => help::release_help(&self.repos),
            Ok(Command::Review(pr)) => self.review(call, pr).await,
            Ok(Command::Release(repo, version)) => self.release(call, &repo, version).await,
            Ok(Command::ReleaseStatus(repo)) => self.release_status(call, repo.as_ref()).await,
            Ok(Command::ReleaseHistory(repo)) => self.release_history(&repo).await,
            Ok(Command::ReleaseAudit(repo, version)) => self.release_audit(&repo, version).await,
            Ok(Command::Freeze(repo, reason)) => self.freeze(call, repo, Some(reason)).await,
            Ok(Command::Unfreeze(repo)) => self.freeze(call, repo, None).await,
            Ok(Command::Rollback(repo, version)) => self.rollback(call, &repo, version).await,
            Ok(Command::Hotfix(repo)) => self.hotfix(call, &repo).await,
            Err(error) => {
                info!(user = call.user, command = call.command, %error, "slash command refused");
                error.to_string()
            }
        };
        answer(&reply)
    }

    /// Saves the request as an intent for the intake, which starts the run after the ack. A run
    /// already under way for the PR is answered here; one that another request starts in the
    /// meantime is told to the user by the intake.
    async fn review(&self, call: &CommandCall<'_>, pr: PrRef) -> String {
        if !self.engine.runs(&RunKind::PR) {
            return "Reviews need Azure DevOps: an admin sets AZDO_ORGANIZATION, AZDO_PROJECT and AZDO_PAT.".into();
        }
        let name = pr.to_string();
        let channel = self.engine.channel_for(pr.repo.as_ref()).to_owned();
        let pr_id = i64::from(pr.id);
        let intent = Intent::Review {
            pr_id: pr.id,
            repo: pr.repo,
            user: call.user.to_owned(),
            channel: call.channel.to_owned(),
            team_domain: call.team_domain.map(str::to_owned),
            response_url: call.response_url.map(str::to_owned),
        };
        let delivery = command_delivery(call, &intent);
        let arrived = self
            .store
            .insert_run_request(&delivery, RunKind::PR, pr_id, self.clock.now())
            .await;
        let escaped = mrkdwn::escape(&name);
        match arrived {
            Ok(Arrived::Recorded) => {
                self.wakers.intake.notify_one();
                format!("Reviewing {escaped}. Follow it on its card in <#{channel}>.")
            }
            Ok(Arrived::Duplicate) => format!("Already on it: {escaped}."),
            Ok(Arrived::UnderWay(run)) => {
                let card = card_url(&run, call.team_domain);
                mrkdwn::lines(&[under_way_line(&name, &run, card)])
            }
            Err(e) => {
                warn!(error = %e, "cannot save a review request");
                "The review could not be started: the bot cannot reach its database. Try again in a minute.".into()
            }
        }
    }

    async fn release(
        &self,
        call: &CommandCall<'_>,
        repo: &RepoName,
        version: Option<Version>,
    ) -> String {
        if !self.engine.runs(&RunKind::RELEASE) {
            return "Releases need Azure DevOps: an admin sets AZDO_ORGANIZATION, AZDO_PROJECT and AZDO_PAT.".into();
        }
        let name = mrkdwn::escape(repo.as_str());
        let dedupe = format!("slack:command:{}", call.trigger);
        // Boxed: starting a release is a large future, and held inline it would make every slash
        // command's task that large (18 KiB instead of about 1.8), which under a burst of
        // `/review`s was megabytes of fresh memory to fault in.
        let requested = Box::pin(request_release(
            &self.engine,
            &self.store,
            repo,
            Asked {
                by: call.user,
                via: "slash command",
                at: self.clock.now(),
            },
            version,
            Some(dedupe),
        ));
        match requested.await {
            Ok(ReleaseRequested::Started { version, .. }) => format!(
                "Releasing {name} {version}. Follow it on its card in <#{}>.",
                self.engine.channel_for(Some(repo))
            ),
            Ok(ReleaseRequested::AlreadyRunning(run)) => {
                let card = card_url(&run, call.team_domain);
                mrkdwn::lines(&[report::already_under_way(repo, &run, card)])
            }
            Ok(ReleaseRequested::NothingStaged { last }) => {
                let since = match last {
                    Some(last) => format!(" since {} was released", last.version),
                    None => String::new(),
                };
                format!(
                    "Nothing to release for {name}: no PR was merged into it{since}. PRs count once the bot merges them, or once the poller sees them merged."
                )
            }
            Ok(ReleaseRequested::NotHigher { chosen, last }) => format!(
                "{chosen} is not above the last release of {name}, {last}: choose a higher version, or `/release {name}` for the staged one."
            ),
            Ok(ReleaseRequested::Frozen(freeze)) => mrkdwn::lines(&[freeze::refusal(&freeze)]),
            Ok(ReleaseRequested::Duplicate) => format!("Already on it: the release of {name}."),
            Err(e) => {
                warn!(error = %e, "cannot start a release");
                "The release could not be started: the bot cannot reach its database. Try again in a minute.".into()
            }
        }
    }

    /// Saves a freeze (`reason`) or an unfreeze for the intake, which checks who asked against
    /// the repository's release approvers and answers them.
    async fn freeze(
        &self,
        call: &CommandCall<'_>,
        repo: RepoName,
        reason: Option<String>,
    ) -> String {
        let name = mrkdwn::escape(repo.as_str());
        let verb = if reason.is_some() {
            "Freezing"
        } else {
            "Unfreezing"
        };
        let intent = Intent::Freeze {
            repo,
            reason,
            user: call.user.to_owned(),
            channel: call.channel.to_owned(),
            response_url: call.response_url.map(str::to_owned),
        };
        match self.record(command_delivery(call, &intent)).await {
            Ok(_) => format!("{verb} {name}…"),
            Err(e) => {
                warn!(error = %e, "cannot save a freeze");
                UNREACHABLE_DB.into()
            }
        }
    }

    /// `/release status [repo]`: staging and shipping releases, and the releases under way with
    /// what they wait for.
    async fn release_status(&self, call: &CommandCall<'_>, repo: Option<&RepoName>) -> String {
        let report = async {
            let wanted = |name: &str| repo.is_none_or(|r| r.same_as(name));
            let mut staging = self.store.all_staging().await?;
            staging.retain(|s| wanted(&s.repo));
            let mut shipping = self.store.all_shipping().await?;
            shipping.retain(|s| wanted(&s.release.repo));
            let mut freezes = self.store.freezes().await?;
            freezes.retain(|f| wanted(&f.repo));
            let mut runs = self.store.unfinished_runs(RunKind::RELEASE, None).await?;
            runs.retain(|r| r.repo.as_ref().is_some_and(|r| wanted(r.as_str())));
            let mut pending = Vec::new();
            for run in &runs {
                let approvals = self.store.approvals_for_run(run.id).await?;
                pending.push(
                    approvals
                        .into_iter()
                        .find(|a| a.status == ApprovalStatus::Pending),
                );
            }
            let active: Vec<Active<'_>> = runs
                .iter()
                .zip(&pending)
                .map(|(run, waiting)| Active {
                    run,
                    waiting: waiting.as_ref(),
                    card: card_url(run, call.team_domain),
                })
                .collect();
            Ok::<_, StoreError>(mrkdwn::lines(
                &report::status(&staging, &shipping, &active, &freezes).lines,
            ))
        };
        report.await.unwrap_or_else(|e| {
            warn!(error = %e, "cannot read the release status");
            UNREACHABLE_DB.into()
        })
    }

    /// `/release audit`: who did what in a release. Read from the database only.
    async fn release_audit(&self, repo: &RepoName, version: Option<Version>) -> String {
        match audit::load(&self.store, repo, version).await {
            Ok(trail) => mrkdwn::lines(&audit::message(&trail).lines),
            Err(NoTrail::Store(e)) => {
                warn!(error = %e, "cannot read the audit trail");
                UNREACHABLE_DB.into()
            }
            Err(other) => mrkdwn::escape(&format!("{other}.")),
        }
    }
}

/// An envelope that is not the bot's: from another workspace, organisation or app.
pub struct Stranger<'a> {
    pub envelope_id: &'a str,
    /// What it is, for the audit: "a click", "the command /release".
    pub what: String,
    /// The approval a click was on, which files the audit entry under its run.
    pub approval: Option<ApprovalId>,
    pub origin: &'a Origin,
    /// Why it is not ours.
    pub why: String,
}

impl FrontDoor {
    /// Records an envelope that is not ours, for the intake to audit; nothing else comes of it.
    pub async fn stranger(&self, stranger: Stranger<'_>) -> Result<(), Unsaved> {
        warn!(envelope_id = stranger.envelope_id, why = %stranger.why, "envelope from elsewhere ignored");
        let intent = Intent::Foreign {
            user: stranger.origin.user.clone(),
            detail: format!("{} ignored: {}", stranger.what, stranger.why),
            approval: stranger.approval,
        };
        let key = format!("slack:foreign:{}", stranger.envelope_id);
        self.record(slack_delivery(key, &intent)).await?;
        Ok(())
    }

    /// Saves a delivery for the intake and wakes it; `false`: its key was known (a redelivery).
    /// Known outages fail at once: the pool would wait its whole acquire timeout, past the ack's.
    pub(super) async fn record(&self, delivery: NewDelivery) -> Result<bool, Unsaved> {
        if let Some(since) = self.store.down_since() {
            return Err(Unsaved::DatabaseDown(since));
        }
        let new = self
            .store
            .insert_delivery(&delivery, self.clock.now())
            .await?;
        if new {
            self.wakers.intake.notify_one();
        }
        Ok(new)
    }
}

/// A slash command's intent, keyed by its trigger id so a redelivery is known.
fn command_delivery(call: &CommandCall<'_>, intent: &Intent) -> NewDelivery {
    slack_delivery(format!("slack:command:{}", call.trigger), intent)
}

/// `intent` from Slack, under the dedupe `key` of what carried it.
pub(super) fn slack_delivery(key: String, intent: &Intent) -> NewDelivery {
    NewDelivery {
        key,
        source: "slack".into(),
        intent: serde_json::value::to_raw_value(intent).ok(),
    }
}

pub(super) const UNREACHABLE_DB: &str =
    "The bot cannot reach its database right now. Try again in a minute.";

/// The answer to a command the bot cannot take while its database is down (since `since`).
/// Nothing was saved, and Slack does not send a command again, so the person must.
pub fn database_down(since: DateTime<Utc>) -> String {
    format!(
        ":warning: The bot {}, so this was neither done nor saved. Send it again once the database \
         is back; runs under way go on by themselves then.",
        database_since(since)
    )
}

/// `cannot reach its database (no answer since …)`, for what the bot tells people.
pub fn database_since(since: DateTime<Utc>) -> String {
    format!(
        "cannot reach its database (no answer since {})",
        since.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// A slash command's ephemeral answer, in the ack.
fn answer(text: &str) -> SlackCommandEventResponse {
    SlackCommandEventResponse::new(blocks::text(text))
        .with_response_type(SlackMessageResponseType::Ephemeral)
}

/// A link to a run's card in Slack, when the workspace's domain is known.
pub(super) fn card_url(run: &RunRecord, team_domain: Option<&str>) -> Option<String> {
    super::home::team_card_link(team_domain?, run)
}
