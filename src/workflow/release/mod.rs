//! The release workflow: a repository's staging release to production. Every box is a
//! checkpointed step.
//!
//! ```text
//!  load ──► ask create ⏸ ──► create PR ──► ask merge ⏸ ──► merge ──────────────┬─ PR moved ──► stale ⏸ ──► ask merge
//!  (staging,                 (or reuse     (shows the     (freeze the release, │
//!   Jira)                     the open one) PR's commit)   lastMergeSourceCommit)▼
//!  tag (the merge commit, as tag_format) ──► Jira fix versions ──► queue build ──► watch build ─┬─ failed ──► failed, [Retry] ──► queue build
//!  (or adopt the                ▼
//!   CI trigger's)        find CD release ──► stages ─┬─ waits for people ──► ask stage ⏸ ─┬─ approve ──► approve stage ──┐
//!                        (poll)              (poll)  │                                     └─ skip ─────────────────────┤
//!                                              ▲     ├─ after a skipped stage ──► start stage ─────────────────────────┤
//!                                              └─────┼───────────────────────────────────────────────────────────────────┘
//!                                                    ├─ rejected or failed ──► failed, [Retry]
//!                                                    ├─ YAML stage failed ──► failed, [Retry <stage>] ──► retry stage ──► stages
//!                                                    └─ all deployed ──► Jira (released) ──► notes ──► archive ─┐
//!                                                                                                              │
//!  back-merge? ─┬─ main lacks nothing in develop ─────────────────────────────────────────────► finished ◄─────┘
//!  (git)        └─ it holds commits develop lacks ──► ask back-merge ⏸ ─┬─ open ──► open PR, start its review ──► finished
//!                                                                      └─ not now ──► finished
//! ```
//!
//! The release is frozen just before the merge (`Store::ship`): what is staged then is what
//! ships, and PRs merged from then on open the next version. Effects are journaled: the release
//! PR (`release-pr`), the merge (`merge:{commit}`), the tag (`tag:{name}`), the Jira versions and
//! fix versions (`fix_versions.rs`), the build, each Azure DevOps approval
//! (`approve:{id}`, `reject:{id}`), each stage retry (`retry-stage:{run}:{stage}:{n}`); the
//! archive is an idempotent move.
//!
//! A hotfix (`hotfix.rs`) is a release whose PRs are those merged into its own branch, made off
//! the release branch; it ships like any release. A rollback (`rollback.rs`) is a run of this
//! flow too: it deploys an archived release's stages
//! again through the same approval loop, and records itself beside the archive.
//!
//! A file per stage: this one loads what ships; `release_pr.rs` opens and merges the release PR;
//! `tag.rs` tags its merge commit; `fix_versions.rs` sets the Jira fix versions; `build.rs` follows CI and finds the CD release or YAML run; `deploy.rs` is the approval loop,
//! `cd_reads.rs` what it reads and `stage_effects.rs` what it does in Azure DevOps; `finish.rs`
//! moves the tickets, posts the notes and archives; `back_merge.rs` offers the back-merge PR.

pub mod audit;
mod back_merge;
mod build;
mod cd_reads;
mod deploy;
mod finish;
mod fix_versions;
pub mod gates;
mod hotfix;
pub mod notes;
mod questions;
use questions::StageQuestion;
mod release_pr;
pub mod report;
mod rollback;
mod settings;
mod stage_effects;
use stage_effects::StageVerdict;
pub mod start;
pub mod state;
mod tag;
pub mod view;

use std::sync::Arc;

use async_trait::async_trait;

use crate::azdo::AzureDevOps;
use crate::domain::{
    Decides, Decision, OptionStyle, RepoName, ReposConfig, RunKind, TagFormat, Version,
};
use crate::git::Repos;
use crate::store::{StagingRelease, Store};
use crate::workflow::flow::option;
use crate::workflow::pr::PrSettings;
use crate::workflow::tickets::JiraSide;
use crate::workflow::{ApprovalRequest, CardView, Flow, StepContext, StepError, Transition};
use state::{CdRelease, ReleasePr, ReleaseRun, ReleaseStep, Signoff};

pub use settings::ReleaseSettings;

