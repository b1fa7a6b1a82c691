//! The release workflow: a repository's staging release to production. Every box is a
//! checkpointed step.
//!
//! ```text
//!  load ──► ask create ⏸ ──► create PR ──► ask merge ⏸ ──► merge ──────────────┬─ PR moved ──► stale ⏸ ──► ask merge
//!  (staging,                 (or reuse     (shows the     (freeze the release, │
//!   Jira)                     the open one) PR's commit)   lastMergeSourceCommit)▼
//!  queue build ──► watch build ─┬─ failed ──► failed, [Retry] ──► queue build
//!  (or adopt the                ▼
//!   CI trigger's)        find CD release ──► stages ─┬─ waits for people ──► ask stage ⏸ ─┬─ approve ──► approve stage ──┐
//!                        (poll)              (poll)  │                                     └─ skip ─────────────────────┤
//!                                              ▲     ├─ after a skipped stage ──► start stage ─────────────────────────┤
//!                                              └─────┼───────────────────────────────────────────────────────────────────┘
//!                                                    ├─ rejected or failed ──► failed, [Retry]
//!                                                    └─ all deployed ──► Jira (released) ──► notes ──► archive ──► finished
//! ```
//!
//! The release is frozen just before the merge (`Store::ship`): what is staged then is what
//! ships, and PRs merged from then on open the next version. Effects are journaled: the release
//! PR (`release-pr`), the merge (`merge:{commit}`), the build, each Azure DevOps approval
//! (`approve:{id}`); the archive is an idempotent move.

mod deploy;
pub mod gates;
pub mod notes;
pub mod report;
mod settings;
pub mod start;
pub mod state;
pub mod view;

use std::sync::Arc;

use async_trait::async_trait;

use crate::azdo::{AzureDevOps, CompletionOptions, MergeStrategy, NewPullRequest, PrStatus};
use crate::domain::{Decision, Line, Message, OptionStyle, RepoName, ReposConfig, RunKind};
use crate::store::{StagingRelease, StoreError};
use crate::workflow::flow::option;
use crate::workflow::merge::{Merged, merge_once};
use crate::workflow::pr::PrSettings;
use crate::workflow::tickets::JiraSide;
use crate::workflow::{ApprovalRequest, CardView, Flow, StepContext, StepError, Transition};
use state::{ReleasePr, ReleaseRun, ReleaseStep, Signoff};

pub use settings::ReleaseSettings;

pub const CREATE_POINT: &str = "create-release-pr";
pub const MERGE_POINT: &str = "merge-release-pr";
pub const REFRESH_POINT: &str = "refresh";
pub const STAGE_POINT: &str = "stage";
pub const RETRY_POINT: &str = "retry";

/// What the release workflow talks to.
pub struct ReleaseFlow {
    pub azdo: Arc<dyn AzureDevOps>,
    pub jira: Option<JiraSide>,
    pub pr: PrSettings,
    pub settings: ReleaseSettings,
    pub repos_config: ReposConfig,
    pub known_repos: Vec<RepoName>,
}

type Step = Result<Transition<ReleaseRun>, StepError>;

impl ReleaseFlow {
    fn repo(&self, run: &ReleaseRun) -> Result<RepoName, StepError> {
        self.known_repos
            .iter()
            .find(|r| r.same_as(run.repo.as_str()))
            .cloned()
            .ok_or_else(|| {
                StepError::permanent(format!(
                    "{} is not a repository this bot works with; add it to WATCHED_REPOS",
                    run.repo
                ))
            })
    }

    /// What would ship now: the staging release, with a release an earlier run left shipping
    /// (it stopped after its merge) counted in.
    async fn current(
        &self,
        ctx: &StepContext<'_>,
        run: &mut ReleaseRun,
    ) -> Result<Option<StagingRelease>, StepError> {
        let store = ctx.store();
        let staged = store.staging(run.repo.as_str()).await?;
        let Some(left) = store.shipping(run.repo.as_str()).await? else {
            return Ok(staged);
        };
        let note = format!(
            "{} {} was merged into {} by an earlier release that did not finish; this release ships it",
            left.release.repo, left.release.version, run.to_branch
        );
        if left.run_id != ctx.run_id().to_string() && !run.notes.contains(&note) {
            run.notes.push(note);
        }
        Ok(Some(match staged {
            Some(staged) => left.release.absorb(staged),
            None => left.release,
        }))
    }

