//! The release PR: asked for, opened (or the open one reused), shown and asked to merge, then
//! merged at the commit the card showed, with the release frozen just before. A PR that moved
//! since merges nothing and is shown again; one that branch policies hold is not touched (nothing
//! is frozen) until someone retries after they pass.

use super::state::{ReleasePr, ReleaseRun, ReleaseStep};
use super::{
    CREATE_POINT, HELD_POINT, MERGE_POINT, REFRESH_POINT, ReleaseFlow, Step, notes, release_pr_of,
    retry, signoff,
};
use crate::azdo::{CompletionOptions, MergeStrategy, NewPullRequest, PrStatus};
use crate::domain::{Decides, Line, Message, OptionStyle, RepoName};
use crate::store::StoreError;
use crate::workflow::flow::option;
use crate::workflow::merge::{MergeHold, MergeOrder, Merged, merge_once};
use crate::workflow::{ApprovalRequest, Flow, StepContext, StepError, Transition};

impl ReleaseFlow {
    pub(super) fn ask_create(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
    ) -> Transition<ReleaseRun> {
        match ctx.decision(CREATE_POINT) {
            None => {
                let request = ApprovalRequest {
                    point: CREATE_POINT.into(),
                    decides: Decides::Release,
                    author: None,
                    deciders: None,
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
    pub(super) async fn create_pr(&self, ctx: &StepContext<'_>, mut run: ReleaseRun) -> Step {
        let repo = self.repo(&run)?;
        self.refresh(ctx, &mut run).await?;
        let new = NewPullRequest {
            source_branch: run.from_branch.clone(),
            target_branch: run.to_branch.clone(),
            title: run.title(),
            description: notes::markdown(&run),
        };
        let pr: ReleasePr = ctx
            .once("release-pr", |_| self.open_pr(&repo, &new))
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

    /// Opens the PR `new`, or reuses the one already open for the same branches (someone's by
    /// hand, or an earlier attempt's whose answer was lost).
    pub(super) async fn open_pr(
        &self,
        repo: &RepoName,
        new: &NewPullRequest,
    ) -> Result<ReleasePr, StepError> {
        let open = self
            .azdo
            .active_pull_requests(repo, &new.target_branch)
            .await?
            .into_iter()
            .find(|pr| pr.source_branch.eq_ignore_ascii_case(&new.source_branch));
        let (pr, reused) = match open {
            Some(pr) => (pr, true),
            None => (self.azdo.create_pull_request(repo, new).await?, false),
        };
        Ok(ReleasePr {
            id: pr.id,
            url: pr.web_url,
            commit: pr.source_commit.unwrap_or_default(),
            reused,
        })
    }

    /// Shows the release PR as it is now and asks to merge it. A PR merged by hand goes on.
    pub(super) async fn ask_merge(&self, ctx: &StepContext<'_>, mut run: ReleaseRun) -> Step {
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
                        let said = "the release PR was completed in Azure DevOps by hand";
                        run.notes.push(said.into());
                        return Ok(Transition::go(run.at(ReleaseStep::Merge))
                            .settled_in_azure_devops(said));
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
                    decides: Decides::Release,
                    author: None,
                    deciders: None,
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
    pub(super) async fn merge(&self, ctx: &StepContext<'_>, mut run: ReleaseRun) -> Step {
        let repo = self.repo(&run)?;
        let pr = release_pr_of(&run)?;
        let holds = self.azdo.merge_holds(&repo, pr.id).await?;
        if !holds.is_empty() {
            let hold = MergeHold::Policies { holds };
            return Ok(Transition::go(run.at(ReleaseStep::MergeHeld { hold })));
        }
        let run_id = ctx.run_id().to_string();
        // A hotfix ships what its branch holds; a release, what is staged, and what failed
        // releases left, whose Retry goes.
        if run.hotfix.is_none() {
            let store = ctx.store();
            store
                .void_failed_retries(&Self::KIND, repo.as_str(), ctx.run_id(), ctx.now())
                .await?;
            let shipping = store
                .ship(
                    repo.as_str(),
                    &run_id,
                    run.chosen.as_ref().map(|c| c.version),
                    ctx.now(),
                )
                .await
                .map_err(|e| match e {
                    StoreError::NotFound(what) => StepError::permanent(what),
                    other => other.into(),
                })?;
            run.take(&shipping.release);
        }
        run.frozen = true;
        // A release PR is merged, never squashed: main and develop keep one history, and the
        // source branch (develop) is never deleted.
        let options = CompletionOptions {
            strategy: MergeStrategy::NoFastForward,
            delete_source_branch: false,
            merge_commit_message: Some(run.title()),
        };
        let order = MergeOrder {
            repo: &repo,
            pr: pr.id,
            commit: &pr.commit,
            refused_before: run.merges_refused,
            options: &options,
        };
        match merge_once(ctx, self.azdo.as_ref(), &order).await? {
            Merged::Done { commit } => {
                let reply = Message::new([Line::new()
                    .plain(format!("Merged the release PR into {} as ", run.to_branch))
                    .code(crate::workflow::pr::view::short(&commit))]);
                run.merge_commit = Some(commit);
                run.merged_at = Some(ctx.now());
                Ok(Transition::go(run.at(ReleaseStep::Tag)).reply(reply))
            }
            Merged::Stale { message } => {
                self.unfreeze(ctx, &mut run).await?;
                Ok(Transition::go(
                    run.at(ReleaseStep::Stale { reason: message }),
                ))
            }
            Merged::Refused { reason } => {
                self.unfreeze(ctx, &mut run).await?;
                run.merges_refused += 1;
                let reason = format!("Azure DevOps did not merge the release PR: {reason}");
                Ok(Transition::fail_with_retry(
                    run.at(ReleaseStep::AskMerge),
                    reason,
                    retry("Fix the release PR in Azure DevOps, then ask to merge it again?"),
                ))
            }
        }
    }

    /// Puts the release back into staging because its merge did not happen (a hotfix was never
    /// taken out of it).
    async fn unfreeze(&self, ctx: &StepContext<'_>, run: &mut ReleaseRun) -> Result<(), StepError> {
        if run.hotfix.is_none() {
            let run_id = ctx.run_id().to_string();
            ctx.store()
                .unship(run.repo.as_str(), &run_id, ctx.now())
                .await?;
        }
        run.frozen = false;
        Ok(())
    }

    /// Waits while branch policies hold the release PR (nothing is frozen yet), looking again
    /// every poll: the list stays current, and a PR completed or abandoned in Azure DevOps goes on
    /// without a click.
    pub(super) async fn merge_held(
        &self,
        ctx: &StepContext<'_>,
        run: ReleaseRun,
        hold: MergeHold,
    ) -> Step {
        match ctx.decision(HELD_POINT) {
            Some(d) if d.option.as_str() == "retry" => {
                return Ok(Transition::go(run.at(ReleaseStep::Merge)));
            }
            Some(_) => {
                return Ok(Transition::cancel(
                    run,
                    "the release was cancelled before its merge; the release PR stays open",
                ));
            }
            None => {}
        }
        let repo = self.repo(&run)?;
        let pr = release_pr_of(&run)?;
        match self.azdo.pull_request(pr.id).await?.status {
            PrStatus::Completed => {
                let said = "the release PR was completed in Azure DevOps by hand";
                return Ok(Transition::go(run.at(ReleaseStep::Merge)).settled_in_azure_devops(said));
            }
            PrStatus::Abandoned => {
                return Ok(Transition::cancel(
                    run,
                    "the release PR was abandoned in Azure DevOps",
                ));
            }
            _ => {}
        }
        let hold = match hold {
            MergeHold::Policies { .. } => MergeHold::Policies {
                holds: self.azdo.merge_holds(&repo, pr.id).await?,
            },
            other => other,
        };
        let request = ApprovalRequest {
            point: HELD_POINT.into(),
            decides: Decides::Release,
            author: None,
            deciders: None,
            prompt: format!(
                "Branch policies hold the release PR of {} back. Retry the merge when they pass?",
                run.name()
            ),
            options: vec![
                option("retry", "Retry merge", OptionStyle::Primary),
                option("cancel", "Cancel", OptionStyle::Plain),
            ],
        };
        Ok(Transition::wait_rechecking(
            run.at(ReleaseStep::MergeHeld { hold }),
            request,
            self.settings.poll_interval,
        ))
    }

    pub(super) fn stale(
        &self,
        ctx: &StepContext<'_>,
        run: ReleaseRun,
        reason: &str,
    ) -> Transition<ReleaseRun> {
        match ctx.decision(REFRESH_POINT) {
            None => {
                let request = ApprovalRequest {
                    point: REFRESH_POINT.into(),
                    decides: Decides::Release,
                    author: None,
                    deciders: None,
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