pub const CREATE_POINT: &str = "create-release-pr";
pub const MERGE_POINT: &str = "merge-release-pr";
pub const HELD_POINT: &str = "release-merge-held";
pub const REFRESH_POINT: &str = "refresh";
pub const STAGE_POINT: &str = "stage";
pub const START_POINT: &str = "start-stage";
pub const RETRY_POINT: &str = "retry";
pub const BACK_MERGE_POINT: &str = "back-merge";
pub const REDEPLOY_POINT: &str = "redeploy";
pub const SHIP_POINT: &str = "ship-hotfix";

/// The repository's last version: its last release in the database, or before the first one,
/// the highest tag in its `tag_format` on `branch`.
pub async fn last_version(
    store: &Store,
    repos: &Repos,
    repo: &RepoName,
    branch: &str,
    format: &TagFormat,
) -> Result<Option<Version>, StepError> {
    if let Some(last) = store.last_version(repo.as_str()).await? {
        return Ok(Some(last));
    }
    Ok(repos.highest_tag(repo, branch, format).await?)
}

/// What the release workflow talks to.
pub struct ReleaseFlow {
    pub azdo: Arc<dyn AzureDevOps>,
    pub jira: Option<JiraSide>,
    /// The clones, for version tags.
    pub repos: Arc<Repos>,
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

    /// The branch `repo` releases to (main).
    fn release_branch(&self, repo: &RepoName) -> String {
        self.repos_config
            .for_repo(repo)
            .release_branch
            .unwrap_or_else(|| self.settings.branch.clone())
    }

    /// The branch PRs of `repo` target (develop), which releases ship from.
    fn target_branch(&self, repo: &RepoName) -> String {
        self.repos_config
            .for_repo(repo)
            .target_branch
            .unwrap_or_else(|| self.pr.target_branch.clone())
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
        let (earlier, ours) = (
            left.release.version,
            left.run_id == ctx.run_id().to_string(),
        );
        let tagged = left.tagged;
        let release = left.carried(staged);
        let mut note = format!(
            "{} {earlier} was merged into {} by an earlier release that did not finish; this \
             release ships it",
            release.repo, run.to_branch
        );
        if tagged {
            let tag = self
                .repos_config
                .for_repo(&run.repo)
                .tag_format
                .name(earlier);
            let version = release.version;
            note.push_str(&format!(
                " as {version}, because {tag} names that release's merge commit"
            ));
        }
        if !ours && !run.notes.contains(&note) {
            run.notes.push(note);
        }
        Ok(Some(release))
    }

