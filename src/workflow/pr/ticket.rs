//! The PR's tickets: the ones its branch names, moved to the review status, or one the bot
//! creates (drafted by the reviewer from the diff, found again by its label after a crash, with
//! the search repeated while Jira's index catches up) when the branch names none. A creation
//! Jira refuses does not stop the review: the card offers Retry ticket.

use super::review::{remove_worktree, review_failure};
use super::state::{PrInfo, PrRun, PrStep, Ticket};
use super::{PrFlow, Step, pr_of};
use crate::git;
use std::time::Duration;

use crate::jira::adf::Document;
use crate::jira::{Issue, NewIssue};
use crate::reviewer::{TicketDraft, TicketInput};
use crate::workflow::tickets::JiraSide;
use crate::workflow::{StepContext, StepError, Transition};

impl PrFlow {
    /// Reads the branch's tickets and moves them to the review status; creates one when the branch
    /// names none (if allowed).
    pub(super) async fn ticket(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let Some(jira) = &self.jira else {
            return Ok(Transition::go(run.at(PrStep::Review)));
        };
        let pr = pr_of(&run)?;
        if self.is_back_merge(&pr) {
            run.tickets.clear();
            run.notes.push(format!(
                "A back-merge of {}: its tickets were released already, so none is created or \
                 moved, and it is not staged.",
                pr.source_branch
            ));
            return Ok(Transition::go(run.at(PrStep::Review)));
        }
        let mut found = jira
            .describe(std::mem::take(&mut run.tickets), &mut run.notes)
            .await?;
        if found.is_empty() && self.settings.auto_create_ticket {
            match self.create_ticket(ctx, jira, &pr).await {
                Ok(ticket) => found.push(ticket),
                // Jira refused (a project without the issue type, a required field): the review
                // goes on without a ticket, and the card offers Retry ticket.
                Err(StepError::Permanent(reason)) => run.ticket_failed = Some(reason),
                Err(transient) => return Err(transient),
            }
        }
        for ticket in &found {
            jira.move_ticket(&ticket.key, &self.settings.status_in_review, &mut run.notes)
                .await?;
        }
        run.tickets = found;
        Ok(Transition::go(run.at(PrStep::Review)))
    }

    /// Tries again to create the ticket Jira refused, then asks about the merge again.
    pub(super) async fn retry_ticket(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let Some(jira) = &self.jira else {
            return Ok(Transition::go(run.at(PrStep::AskMerge)));
        };
        let pr = pr_of(&run)?;
        match self.create_ticket(ctx, jira, &pr).await {
            Ok(ticket) => {
                jira.move_ticket(&ticket.key, &self.settings.status_in_review, &mut run.notes)
                    .await?;
                run.tickets.push(ticket);
                run.ticket_failed = None;
            }
            Err(StepError::Permanent(reason)) => run.ticket_failed = Some(reason),
            Err(transient) => return Err(transient),
        }
        Ok(Transition::go(run.at(PrStep::AskMerge)))
    }

    /// The ticket of a PR without one: found by its label if an earlier run made it, else
    /// drafted by the reviewer and created, once.
    pub(super) async fn create_ticket(
        &self,
        ctx: &StepContext<'_>,
        jira: &JiraSide,
        pr: &PrInfo,
    ) -> Result<Ticket, StepError> {
        let label = pr_label(pr);
        let project = self
            .repos_config
            .for_repo(&pr.repo)
            .jira_project
            .unwrap_or_else(|| jira.project.clone());
        let jql = format!("project = \"{project}\" AND labels = \"{label}\" ORDER BY created ASC");
        let as_ticket = |issue: Issue| Ticket {
            key: issue.key,
            summary: issue.summary,
            url: issue.url,
            created: true,
        };
        if let Some(issue) = jira.client.search(&jql, 1).await?.into_iter().next() {
            return Ok(as_ticket(issue));
        }
        let draft = ctx
            .once(&format!("ticket-draft:{}", pr.id), |_| async {
                self.draft_ticket(pr).await
            })
            .await?;
        let issue = ctx
            .once(&format!("ticket:{}", pr.id), |attempt| async move {
                if attempt.is_retry()
                    && let Some(issue) = created_before(jira, &jql).await?
                {
                    return Ok(as_ticket(issue));
                }
                let description = format!(
                    "{}\n\nPull request: {}",
                    draft.description.trim(),
                    pr.web_url
                );
                let new = NewIssue {
                    project: project.clone(),
                    issue_type: jira.issue_type.clone(),
                    summary: draft.summary.clone(),
                    description: Document::from_text(&description),
                    labels: vec!["release-agent".into(), label.clone()],
                };
                Ok::<_, StepError>(as_ticket(jira.client.create_issue(&new).await?))
            })
            .await?;
        Ok(issue)
    }

    pub(super) async fn draft_ticket(&self, pr: &PrInfo) -> Result<TicketDraft, StepError> {
        let (dir, diff) = self.diff(pr).await?;
        let worktree = git::add_worktree(&dir, &self.worktrees(&pr.repo), &pr.commit).await?;
        let input = TicketInput {
            title: pr.title.clone(),
            description: pr.description.clone(),
            diff_cut: diff.cut(),
            diff: diff.patch,
        };
        let drafted = self.reviewer.draft_ticket(&worktree.path, &input).await;
        remove_worktree(worktree).await;
        drafted.map_err(review_failure)
    }
}

/// Waits between the searches for a ticket an earlier attempt may have created: Jira's search
/// index lags behind its writes, so one empty answer does not prove the ticket is not there.
const SEARCH_AGAIN_AFTER: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// The ticket found by `jql` (its label), searched for again with backoff while not found,
/// before anything is created a second time.
async fn created_before(jira: &JiraSide, jql: &str) -> Result<Option<Issue>, StepError> {
    for wait in std::iter::once(Duration::ZERO).chain(SEARCH_AGAIN_AFTER) {
        tokio::time::sleep(wait).await;
        if let Some(issue) = jira.client.search(jql, 1).await?.into_iter().next() {
            return Ok(Some(issue));
        }
    }
    Ok(None)
}

/// The Jira label that marks the ticket the bot created for a PR: letters, digits and `-` only.
fn pr_label(pr: &PrInfo) -> String {
    let repo: String = pr
        .repo
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("release-agent-pr-{repo}-{}", pr.id)
}
