//! The PR workflow after an approving review: merge, Jira, staging and CI.

use super::state::{Outcome, PrRun, PrStep};
use super::view::short;
use super::{PrFlow, Step, pr_of, remember};
use crate::azdo::CompletionOptions;
use crate::domain::{Decides, Line, Message, OptionStyle, RepoName};
use crate::store::StagedPr;
use crate::workflow::ci;
use crate::workflow::flow::option;
use crate::workflow::merge::{Merged, merge_once};
use crate::workflow::{ApprovalRequest, StepContext, StepError, Transition};

pub const MERGE_POINT: &str = "merge";
pub const REREVIEW_POINT: &str = "re-review";
pub const CI_POINT: &str = "ci";

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
                let request = ApprovalRequest {
                    point: MERGE_POINT.into(),
                    decides: Decides::Merge,
                    author: pr.author_email.clone(),
                    deciders: None,
                    prompt: format!("Merge {}#{} into {}?", pr.repo, pr.id, pr.target_branch),
                    options: vec![
                        option("merge", "Merge", OptionStyle::Confirmed { confirm }),
                        option("cancel", "Cancel", OptionStyle::Plain),
                    ],
                };
                Transition::wait(run.at(PrStep::AskMerge), request)
            }
            Some(choice) if choice == "merge" => Transition::go(run.at(PrStep::Merge)),
            Some(_) => Transition::cancel(run, "the merge was cancelled"),
        }
    }

    /// Completes the PR at the reviewed commit. A PR that moved since is not merged; the run asks
    /// whether to review it again.
    pub(super) async fn merge(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let pr = pr_of(&run)?;
        // Claimed before the merge, so the poller never mistakes it for a merge outside the bot.
        remember(ctx, &merged_key(&pr.repo, pr.id)).await?;
        let options = CompletionOptions {
            strategy: self.settings.merge_strategy,
            delete_source_branch: self.settings.delete_source_branch,
            merge_commit_message: Some(format!("Merged PR {}: {}", pr.id, pr.title)),
        };
        let merged = merge_once(
            ctx,
            self.azdo.as_ref(),
            &pr.repo,
            pr.id,
            &pr.commit,
            &options,
        )
        .await?;
        match merged {
            Merged::Done { commit } => {
                let reply = Message::new([Line::new()
                    .plain("Merged into ")
                    .code(pr.target_branch.clone())
                    .plain(" as ")
                    .code(short(&commit))]);
                run.merge_commit = Some(commit);
                Ok(Transition::go(run.at(PrStep::MergedJira)).reply(reply))
            }
            Merged::Stale { message } => {
                Ok(Transition::go(run.at(PrStep::Stale { reason: message })))
            }
            Merged::Refused { reason } => {
                // A human may merge it by hand later; then the poller should stage it.
                ctx.store()
                    .forget_delivery(&merged_key(&pr.repo, pr.id))
                    .await?;
                Ok(Transition::fail(run, reason))
            }
        }
    }

    pub(super) async fn stale(&self, ctx: &StepContext<'_>, run: PrRun, reason: &str) -> Step {
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
                Ok(Transition::wait(
                    run.at(PrStep::Stale {
                        reason: reason.to_owned(),
                    }),
                    request,
                ))
            }
            Some(choice) if choice == "re-review" => Ok(Transition::go(run.at(PrStep::Fetch))),
            Some(_) => {
                // Nothing was merged; a merge by hand later is for the poller to stage.
                let pr = pr_of(&run)?;
                ctx.store()
                    .forget_delivery(&merged_key(&pr.repo, pr.id))
                    .await?;
                Ok(Transition::cancel(run, "cancelled after the PR changed"))
            }
        }
    }

    pub(super) async fn merged_jira(&self, mut run: PrRun) -> Step {
        if let Some(jira) = &self.jira {
            let tickets = run.tickets.clone();
            for ticket in &tickets {
                jira.move_ticket(&ticket.key, &self.settings.status_merged, &mut run.notes)
                    .await?;
            }
        }
        Ok(Transition::go(run.at(PrStep::Stage)))
    }

    /// Counts the merged PR into the repository's staging release.
    pub(super) async fn stage(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let pr = pr_of(&run)?;
        let tickets: Vec<String> = run.tickets.iter().map(|t| t.key.to_string()).collect();
        let staged = ctx
            .store()
            .stage_pr(
                pr.repo.as_str(),
                StagedPr {
                    id: i64::from(pr.id),
                    title: pr.title.clone(),
                },
                &tickets,
                self.settings.first_version,
                ctx.now(),
            )
            .await?;
        run.version = Some(staged.version.to_string());
        let reply = Message::new([Line::new()
            .plain("Counted in the staging release ")
            .bold(format!("{} {}", pr.repo, staged.version))
            .plain(format!(
                " ({} PRs, {} tickets so far)",
                staged.prs.len(),
                staged.tickets.len()
            ))]);
        let next = if self.settings.ci_auto {
            PrStep::QueueBuild
        } else {
            PrStep::AskCi
        };
        Ok(Transition::go(run.at(next)).reply(reply))
    }

    pub(super) fn ask_ci(&self, ctx: &StepContext<'_>, run: PrRun) -> Transition<PrRun> {
        match ctx.decision(CI_POINT).map(|d| d.option.as_str().to_owned()) {
            None => {
                let target = run
                    .pr
                    .as_ref()
                    .map_or("the target branch".to_owned(), |p| p.target_branch.clone());
                let request = ApprovalRequest {
                    point: CI_POINT.into(),
                    decides: Decides::Ci,
                    author: None,
                    deciders: None,
                    prompt: format!("Queue the CI build of {target}?"),
                    options: vec![
                        option("trigger", "Trigger", OptionStyle::Primary),
                        option("skip", "Skip", OptionStyle::Plain),
                    ],
                };
                Transition::wait(run.at(PrStep::AskCi), request)
            }
            Some(choice) if choice == "trigger" => Transition::go(run.at(PrStep::QueueBuild)),
            Some(_) => Transition::done(run.at(PrStep::Finished {
                outcome: Outcome::CiSkipped,
            })),
        }
    }

    /// Queues the CI build of the merge commit, or adopts one already queued for it.
    pub(super) async fn queue_build(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let pr = pr_of(&run)?;
        let commit = run.merge_commit.clone().unwrap_or_default();
        let configured = self.repos_config.for_repo(&pr.repo).ci_definition;
        let order = ci::BuildOrder {
            repo: &pr.repo,
            definition: configured.as_deref(),
            branch: &pr.target_branch,
            commit: &commit,
            failed: &[],
        };
        let build = ci::queue_or_adopt(ctx, self.azdo.as_ref(), &order).await?;
        let reply = ci::reply(&build, "queued");
        run.build = Some(build);
        Ok(Transition::go(run.at(PrStep::WatchBuild { since: ctx.now() })).reply(reply))
    }

    pub(super) async fn watch_build(
        &self,
        ctx: &StepContext<'_>,
        mut run: PrRun,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Step {
        let Some(tracked) = run.build.clone() else {
            return Err(StepError::permanent("the run lost track of its build"));
        };
        let patience = ci::Patience {
            interval: self.settings.ci_poll_interval,
            max_wait: self.settings.ci_max_wait,
        };
        let look = ci::look(self.azdo.as_ref(), tracked.id, since, ctx.now(), patience).await?;
        Ok(match look {
            ci::Look::Passed(build) => {
                let reply = ci::reply(&build, "succeeded");
                run.build = Some(build);
                Transition::done(run.at(PrStep::Finished {
                    outcome: Outcome::CiPassed,
                }))
                .reply(reply)
            }
            ci::Look::Stopped {
                build,
                reason,
                reply,
                ..
            } => {
                run.build = Some(build);
                Transition::fail(run, reason).reply(reply)
            }
            ci::Look::Running(build) => {
                run.build = Some(build);
                Transition::poll(run, patience.interval, patience.max_polls())
            }
        })
    }
}

/// The dedupe key of a PR's merge, shared with the poller.
pub(super) fn merged_key(repo: &RepoName, pr: u32) -> String {
    format!("pr:{repo}:{pr}:merged")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_option_name_of_the_flow_is_valid() {
        for name in [
            "merge",
            "cancel",
            "re-review",
            "review-again",
            "trigger",
            "skip",
        ] {
            assert!(crate::domain::OptionName::parse(name).is_some(), "{name}");
        }
    }
}