    /// Takes what would ship now into the run, with the tickets' Jira summaries.
    async fn refresh(
        &self,
        ctx: &StepContext<'_>,
        run: &mut ReleaseRun,
    ) -> Result<bool, StepError> {
        let Some(release) = self.current(ctx, run).await? else {
            return Ok(false);
        };
        run.take(&release);
        self.describe(run).await?;
        Ok(true)
    }

    async fn describe(&self, run: &mut ReleaseRun) -> Result<(), StepError> {
        if let Some(jira) = &self.jira {
            run.tickets = jira
                .describe(std::mem::take(&mut run.tickets), &mut run.notes)
                .await?;
        }
        Ok(())
    }

    async fn load(&self, ctx: &StepContext<'_>, mut run: ReleaseRun) -> Step {
        let repo = self.repo(&run)?;
        let settings = self.repos_config.for_repo(&repo);
        run.repo = repo.clone();
        run.from_branch = settings
            .target_branch
            .unwrap_or_else(|| self.pr.target_branch.clone());
        run.to_branch = settings
            .release_branch
            .unwrap_or_else(|| self.settings.branch.clone());
        if !self.refresh(ctx, &mut run).await? {
            let reason =
                format!("nothing is staged for {repo}: no PR was merged since its last release");
            return Ok(Transition::cancel(run, reason));
        }
        Ok(Transition::go(run.at(ReleaseStep::AskCreate)))
    }

    fn ask_create(&self, ctx: &StepContext<'_>, mut run: ReleaseRun) -> Transition<ReleaseRun> {
        match ctx.decision(CREATE_POINT) {
            None => {
                let request = ApprovalRequest {
                    point: CREATE_POINT.into(),
                    prompt: format!(
                        "Create the release PR {} → {} for {}?",
                        run.from_branch,
                        run.to_branch,
                        run.name()
                    ),
                    options: vec![
                        option("create", "Create release PR", OptionStyle::Primary),
                        option("cancel", "Cancel", OptionStyle::Plain),
                    ],
                };
                Transition::wait(run.at(ReleaseStep::AskCreate), request)
            }
            Some(d) if d.option.as_str() == "create" => {
                run.signoffs.push(signoff(d, "release PR requested"));
                Transition::go(run.at(ReleaseStep::CreatePr))
            }
            Some(_) => Transition::cancel(run, "the release was cancelled"),
        }
    }

    /// Opens the release PR, or reuses the one already open for the same branches.
    async fn create_pr(&self, ctx: &StepContext<'_>, mut run: ReleaseRun) -> Step {
        let repo = self.repo(&run)?;
        self.refresh(ctx, &mut run).await?;
        let new = NewPullRequest {
            source_branch: run.from_branch.clone(),
            target_branch: run.to_branch.clone(),
            title: format!("Release {}", run.name()),
            description: notes::markdown(&run),
        };
        let pr: ReleasePr = ctx
            .once("release-pr", |_| async {
                let open = self
                    .azdo
                    .active_pull_requests(&repo, &new.target_branch)
                    .await?
                    .into_iter()
                    .find(|pr| pr.source_branch.eq_ignore_ascii_case(&new.source_branch));
                let (pr, reused) = match open {
                    Some(pr) => (pr, true),
                    None => (self.azdo.create_pull_request(&repo, &new).await?, false),
                };
                Ok::<_, StepError>(ReleasePr {
                    id: pr.id,
                    url: pr.web_url,
                    commit: pr.source_commit.unwrap_or_default(),
                    reused,
                })
            })
            .await?;
        let verb = if pr.reused {
            "was already open; the bot reuses it"
        } else {
            "created"
        };
        let reply = Message::new([Line::new()
            .plain("Release PR ")
            .link(pr.url.clone(), format!("PR {}", pr.id))
            .plain(format!(" {verb}."))]);
        run.release_pr = Some(pr);
        Ok(Transition::go(run.at(ReleaseStep::AskMerge)).reply(reply))
    }

