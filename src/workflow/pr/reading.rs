//! What a review reads, and how: the repository's rules from the target branch, the scope (the
//! changes since the last reviewed commit when it is still in the PR's history, else the whole
//! PR), the diffs within the budget, then the reviewer in a worktree of the commit. Each finding
//! gets its fingerprint and its place (an inline thread, or the summary).

use std::collections::BTreeSet;
use std::path::Path;

use super::PrFlow;
use super::review::{remove_worktree, review_failure};
use super::state::{InlineFinding, PrInfo, ReviewResult, ReviewScope, Ticket};
use crate::git::{self, Base, DiffRequest, LeftOut, PATCH_BUDGET, PrDiff};
use crate::reviewer::{
    Finding, RULES_FILE, ReviewInput, ReviewRules, WHOLE_DIFF_FILE, fingerprint, place,
};
use crate::workflow::StepError;

/// The most of the whole PR's diff written beside an incremental review, for context.
const WHOLE_DIFF_BUDGET: usize = 4_000_000;

impl PrFlow {
    /// Reviews `pr` at its commit; `last` is the PR's commit reviewed before, if any. None: the
    /// PR changes nothing a review reads.
    pub(super) async fn review_in_worktree(
        &self,
        pr: &PrInfo,
        tickets: &[Ticket],
        last: Option<String>,
    ) -> Result<Option<ReviewResult>, StepError> {
        let dir = self.repos.fetch(&pr.repo).await?;
        let target = format!("origin/{}", pr.target_branch);
        let (rules, notes) = read_rules(&dir, &target, &pr.target_branch).await?;
        let mut scope = scope_of(&dir, last, &pr.commit).await;
        let whole_budget = match scope {
            ReviewScope::Incremental { .. } => WHOLE_DIFF_BUDGET,
            _ => PATCH_BUDGET,
        };
        let request = |base, only, budget| DiffRequest {
            base,
            source: pr.commit.clone(),
            skip: rules.filter(),
            only,
            budget,
        };
        let whole_base = Base::MergeBaseWith(target.clone());
        let whole = git::diff_with(&dir, request(whole_base.clone(), None, whole_budget)).await?;
        let reviewed: BTreeSet<String> = whole
            .files
            .iter()
            .filter(|f| f.left_out != Some(LeftOut::Ignored))
            .map(|f| f.path.clone())
            .collect();
        if reviewed.is_empty() {
            return Ok(None);
        }
        let shown = match &scope {
            ReviewScope::Incremental { since } => {
                let base = Base::Commit(since.clone());
                let since_last = git::diff_with(&dir, request(base, Some(reviewed), PATCH_BUDGET));
                match since_last.await? {
                    diff if !diff.files.is_empty() => diff,
                    // Nothing of the PR's files changed (develop merged in, say): the whole PR.
                    _ => {
                        scope = ReviewScope::Full;
                        git::diff_with(&dir, request(whole_base, None, PATCH_BUDGET)).await?
                    }
                }
            }
            _ => whole.clone(),
        };
        let input = ReviewInput {
            title: pr.title.clone(),
            description: pr.description.clone(),
            ticket: ticket_text(tickets),
            diff: shown.patch.clone(),
            not_shown: names(&shown, LeftOut::OverBudget),
            instructions: rules.instructions.clone(),
            since: match &scope {
                ReviewScope::Incremental { since } => Some(since.clone()),
                _ => None,
            },
        };
        let worktree = git::add_worktree(&dir, &self.worktrees(&pr.repo), &pr.commit).await?;
        let written = match input.since {
            Some(_) => tokio::fs::write(worktree.path.join(WHOLE_DIFF_FILE), &whole.patch).await,
            None => Ok(()),
        };
        let reviewed = match written {
            Ok(()) => self.reviewer.review(&worktree.path, &input).await,
            Err(e) => {
                remove_worktree(worktree).await;
                return Err(StepError::transient(format!(
                    "cannot write the PR's diff: {e}"
                )));
            }
        };
        remove_worktree(worktree).await;
        let review = reviewed.map_err(review_failure)?;
        let mut result = ReviewResult {
            inline: Vec::new(),
            general: Vec::new(),
            general_fingerprints: Vec::new(),
            not_reviewed: input.not_shown,
            ignored: whole.left_out(LeftOut::Ignored).len(),
            max_findings: rules.max_findings,
            notes,
            scope,
            review,
        };
        self.place_findings(&dir, pr, &whole, &rules, &mut result)
            .await?;
        Ok(Some(result))
    }

