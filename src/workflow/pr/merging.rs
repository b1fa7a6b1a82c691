//! Merging an approved PR under the repository's branch policies. The card asks; the policies
//! are read before completing, so a held PR is never PATCHed; a refusal shows Azure DevOps' own
//! message with Retry; auto-complete hands the merge to Azure DevOps and is watched until done.
//!
//! Only a merge that happened is remembered (`pr:{repo}:{id}:merged`): on every other path the
//! PR stays open to the poller and the webhook, which stage a merge done later by a person.

use super::state::{MergeHold, PrInfo, PrRun, PrStep};
use super::view::short;
use super::{PrFlow, Step, pr_of, remember};
use crate::azdo::{CompletionOptions, MergeStrategy, PrStatus, PullRequest};
use crate::domain::{Decides, Line, Message, OptionStyle, RepoName};
use crate::workflow::flow::option;
use crate::workflow::merge::{MergeOrder, Merged, merge_once};
use crate::workflow::{ApprovalRequest, StepContext, StepError, Transition};

pub const MERGE_POINT: &str = "merge";
pub const HELD_POINT: &str = "merge-held";
pub const REREVIEW_POINT: &str = "re-review";

impl PrFlow {
    pub(super) fn ask_merge(&self, ctx: &StepContext<'_>, run: PrRun) -> Transition<PrRun> {
        let Some(pr) = run.pr.clone() else {
            return Transition::cancel(run, "the run lost track of its PR");
        };
        match ctx
            .decision(MERGE_POINT)
            .map(|d| d.option.as_str().to_owned())
        {
            None => {
                let confirm = format!(
                    "Complete {}#{} into {} in Azure DevOps?",
                    pr.repo, pr.id, pr.target_branch
                );
                let mut options = vec![
                    option("merge", "Merge", OptionStyle::Confirmed { confirm }),
                    option("cancel", "Cancel", OptionStyle::Plain),
                ];
                if run.ticket_failed.is_some() {
                    options.push(option("retry-ticket", "Retry ticket", OptionStyle::Plain));
                }
                let request = merge_request(
                    &pr,
                    MERGE_POINT,
                    format!("Merge {}#{} into {}?", pr.repo, pr.id, pr.target_branch),
                    options,
                );
                Transition::wait(run.at(PrStep::AskMerge), request)
            }
            Some(choice) if choice == "merge" => Transition::go(run.at(PrStep::Merge)),
            Some(choice) if choice == "retry-ticket" => Transition::go(run.at(PrStep::RetryTicket)),
            Some(_) => Transition::cancel(run, "the merge was cancelled"),
        }
    }

    /// Completes the PR at the reviewed commit, unless a blocking policy holds it back. A PR
    /// that moved since is not merged; the run asks whether to review it again.
    pub(super) async fn merge(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let pr = pr_of(&run)?;
        let holds = self.azdo.merge_holds(&pr.repo, pr.id).await?;
        if !holds.is_empty() {
            return self
                .held(ctx, run, MergeHold::Policies { holds }, None)
                .await;
        }
        let options = self.completion(&pr);
        let order = MergeOrder {
            repo: &pr.repo,
            pr: pr.id,
            commit: &pr.commit,
            refused_before: run.merges_refused,
            options: &options,
        };
        match merge_once(ctx, self.azdo.as_ref(), &order).await? {
            Merged::Done { commit } => self.merged(ctx, run, &pr, commit, "Merged into ").await,
            Merged::Stale { message } => {
                Ok(Transition::go(run.at(PrStep::Stale { reason: message })))
            }
            Merged::Refused { reason } => {
                run.merges_refused += 1;
                let hold = MergeHold::Refused { message: reason };
                self.held(ctx, run, hold, None).await
            }
        }
    }