    /// Takes what would ship now into the run, with the tickets' Jira summaries: the staging
    /// release, or for a hotfix the PRs merged into its branch.
    async fn refresh(
        &self,
        ctx: &StepContext<'_>,
        run: &mut ReleaseRun,
    ) -> Result<bool, StepError> {
        if run.hotfix.is_some() {
            let found = self.hotfix_prs(run).await?;
            self.describe(run).await?;
            return Ok(found);
        }
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
        if run.rollback.is_some() {
            run.repo = repo;
            return Ok(Transition::go(run.at(ReleaseStep::NextRedeploy)));
        }
        if run.hotfix.is_some() {
            return self.load_hotfix(ctx, run, repo).await;
        }
        let settings = self.repos_config.for_repo(&repo);
        run.repo = repo.clone();
        run.from_branch = self.target_branch(&repo);
        run.to_branch = self.release_branch(&repo);
        if !self.refresh(ctx, &mut run).await? {
            let reason =
                format!("nothing is staged for {repo}: no PR was merged since its last release");
            return Ok(Transition::cancel(run, reason));
        }
        let format = settings.tag_format;
        let last = match &run.chosen {
            Some(_) => {
                last_version(ctx.store(), &self.repos, &repo, &run.to_branch, &format).await?
            }
            None => None,
        };
        if let (Some(chosen), Some(last)) = (&run.chosen, last)
            && chosen.version <= last
        {
            let reason = format!(
                "{} is not above {repo}'s last version, {last}; ask again with a higher one",
                chosen.version
            );
            return Ok(Transition::cancel(run, reason));
        }
        Ok(Transition::go(run.at(ReleaseStep::AskCreate)))
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
            ReleaseStep::MergeHeld { hold } => self.merge_held(ctx, run, hold).await,
            ReleaseStep::Stale { reason } => Ok(self.stale(ctx, run, &reason)),
            ReleaseStep::Tag => self.tag(ctx, run).await,
            ReleaseStep::FixVersions => self.set_fix_versions(ctx, run).await,
            ReleaseStep::QueueBuild => self.queue_build(ctx, run).await,
            ReleaseStep::WatchBuild { since } => self.watch_build(ctx, run, since).await,
            ReleaseStep::FindCd { since } => self.find_cd(ctx, run, since).await,
            ReleaseStep::Stages { since } => self.stages(ctx, run, since).await,
            ReleaseStep::AskStage {
                stage,
                approvals,
                post_deploy,
                required,
            } => {
                let question = StageQuestion {
                    stage,
                    approvals,
                    post_deploy,
                    required,
                };
                self.ask_stage(ctx, run, question).await
            }
            ReleaseStep::ApproveStage {
                stage,
                approvals,
                by,
            } => {
                let verdict = StageVerdict::Approve;
                self.decide_stage(ctx, run, &stage, &approvals, &by, verdict)
                    .await
            }
            ReleaseStep::RejectStage {
                stage,
                approvals,
                by,
            } => {
                let verdict = StageVerdict::Reject;
                self.decide_stage(ctx, run, &stage, &approvals, &by, verdict)
                    .await
            }
            ReleaseStep::AskStart { stage, stage_id } => {
                self.ask_start(ctx, run, stage, stage_id).await
            }
            ReleaseStep::StartStage { stage, stage_id } => {
                self.start_stage(ctx, run, &stage, stage_id).await
            }
            ReleaseStep::RetryStage {
                stage,
                ref_name,
                attempt,
            } => self.retry_stage(ctx, run, &stage, &ref_name, attempt).await,
            ReleaseStep::Jira => self.released_jira(ctx, run).await,
            ReleaseStep::Notes => Ok(self.notes(ctx, run)),
            ReleaseStep::Archive => self.archive(ctx, run).await,
            ReleaseStep::HotfixBranch => self.hotfix_branch(ctx, run).await,
            ReleaseStep::AskShip => self.ask_ship(ctx, run).await,
            ReleaseStep::NextRedeploy => self.next_redeploy(run).await,
            ReleaseStep::AskRedeploy { stage, stage_id } => {
                self.ask_redeploy(ctx, run, stage, stage_id)
            }
            ReleaseStep::Redeploy {
                stage,
                stage_id,
                by,
            } => self.redeploy(ctx, run, &stage, stage_id, &by).await,
            ReleaseStep::RecordRollback => self.record_rollback(ctx, run).await,
            ReleaseStep::BackMerge => self.check_back_merge(run).await,
            ReleaseStep::AskBackMerge => Ok(self.ask_back_merge(ctx, run)),
            ReleaseStep::OpenBackMerge { by } => self.open_back_merge(ctx, run, &by).await,
            ReleaseStep::Finished => Ok(Transition::done(run)),
        }
    }

    fn card(&self, run: &ReleaseRun) -> CardView {
        let link = |id: i64| self.azdo.pull_request_link(&run.repo, id);
        view::card(run, &link)
    }

    /// A release stopped by an error (a service away for longer than the retries, a permission
    /// missing) goes on from where it stopped once the cause is fixed.
    fn retry_on_error(&self, _run: &ReleaseRun) -> Option<ApprovalRequest> {
        Some(retry("Fix what stopped the release, then retry its step?"))
    }
}

fn release_pr_of(run: &ReleaseRun) -> Result<ReleasePr, StepError> {
    run.release_pr
        .clone()
        .ok_or_else(|| StepError::permanent("the run lost track of its release PR"))
}

fn cd_of(run: &ReleaseRun) -> Result<CdRelease, StepError> {
    run.cd
        .clone()
        .ok_or_else(|| StepError::permanent("the run lost track of its CD release"))
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
        decides: Decides::Release,
        author: None,
        deciders: None,
        prompt: prompt.into(),
        options: vec![option("retry", "Retry", OptionStyle::Primary)],
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_option_name_of_the_flow_is_valid() {
        for name in [
            "create", "cancel", "merge", "refresh", "retry", "approve", "skip", "reject", "open",
            "later", "stop", "ship",
        ] {
            assert!(crate::domain::OptionName::parse(name).is_some(), "{name}");
        }
    }
}