    /// Fingerprints each finding (from the code at the reviewed commit) and places it: inline
    /// on a line the PR added, when its severity is inline-worthy by the rules, else in the
    /// summary.
    async fn place_findings(
        &self,
        dir: &Path,
        pr: &PrInfo,
        whole: &PrDiff,
        rules: &ReviewRules,
        result: &mut ReviewResult,
    ) -> Result<(), StepError> {
        let placement = place(&result.review.findings, whole);
        for (finding, anchor) in placement.inline {
            let print = finding_print(dir, &pr.commit, &finding).await?;
            if rules.inline(finding.severity) {
                result.inline.push(InlineFinding {
                    finding,
                    path: anchor.path,
                    line: anchor.start_line,
                    fingerprint: print,
                });
            } else {
                result.general.push(finding);
                result.general_fingerprints.push(print);
            }
        }
        for finding in placement.general {
            result
                .general_fingerprints
                .push(finding_print(dir, &pr.commit, &finding).await?);
            result.general.push(finding);
        }
        Ok(())
    }
}

/// The rules on the target branch, or the defaults with a note saying why.
async fn read_rules(
    dir: &Path,
    target: &str,
    branch: &str,
) -> Result<(ReviewRules, Vec<String>), StepError> {
    let Some(text) = git::file_at(dir, target, RULES_FILE).await? else {
        return Ok((ReviewRules::default(), Vec::new()));
    };
    Ok(match ReviewRules::parse(&text) {
        Ok(rules) => (rules, Vec::new()),
        Err(e) => (
            ReviewRules::default(),
            vec![format!(
                "{RULES_FILE} on {branch} cannot be used ({e}); reviewed with the defaults"
            )],
        ),
    })
}

/// Incremental when the last reviewed commit is an ancestor of this one; the whole PR when
/// there was none, or after a force-push took it out of the history.
async fn scope_of(dir: &Path, last: Option<String>, commit: &str) -> ReviewScope {
    match last {
        Some(since) if since != commit => {
            if git::is_ancestor(dir, &since, commit).await {
                ReviewScope::Incremental { since }
            } else {
                ReviewScope::Rewritten { was: since }
            }
        }
        _ => ReviewScope::Full,
    }
}

/// A finding's fingerprint, from the code around its line at `commit` (none for a file the
/// commit lacks or a path that leaves the repository).
pub(super) async fn finding_print(
    dir: &Path,
    commit: &str,
    finding: &Finding,
) -> Result<String, StepError> {
    let path = finding
        .file
        .trim()
        .trim_start_matches("./")
        .trim_start_matches('/');
    let text = if path.is_empty() || path.split('/').any(|p| p == "..") {
        None
    } else {
        git::file_at(dir, commit, path).await?
    };
    let around = text.map_or_else(Vec::new, |t| fingerprint::context(&t, finding.line));
    Ok(fingerprint::fingerprint(path, &finding.title, &around))
}

fn ticket_text(tickets: &[Ticket]) -> Option<String> {
    let lines: Vec<String> = tickets
        .iter()
        .map(|t| format!("{}: {}", t.key, t.summary))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn names(diff: &PrDiff, why: LeftOut) -> Vec<String> {
    diff.left_out(why).into_iter().map(str::to_owned).collect()
}
