//! The back-merge: once a release is archived, commits on the release branch that its target
//! branch lacks (a hotfix, a fix made on main by hand) would be lost by the next release PR, so
//! the card offers a PR that merges the release branch back. That PR is reviewed and merged like
//! any other, in a run of its own.

use super::state::{ReleaseRun, ReleaseStep};
use super::{BACK_MERGE_POINT, ReleaseFlow, Step, signoff};
use crate::azdo::NewPullRequest;
use crate::domain::{Decides, Line, Message, OptionStyle};
use crate::workflow::flow::option;
use crate::workflow::pr::start::review_opened;
use crate::workflow::{ApprovalRequest, StepContext, Transition};

/// How many of the lacking commits the question lists.
const LISTED: usize = 5;

impl ReleaseFlow {
    /// Looks in git for commits on the release branch that the target branch lacks; asks about
    /// a back-merge when there are any.
    pub(super) async fn check_back_merge(&self, mut run: ReleaseRun) -> Step {
        let repo = self.repo(&run)?;
        let into = self.target_branch(&repo);
        run.lacking = self
            .repos
            .missing_from(&repo, &run.to_branch, &into)
            .await?;
        if run.lacking.is_empty() {
            return Ok(Transition::done(run.at(ReleaseStep::Finished)));
        }
        Ok(Transition::go(run.at(ReleaseStep::AskBackMerge)))
    }

    pub(super) fn ask_back_merge(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
    ) -> Transition<ReleaseRun> {
        let into = self.target_branch(&run.repo);
        match ctx.decision(BACK_MERGE_POINT) {
            None => {
                let request = ApprovalRequest {
                    point: BACK_MERGE_POINT.into(),
                    decides: Decides::Release,
                    author: None,
                    deciders: None,
                    prompt: back_merge_prompt(&run, &into),
                    options: vec![
                        option("open", "Open back-merge PR", OptionStyle::Primary),
                        option("later", "Not now", OptionStyle::Plain),
                    ],
                };
                Transition::wait(run.at(ReleaseStep::AskBackMerge), request)
            }
            Some(d) if d.option.as_str() == "open" => {
                run.signoffs.push(signoff(d, "back-merge PR requested"));
                let by = d.by.clone();
                Transition::go(run.at(ReleaseStep::OpenBackMerge { by }))
            }
            Some(d) => {
                run.signoffs.push(signoff(d, "back-merge declined"));
                let said = format!(
                    "No back-merge PR: {} still lacks {} commits of {}. Open a PR {} → {} by \
                     hand before the next release, or its release PR will not hold them.",
                    into,
                    run.lacking.len(),
                    run.to_branch,
                    run.to_branch,
                    into
                );
                Transition::done(run.at(ReleaseStep::Finished))
                    .reply(Message::new([Line::new().plain(said)]))
            }
        }
    }

    /// Opens the back-merge PR (or reuses an open one of the same branches), once, and starts
    /// its review, once.
    pub(super) async fn open_back_merge(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        by: &str,
    ) -> Step {
        let repo = self.repo(&run)?;
        let into = self.target_branch(&repo);
        let new = NewPullRequest {
            source_branch: run.to_branch.clone(),
            target_branch: into.clone(),
            title: format!(
                "Back-merge {} into {into} after {}",
                run.to_branch,
                run.name()
            ),
            description: back_merge_description(&run, &into),
        };
        let pr = ctx
            .once("back-merge-pr", |_| self.open_pr(&repo, &new))
            .await?;
        let key = format!("back-merge:{}:{}", ctx.run_id(), pr.id);
        review_opened(ctx, pr.id, &repo, by, key).await?;
        let verb = if pr.reused {
            "was open already"
        } else {
            "opened"
        };
        let reply = Message::new([Line::new()
            .plain("Back-merge ")
            .link(pr.url.clone(), format!("PR {}", pr.id))
            .plain(format!(
                " {verb}; its review has a card of its own, and it merges like any PR."
            ))]);
        run.back_merge = Some(pr);
        Ok(Transition::done(run.at(ReleaseStep::Finished)).reply(reply))
    }
}

fn back_merge_prompt(run: &ReleaseRun, into: &str) -> String {
    let mut listed: Vec<&str> = run
        .lacking
        .iter()
        .take(LISTED)
        .map(String::as_str)
        .collect();
    let more = run.lacking.len().saturating_sub(LISTED);
    let more_text = format!("and {more} more");
    if more > 0 {
        listed.push(&more_text);
    }
    format!(
        "{} has {} commits that {into} lacks ({}). Open a back-merge PR {} → {into}?",
        run.to_branch,
        run.lacking.len(),
        listed.join("; "),
        run.to_branch,
    )
}

fn back_merge_description(run: &ReleaseRun, into: &str) -> String {
    let mut text = format!(
        "{} holds commits that {into} lacks, after {}. Merging this PR brings them back, so the \
         next release PR holds them too.\n\n",
        run.to_branch,
        run.name()
    );
    for commit in &run.lacking {
        text.push_str(&format!("- {commit}\n"));
    }
    text
}