    /// Shows the release PR as it is now and asks to merge it. A PR merged by hand goes on.
    async fn ask_merge(&self, ctx: &StepContext<'_>, mut run: ReleaseRun) -> Step {
        let mut pr = release_pr_of(&run)?;
        match ctx.decision(MERGE_POINT) {
            None => {
                let current = self.azdo.pull_request(pr.id).await?;
                match current.status {
                    PrStatus::Abandoned => {
                        return Ok(Transition::cancel(
                            run,
                            "the release PR was abandoned in Azure DevOps",
                        ));
                    }
                    PrStatus::Completed => {
                        run.notes
                            .push("the release PR was completed in Azure DevOps by hand".into());
                        return Ok(Transition::go(run.at(ReleaseStep::Merge)));
                    }
                    _ => {}
                }
                pr.commit = current.source_commit.unwrap_or(pr.commit);
                run.release_pr = Some(pr);
                self.refresh(ctx, &mut run).await?;
                let confirm = format!(
                    "Merge {} into {}? This ships {}: CI runs on {}, then each CD stage asks here.",
                    run.from_branch,
                    run.to_branch,
                    run.name(),
                    run.to_branch
                );
                let request = ApprovalRequest {
                    point: MERGE_POINT.into(),
                    prompt: format!("Merge the release PR of {}?", run.name()),
                    options: vec![
                        option(
                            "merge",
                            "Merge release PR",
                            OptionStyle::Confirmed { confirm },
                        ),
                        option("cancel", "Cancel", OptionStyle::Plain),
                    ],
                };
                Ok(Transition::wait(run.at(ReleaseStep::AskMerge), request))
            }
            Some(d) if d.option.as_str() == "merge" => {
                run.signoffs.push(signoff(d, "release PR merged"));
                Ok(Transition::go(run.at(ReleaseStep::Merge)))
            }
            Some(_) => Ok(Transition::cancel(
                run,
                "the release was cancelled before its merge; the release PR stays open",
            )),
        }
    }

    /// Freezes the release, then completes the release PR at the commit the card showed. If the
    /// merge does not happen, the release goes back to staging.
    async fn merge(&self, ctx: &StepContext<'_>, mut run: ReleaseRun) -> Step {
        let repo = self.repo(&run)?;
        let pr = release_pr_of(&run)?;
        let run_id = ctx.run_id().to_string();
        let shipping = ctx
            .store()
            .ship(repo.as_str(), &run_id, ctx.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound(what) => StepError::permanent(what),
                other => other.into(),
            })?;
        run.take(&shipping.release);
        run.frozen = true;
        // A release PR is merged, never squashed: main and develop keep one history, and the
        // source branch (develop) is never deleted.
        let options = CompletionOptions {
            strategy: MergeStrategy::NoFastForward,
            delete_source_branch: false,
            merge_commit_message: Some(format!("Release {}", run.name())),
        };
        match merge_once(ctx, self.azdo.as_ref(), &repo, pr.id, &pr.commit, &options).await? {
            Merged::Done { commit } => {
                let reply = Message::new([Line::new()
                    .plain(format!("Merged the release PR into {} as ", run.to_branch))
                    .code(crate::workflow::pr::view::short(&commit))]);
                run.merge_commit = Some(commit);
                run.merged_at = Some(ctx.now());
                Ok(Transition::go(run.at(ReleaseStep::QueueBuild)).reply(reply))
            }
            Merged::Stale { message } => {
                ctx.store()
                    .unship(repo.as_str(), &run_id, ctx.now())
                    .await?;
                run.frozen = false;
                Ok(Transition::go(
                    run.at(ReleaseStep::Stale { reason: message }),
                ))
            }
            Merged::Refused { reason } => {
                ctx.store()
                    .unship(repo.as_str(), &run_id, ctx.now())
                    .await?;
                run.frozen = false;
                let reason = format!("Azure DevOps did not merge the release PR: {reason}");
                Ok(Transition::fail_with_retry(
                    run.at(ReleaseStep::AskMerge),
                    reason,
                    retry("Fix the release PR in Azure DevOps, then ask to merge it again?"),
                ))
            }
        }
    }

    fn stale(
        &self,
        ctx: &StepContext<'_>,
        run: ReleaseRun,
        reason: &str,
    ) -> Transition<ReleaseRun> {
        match ctx.decision(REFRESH_POINT) {
            None => {
                let request = ApprovalRequest {
                    point: REFRESH_POINT.into(),
                    prompt: "The release PR changed after it was shown, and nothing was merged. Show it again?".into(),
                    options: vec![
                        option("refresh", "Refresh", OptionStyle::Primary),
                        option("cancel", "Cancel", OptionStyle::Plain),
                    ],
                };
                let step = ReleaseStep::Stale {
                    reason: reason.to_owned(),
                };
                Transition::wait(run.at(step), request)
            }
            Some(d) if d.option.as_str() == "refresh" => {
                Transition::go(run.at(ReleaseStep::AskMerge))
            }
            Some(_) => Transition::cancel(run, "cancelled after the release PR changed"),
        }
    }
}