    /// Waits for a choice about a merge Azure DevOps held back. Meanwhile it looks again every
    /// poll: a PR completed there (by a person, say) is merged, one that moved asks for a
    /// re-review, and the policies shown stay current.
    pub(super) async fn held(
        &self,
        ctx: &StepContext<'_>,
        run: PrRun,
        hold: MergeHold,
        recheck: Option<&PullRequest>,
    ) -> Step {
        let pr = pr_of(&run)?;
        match ctx
            .decision(HELD_POINT)
            .map(|d| d.option.as_str().to_owned())
        {
            Some(choice) if choice == "retry" => return Ok(Transition::go(run.at(PrStep::Merge))),
            Some(choice) if choice == "auto-complete" => {
                return Ok(Transition::go(run.at(PrStep::AutoComplete)));
            }
            Some(_) => return Ok(Transition::cancel(run, "the merge was cancelled")),
            None => {}
        }
        let mut hold = hold;
        if let Some(now) = recheck {
            if let Some(next) = self.settled_elsewhere(ctx, &run, &pr, now).await? {
                return Ok(next);
            }
            if let MergeHold::Policies { .. } = hold {
                let holds = self.azdo.merge_holds(&pr.repo, pr.id).await?;
                hold = MergeHold::Policies { holds };
            }
        }
        let mut options = vec![option("retry", "Retry merge", OptionStyle::Primary)];
        if !matches!(hold, MergeHold::Refused { .. }) {
            options.push(option("auto-complete", "Auto-complete", OptionStyle::Plain));
        }
        options.push(option("cancel", "Cancel", OptionStyle::Plain));
        let prompt = match &hold {
            MergeHold::Policies { holds } if holds.is_empty() => {
                "The branch policies pass now. Retry the merge?".to_owned()
            }
            MergeHold::Policies { .. } => format!(
                "Branch policies hold {}#{} back. Retry the merge when they pass, or let Azure \
                 DevOps complete it when they do (auto-complete)?",
                pr.repo, pr.id
            ),
            MergeHold::Refused { .. } => "Azure DevOps refused the merge. Retry it?".to_owned(),
            MergeHold::AutoCompleteCleared => {
                "Auto-complete was cleared in Azure DevOps. Merge another way?".to_owned()
            }
        };
        let request = merge_request(&pr, HELD_POINT, prompt, options);
        Ok(Transition::wait_rechecking(
            run.at(PrStep::MergeHeld { hold }),
            request,
            self.settings.ci_poll_interval,
        ))
    }

    /// The held step, run again: with a decision, or to look at the PR once more.
    pub(super) async fn recheck_held(
        &self,
        ctx: &StepContext<'_>,
        run: PrRun,
        hold: MergeHold,
    ) -> Step {
        let now = match ctx.decision(HELD_POINT) {
            Some(_) => None,
            None => Some(self.azdo.pull_request(run.pr_id).await?),
        };
        self.held(ctx, run, hold, now.as_ref()).await
    }

    /// Hands the merge to Azure DevOps' auto-complete, with the same completion options.
    pub(super) async fn auto_complete(&self, ctx: &StepContext<'_>, run: PrRun) -> Step {
        let pr = pr_of(&run)?;
        let options = self.completion(&pr);
        let name = format!("auto-complete:{}:{}", pr.commit, run.merges_refused);
        ctx.once(&name, |attempt| async move {
            // An earlier attempt may have set it before the bot died.
            if attempt.is_retry() && self.azdo.pull_request(pr.id).await?.auto_complete {
                return Ok(());
            }
            Ok::<_, StepError>(
                self.azdo
                    .set_auto_complete(&pr.repo, pr.id, &options)
                    .await?,
            )
        })
        .await?;
        let reply = Message::new([Line::new().plain(
            "Auto-complete is set in Azure DevOps: it completes the PR when its policies pass. \
             The bot watches, and clears it if the PR moves first.",
        )]);
        Ok(Transition::go(run.at(PrStep::WatchAutoComplete)).reply(reply))
    }

    /// Watches a PR with auto-complete until Azure DevOps completes it. A push first clears the
    /// auto-complete and asks for a re-review; auto-complete cleared by someone asks again.
    pub(super) async fn watch_auto_complete(&self, ctx: &StepContext<'_>, run: PrRun) -> Step {
        let pr = pr_of(&run)?;
        let now = self.azdo.pull_request(pr.id).await?;
        if now.status == PrStatus::Active
            && now.source_commit.as_deref() == Some(pr.commit.as_str())
            && !now.auto_complete
        {
            return self
                .held(ctx, run, MergeHold::AutoCompleteCleared, None)
                .await;
        }
        if let Some(next) = self.settled_elsewhere(ctx, &run, &pr, &now).await? {
            return Ok(next);
        }
        let interval = self.settings.ci_poll_interval;
        let max_polls = u32::try_from(
            self.settings.auto_complete_max_wait.as_secs() / interval.as_secs().max(1),
        )
        .unwrap_or(u32::MAX)
        .max(1);
        Ok(Transition::poll(run, interval, max_polls))
    }

