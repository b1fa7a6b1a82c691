//! The PR workflow after an approving review: merge, Jira, staging and CI.

use serde::{Deserialize, Serialize};

use super::state::{BuildRef, Outcome, PrRun, PrStep};
use super::view::short;
use super::{PrFlow, Step, pr_of, remember};
use crate::azdo::{AzdoError, Build, BuildState, CompletionOptions};
use crate::domain::{ApprovalOption, Line, Message, OptionName, OptionStyle, RepoName};
use crate::store::StagedPr;
use crate::workflow::{ApprovalRequest, StepContext, StepError, Transition};

pub const MERGE_POINT: &str = "merge";
pub const REREVIEW_POINT: &str = "re-review";
pub const CI_POINT: &str = "ci";

/// What a merge attempt came to; recorded in the effect journal, so a replay repeats nothing.
#[derive(Debug, Serialize, Deserialize)]
enum Merged {
    Done { commit: String },
    Stale { message: String },
    Refused { reason: String },
}

/// An option of this flow; its names are literals checked by the test below.
fn option(name: &'static str, label: &str, style: OptionStyle) -> ApprovalOption {
    ApprovalOption {
        name: OptionName::parse(name).expect("the flow's option names are valid (see the test)"),
        label: label.into(),
        style,
    }
}

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
        let repo = RepoName::parse(&pr.repo).map_err(StepError::permanent)?;
        // Claimed before the merge, so the poller never mistakes it for a merge outside the bot.
        remember(ctx, &merged_key(&pr.repo, pr.id)).await?;
        let options = CompletionOptions {
            strategy: self.settings.merge_strategy,
            delete_source_branch: self.settings.delete_source_branch,
            merge_commit_message: Some(format!("Merged PR {}: {}", pr.id, pr.title)),
        };
        let merged = ctx
            .once(&format!("merge:{}", pr.commit), |_| async {
                match self.azdo.complete(&repo, pr.id, &pr.commit, &options).await {
                    Ok(done) => Ok(Merged::Done {
                        commit: done.merge_commit.unwrap_or_default(),
                    }),
                    Err(AzdoError::StaleSource { message, .. }) => Ok(Merged::Stale { message }),
                    Err(AzdoError::MergeFailed { reason, .. }) => Ok(Merged::Refused { reason }),
                    Err(e) => Err(StepError::from(e)),
                }
            })
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
                self.move_ticket(jira, ticket, &self.settings.status_merged, &mut run.notes)
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
                &pr.repo,
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

    /// Queues the CI build of the merge commit, or adopts one already queued for it (by a CI
    /// trigger, or by an earlier attempt of this step).
    pub(super) async fn queue_build(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let pr = pr_of(&run)?;
        let repo = RepoName::parse(&pr.repo).map_err(StepError::permanent)?;
        let commit = run.merge_commit.clone().unwrap_or_default();
        let configured = self.repos_config.for_repo(&repo).ci_definition;
        let definition = self
            .azdo
            .ci_definition(&repo, configured.as_deref())
            .await?;
        let build: BuildRef = ctx
            .once(&format!("build:{commit}"), |_| async {
                let existing = self
                    .azdo
                    .recent_builds(definition.id, &pr.target_branch)
                    .await?;
                let build = match existing.into_iter().find(|b| {
                    !commit.is_empty() && b.source_commit.as_deref() == Some(commit.as_str())
                }) {
                    Some(build) => build,
                    None => {
                        let at = (!commit.is_empty()).then_some(commit.as_str());
                        self.azdo
                            .queue_build(definition.id, &pr.target_branch, at)
                            .await?
                    }
                };
                Ok::<_, StepError>(build_ref(&build))
            })
            .await?;
        let reply = Message::new([Line::new()
            .plain("CI: ")
            .link(build.url.clone(), format!("build {}", build.number))
            .plain(" queued")]);
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
        let build = self.azdo.build(tracked.id).await?;
        let current = build_ref(&build);
        let line = |outcome: &str| {
            Message::new([Line::new()
                .plain("CI: ")
                .link(current.url.clone(), format!("build {}", current.number))
                .plain(format!(" {outcome}"))])
        };
        run.build = Some(current.clone());
        if build.state.is_finished() {
            return Ok(match build.state {
                BuildState::Succeeded => Transition::done(run.at(PrStep::Finished {
                    outcome: Outcome::CiPassed,
                }))
                .reply(line("succeeded")),
                _ => Transition::fail(
                    run,
                    format!("CI build {} {}", current.number, current.state),
                )
                .reply(line(&current.state)),
            });
        }
        let waited = (ctx.now() - since).to_std().unwrap_or_default();
        let max = self.settings.ci_max_wait;
        if waited >= max {
            let reason = format!(
                "CI build {} did not finish within {}; it is still {}",
                current.number,
                human(max),
                current.state
            );
            return Ok(Transition::fail(run, reason)
                .reply(line("still running when the bot stopped waiting")));
        }
        let interval = self.settings.ci_poll_interval;
        let polls = max
            .as_secs()
            .div_ceil(interval.as_secs().max(1))
            .saturating_add(10);
        Ok(Transition::poll(
            run,
            interval,
            u32::try_from(polls).unwrap_or(u32::MAX),
        ))
    }
}

/// The dedupe key of a PR's merge, shared with the poller.
pub(super) fn merged_key(repo: &str, pr: u32) -> String {
    format!("pr:{repo}:{pr}:merged")
}

/// `45 s`, `30 min`.
fn human(duration: std::time::Duration) -> String {
    match duration.as_secs() {
        s if s < 120 => format!("{s} s"),
        s => format!("{} min", s.div_ceil(60)),
    }
}

fn build_ref(build: &Build) -> BuildRef {
    let state = match build.state {
        BuildState::Queued => "queued",
        BuildState::Running => "running",
        BuildState::Succeeded => "succeeded",
        BuildState::PartiallySucceeded => "partially succeeded",
        BuildState::Failed => "failed",
        BuildState::Canceled => "canceled",
    };
    BuildRef {
        id: build.id,
        number: build.number.clone(),
        url: build.web_url.clone(),
        state: state.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_name_of_the_flow_is_valid() {
        for name in ["merge", "cancel", "re-review", "trigger", "skip"] {
            assert!(OptionName::parse(name).is_some(), "{name}");
        }
    }
}
