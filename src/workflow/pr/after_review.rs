//! The PR workflow after the merge: Jira, staging and CI.

use super::state::{Outcome, PrInfo, PrRun, PrStep};
use super::{PrFlow, Step, pr_of};
use crate::domain::{Decides, Line, Message, OptionStyle, RepoName};
use crate::store::{StagedPr, Versioning};
use crate::workflow::ci;
use crate::workflow::flow::option;
use crate::workflow::release::{last_version, notes};
use crate::workflow::{ApprovalRequest, StepContext, StepError, Transition};

pub const CI_POINT: &str = "ci";

impl PrFlow {
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

    /// Counts the merged PR into the repository's staging release, with the bump its title,
    /// description and labels ask for as they are now (a label set just before the merge counts).
    pub(super) async fn stage(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let pr = pr_of(&run)?;
        if let Some(why) = self.not_staged(&pr) {
            let reply = Message::new([
                Line::new().plain(format!("Not counted in a staging release: {why}."))
            ]);
            return Ok(Transition::go(run.at(self.after_staging())).reply(reply));
        }
        let merged = self.azdo.pull_request(pr.id).await?;
        let staged_pr = StagedPr::merged(
            i64::from(pr.id),
            &merged.title,
            &merged.description,
            &merged.labels,
        );
        let tickets: Vec<String> = run.tickets.iter().map(|t| t.key.to_string()).collect();
        let versioning = self.versioning(ctx, &pr.repo).await?;
        let staged = ctx
            .store()
            .stage_pr(
                pr.repo.as_str(),
                staged_pr,
                &tickets,
                &versioning,
                ctx.now(),
            )
            .await?;
        run.version = Some(staged.version.to_string());
        let why = notes::why(&staged.prs).map_or_else(String::new, |why| format!("{why}; "));
        let reply = Message::new([Line::new()
            .plain("Counted in the staging release ")
            .bold(format!("{} {}", pr.repo, staged.version))
            .plain(format!(
                " ({why}{} PRs, {} tickets so far)",
                staged.prs.len(),
                staged.tickets.len()
            ))]);
        Ok(Transition::go(run.at(self.after_staging())).reply(reply))
    }

    /// Why a merged PR stays out of the staging release: a back-merge brings back what was
    /// released, and a PR into a hotfix branch ships with that hotfix.
    fn not_staged(&self, pr: &PrInfo) -> Option<String> {
        if self.is_back_merge(pr) {
            return Some(format!(
                "this back-merge brings {} what {} released already",
                pr.target_branch, pr.source_branch
            ));
        }
        pr.target_branch.starts_with("hotfix/").then(|| {
            format!(
                "it ships with the hotfix {} (Ship hotfix on the hotfix's card)",
                pr.target_branch
            )
        })
    }

    fn after_staging(&self) -> PrStep {
        if self.settings.ci_auto {
            PrStep::QueueBuild
        } else {
            PrStep::AskCi
        }
    }

    /// How the repository's next version is computed (see [`last_version`]).
    async fn versioning(
        &self,
        ctx: &StepContext<'_>,
        repo: &RepoName,
    ) -> Result<Versioning, StepError> {
        let settings = self.repos_config.for_repo(repo);
        let branch = self.release_branch(repo);
        let last = last_version(
            ctx.store(),
            &self.repos,
            repo,
            &branch,
            &settings.tag_format,
        )
        .await?;
        Ok(Versioning {
            first: self.settings.first_version,
            last,
            minor_pre_major: settings.bump_minor_pre_major,
        })
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
        let pr = pr_of(&run)?;
        let patience = ci::Patience {
            interval: self.settings.ci_poll_interval,
            max_wait: self.settings.ci_max_wait,
            accept_partial: self
                .repos_config
                .for_repo(&pr.repo)
                .accept_partially_succeeded,
        };
        let look = ci::look(
            self.azdo.as_ref(),
            &pr.repo,
            tracked.id,
            since,
            ctx.now(),
            patience,
        )
        .await?;
        Ok(match look {
            ci::Look::Passed(build) => {
                let reply = ci::reply(&build, &build.state);
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
                match self.held_build(ctx, run, since).await? {
                    Ok(held) => held,
                    Err(run) => Transition::poll(run, patience.interval, patience.max_polls()),
                }
            }
        })
    }
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
            "retry-ticket",
            "trigger",
            "skip",
            "approve",
            "reject",
        ] {
            assert!(crate::domain::OptionName::parse(name).is_some(), "{name}");
        }
    }
}