#[async_trait]
impl Flow for ReleaseFlow {
    type State = ReleaseRun;
    const KIND: RunKind = RunKind::RELEASE;

    async fn step(&self, ctx: &StepContext<'_>, run: ReleaseRun) -> Step {
        match run.step.clone() {
            ReleaseStep::Load => self.load(ctx, run).await,
            ReleaseStep::AskCreate => Ok(self.ask_create(ctx, run)),
            ReleaseStep::CreatePr => self.create_pr(ctx, run).await,
            ReleaseStep::AskMerge => self.ask_merge(ctx, run).await,
            ReleaseStep::Merge => self.merge(ctx, run).await,
            ReleaseStep::Stale { reason } => Ok(self.stale(ctx, run, &reason)),
            ReleaseStep::QueueBuild => self.queue_build(ctx, run).await,
            ReleaseStep::WatchBuild { since } => self.watch_build(ctx, run, since).await,
            ReleaseStep::FindCd { since } => self.find_cd(ctx, run, since).await,
            ReleaseStep::Stages { since } => self.stages(ctx, run, since).await,
            ReleaseStep::AskStage {
                stage,
                approvals,
                post_deploy,
            } => {
                self.ask_stage(ctx, run, stage, approvals, post_deploy)
                    .await
            }
            ReleaseStep::ApproveStage {
                stage,
                approvals,
                by,
            } => self.approve_stage(ctx, run, &stage, &approvals, &by).await,
            ReleaseStep::StartStage { stage, stage_id } => {
                self.start_stage(ctx, run, &stage, stage_id).await
            }
            ReleaseStep::Jira => self.released_jira(run).await,
            ReleaseStep::Notes => Ok(self.notes(ctx, run)),
            ReleaseStep::Archive => self.archive(ctx, run).await,
            ReleaseStep::Finished => Ok(Transition::done(run)),
        }
    }

    fn card(&self, run: &ReleaseRun) -> CardView {
        let link = |id: i64| self.azdo.pull_request_link(&run.repo, id);
        view::card(run, &link)
    }
}

fn release_pr_of(run: &ReleaseRun) -> Result<ReleasePr, StepError> {
    run.release_pr
        .clone()
        .ok_or_else(|| StepError::permanent("the run lost track of its release PR"))
}

fn signoff(decision: &Decision, what: impl Into<String>) -> Signoff {
    Signoff {
        what: what.into(),
        by: decision.by.clone(),
        at: decision.at,
    }
}

/// The [Retry] a failed release offers.
fn retry(prompt: &str) -> ApprovalRequest {
    ApprovalRequest {
        point: RETRY_POINT.into(),
        prompt: prompt.into(),
        options: vec![option("retry", "Retry", OptionStyle::Primary)],
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_option_name_of_the_flow_is_valid() {
        for name in [
            "create", "cancel", "merge", "refresh", "retry", "approve", "skip",
        ] {
            assert!(crate::domain::OptionName::parse(name).is_some(), "{name}");
        }
    }
}