    /// What the PR as Azure DevOps shows it now means for a run that has not merged it: merged
    /// there, abandoned, or moved past the reviewed commit (auto-complete, if set, is cleared).
    async fn settled_elsewhere(
        &self,
        ctx: &StepContext<'_>,
        run: &PrRun,
        pr: &PrInfo,
        now: &PullRequest,
    ) -> Result<Option<Transition<PrRun>>, StepError> {
        Ok(Some(match now.status {
            PrStatus::Completed => {
                let commit = now.merge_commit.clone().unwrap_or_default();
                let next = self
                    .merged(ctx, run.clone(), pr, commit, "Azure DevOps merged it into ")
                    .await?;
                next.settled_in_azure_devops("completed in Azure DevOps")
            }
            PrStatus::Abandoned => Transition::cancel(run.clone(), "the PR was abandoned"),
            _ if now.source_commit.as_deref() != Some(pr.commit.as_str()) => {
                if now.auto_complete {
                    let name = format!("auto-complete-cleared:{}", pr.commit);
                    ctx.once(&name, |_| async {
                        Ok::<_, StepError>(self.azdo.clear_auto_complete(&pr.repo, pr.id).await?)
                    })
                    .await?;
                }
                let moved = now.source_commit.as_deref().map_or("?", short);
                let reason = format!(
                    "the source branch moved to {moved} before the merge; auto-complete, if it \
                     was set, is cleared"
                );
                Transition::go(run.clone().at(PrStep::Stale { reason }))
            }
            _ => return Ok(None),
        }))
    }

    /// The merge happened: it is remembered, so the poller does not stage it a second time.
    async fn merged(
        &self,
        ctx: &StepContext<'_>,
        mut run: PrRun,
        pr: &PrInfo,
        commit: String,
        said: &str,
    ) -> Step {
        remember(ctx, &merged_key(&pr.repo, pr.id)).await?;
        let reply = Message::new([Line::new()
            .plain(said)
            .code(pr.target_branch.clone())
            .plain(" as ")
            .code(short(&commit))]);
        run.merge_commit = Some(commit);
        Ok(Transition::go(run.at(PrStep::MergedJira)).reply(reply))
    }

    pub(super) fn stale(
        &self,
        ctx: &StepContext<'_>,
        run: PrRun,
        reason: &str,
    ) -> Transition<PrRun> {
        match ctx
            .decision(REREVIEW_POINT)
            .map(|d| d.option.as_str().to_owned())
        {
            None => {
                let request = ApprovalRequest {
                    point: REREVIEW_POINT.into(),
                    decides: Decides::Merge,
                    author: run.pr.as_ref().and_then(|pr| pr.author_email.clone()),
                    deciders: None,
                    prompt: "The PR changed after the review and nothing was merged. Review the new version?".into(),
                    options: vec![option("re-review", "Re-review", OptionStyle::Primary), option("cancel", "Cancel", OptionStyle::Plain)],
                };
                Transition::wait(
                    run.at(PrStep::Stale {
                        reason: reason.to_owned(),
                    }),
                    request,
                )
            }
            Some(choice) if choice == "re-review" => Transition::go(run.at(PrStep::Fetch)),
            Some(_) => Transition::cancel(run, "cancelled after the PR changed"),
        }
    }

    /// How the PR merges; a back-merge always with a merge commit (a squash would leave the
    /// release branch's commits unknown to git, and the next release PR would hold them twice),
    /// and never deleting its source, the release branch.
    fn completion(&self, pr: &PrInfo) -> CompletionOptions {
        let back_merge = self.is_back_merge(pr);
        CompletionOptions {
            strategy: if back_merge {
                MergeStrategy::NoFastForward
            } else {
                self.settings.merge_strategy
            },
            delete_source_branch: self.settings.delete_source_branch && !back_merge,
            merge_commit_message: Some(format!("Merged PR {}: {}", pr.id, pr.title)),
        }
    }
}

/// A question about merging `pr`, decided under the merge policy (the author does not decide
/// alone).
fn merge_request(
    pr: &PrInfo,
    point: &str,
    prompt: String,
    options: Vec<crate::domain::ApprovalOption>,
) -> ApprovalRequest {
    ApprovalRequest {
        point: point.into(),
        decides: Decides::Merge,
        author: pr.author_email.clone(),
        deciders: None,
        prompt,
        options,
    }
}

/// The dedupe key of a PR's merge, shared with the poller.
pub(super) fn merged_key(repo: &RepoName, pr: u32) -> String {
    format!("pr:{repo}:{pr}:merged")
}
