//! The PR's tickets: the ones its branch names, moved to the review status, or one the bot
//! creates (drafted by the reviewer from the diff, found again by its label after a crash) when
//! the branch names none.

use super::review::{remove_worktree, review_failure};
use super::state::{PrInfo, PrRun, PrStep, Ticket};
use super::{PrFlow, Step, pr_of};
use crate::git;
use crate::jira::NewIssue;
use crate::jira::adf::Document;
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
        let mut found = jira
            .describe(std::mem::take(&mut run.tickets), &mut run.notes)
            .await?;
        if found.is_empty() && self.settings.auto_create_ticket {
            found.push(self.create_ticket(ctx, jira, &pr).await?);
        }
        for ticket in &found {
            jira.move_ticket(&ticket.key, &self.settings.status_in_review, &mut run.notes)
                .await?;
        }
        run.tickets = found;
        Ok(Transition::go(run.at(PrStep::Review)))
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
        let as_ticket = |issue: crate::jira::Issue| Ticket {
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
                    && let Some(issue) = jira.client.search(&jql, 1).await?.into_iter().next()
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
            diff_cut: diff.cut,
            diff: diff.patch,
        };
        let drafted = self.reviewer.draft_ticket(&worktree.path, &input).await;
        remove_worktree(worktree).await;
        drafted.map_err(review_failure)
    }
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
