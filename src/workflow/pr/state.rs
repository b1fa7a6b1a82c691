//! What a PR run knows: the PR as fetched, its tickets, the review, the merge, the staging
//! version and the build, plus the step it is at (flattened in as `"step"`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::ci_approvals::CiStage;
use crate::azdo::ApprovalId;
use crate::domain::{RepoName, RunId};
use crate::reviewer::{Finding, Review, Severity, Verdict};
pub use crate::workflow::ci::BuildRef;
pub use crate::workflow::merge::MergeHold;
pub use crate::workflow::tickets::Ticket;

/// The PR as the run fetched it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrInfo {
    pub id: u32,
    pub repo: RepoName,
    pub title: String,
    pub description: String,
    pub author: String,
    /// The author's email in Azure DevOps, to recognise them in Slack (four-eyes rule).
    #[serde(default)]
    pub author_email: Option<String>,
    pub source_branch: String,
    pub target_branch: String,
    /// The source commit this run reviews and may merge.
    pub commit: String,
    pub web_url: String,
}

/// A finding anchored on a line the PR added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InlineFinding {
    pub finding: Finding,
    pub path: String,
    pub line: u32,
    /// Its identity across pushes (`reviewer::fingerprint`); empty in a review kept before
    /// fingerprints existed.
    #[serde(default)]
    pub fingerprint: String,
}

/// What a review looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReviewScope {
    /// The whole PR.
    #[default]
    Full,
    /// What was pushed since commit `since` was reviewed.
    Incremental { since: String },
    /// The whole PR again: the commit reviewed last (`was`) is no longer in its history.
    Rewritten { was: String },
}

/// The review and where its findings go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewResult {
    pub review: Review,
    pub inline: Vec<InlineFinding>,
    pub general: Vec<Finding>,
    /// The fingerprints of `general`, in its order.
    #[serde(default)]
    pub general_fingerprints: Vec<String>,
    #[serde(default)]
    pub scope: ReviewScope,
    /// Changed files whose patch did not fit the prompt's budget.
    #[serde(default)]
    pub not_reviewed: Vec<String>,
    /// Changed files left out as generated or by the repository's review rules.
    #[serde(default)]
    pub ignored: usize,
    /// The repository's `max_findings`, applied once dismissed findings are taken out.
    #[serde(default)]
    pub max_findings: Option<usize>,
    /// What the card should say about how the review was done (its rules file was malformed).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// What became of the findings on the PR: posted anew, left open from an earlier review,
/// resolved by the bot because the code changed, and dismissed by a person earlier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub new: usize,
    pub open: usize,
    pub fixed: usize,
    pub dismissed: usize,
}

/// What the card keeps of a review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewBrief {
    pub commit: String,
    pub verdict: Verdict,
    pub summary: String,
    pub findings: usize,
    #[serde(default)]
    pub scope: ReviewScope,
    #[serde(default)]
    pub not_reviewed: Vec<String>,
    #[serde(default)]
    pub cost_usd: Option<f64>,
    #[serde(default)]
    pub tokens: Option<u64>,
    /// Set once the findings are published.
    #[serde(default)]
    pub tally: Option<Tally>,
    /// The findings that count once dismissed ones are out: what a question in the card's
    /// thread is answered with, and what `ignore` names. Set once the findings are published.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub found: Vec<KeptFinding>,
}

/// A finding of the review as the card's thread knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptFinding {
    pub fingerprint: String,
    pub severity: Severity,
    pub title: String,
    pub file: String,
    pub line: u32,
}

/// How a run that ended well ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    NothingToReview,
    ChangesRequested,
    CiPassed,
    CiSkipped,
    /// A watcher's run for a commit another run reviewed already: nothing new to do.
    AlreadyReviewed,
    /// A watcher's run for a commit another run is reviewing (or about to): left to that run.
    UnderWay,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum PrStep {
    Fetch,
    Ticket,
    /// **Retry ticket** after Jira refused to create the PR's ticket; back to the merge question.
    RetryTicket,
    Review,
    /// This month's reviews spent REVIEW_MONTHLY_BUDGET_USD: Review anyway, or Cancel.
    OverBudget {
        spent_usd: f64,
        budget_usd: f64,
    },
    Publish {
        result: Box<ReviewResult>,
    },
    /// Another run reviewed this commit already: merge on that review, review again, or cancel.
    Reviewed {
        earlier: RunId,
    },
    AskMerge,
    Merge,
    /// Azure DevOps holds the merge back (branch policies) or refused it: retry, auto-complete,
    /// or cancel.
    MergeHeld {
        hold: MergeHold,
    },
    /// Sets Azure DevOps' auto-complete, then watches until it completes the PR.
    AutoComplete,
    WatchAutoComplete,
    Stale {
        reason: String,
    },
    MergedJira,
    Stage,
    AskCi,
    QueueBuild,
    WatchBuild {
        since: DateTime<Utc>,
    },
    /// A stage of the CI run waits for an approval: Approve or Reject it.
    AskCiStage {
        question: CiStage,
    },
    /// The CI run waits in Azure DevOps for what nobody here decides (`what`); the watch
    /// resumes with the `built_for` seconds of CI time used before.
    CiHeld {
        what: String,
        built_for: i64,
    },
    Finished {
        outcome: Outcome,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrRun {
    pub pr_id: u32,
    /// The repository the requester named, if any; the fetched PR must be in it.
    #[serde(default)]
    pub repo: Option<RepoName>,
    #[serde(default)]
    pub pr: Option<PrInfo>,
    #[serde(default)]
    pub tickets: Vec<Ticket>,
    #[serde(default)]
    pub review: Option<ReviewBrief>,
    #[serde(default)]
    pub merge_commit: Option<String>,
    /// The staging version the merge was counted in.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub build: Option<BuildRef>,
    /// Things that went wrong without stopping the run (a ticket that would not move).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Started by the poller or a webhook rather than a person.
    #[serde(default)]
    pub watched: bool,
    /// Someone chose Review again: review even a commit reviewed already.
    #[serde(default)]
    pub fresh_review: bool,
    /// Someone chose Review anyway over the month's spent budget.
    #[serde(default)]
    pub budget_waived: bool,
    /// Completions at this commit that Azure DevOps refused; a retry is a new attempt.
    #[serde(default)]
    pub merges_refused: u32,
    /// Why Jira refused to create the PR's ticket, until a retry creates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_failed: Option<String>,
    /// Approvals of the CI run the bot's account gave.
    #[serde(default)]
    pub ci_approved: Vec<ApprovalId>,
    #[serde(flatten)]
    pub step: PrStep,
}

impl PrRun {
    pub fn new(pr_id: u32, repo: Option<RepoName>) -> Self {
        Self {
            pr_id,
            repo,
            pr: None,
            tickets: Vec::new(),
            review: None,
            merge_commit: None,
            version: None,
            build: None,
            notes: Vec::new(),
            watched: false,
            fresh_review: false,
            budget_waived: false,
            merges_refused: 0,
            ticket_failed: None,
            ci_approved: Vec::new(),
            step: PrStep::Fetch,
        }
    }

    pub fn at(mut self, step: PrStep) -> Self {
        self.step = step;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::flow::step_name;

    #[test]
    fn the_stored_state_names_its_step_and_round_trips() {
        let run = PrRun::new(12, RepoName::parse("Billo.Api").ok()).at(PrStep::Stale {
            reason: "moved".into(),
        });
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(step_name(&json), "stale");
        assert_eq!(json["reason"], "moved");
        assert_eq!(serde_json::from_value::<PrRun>(json).unwrap(), run);
        let old = serde_json::json!({"pr_id": 3, "step": "fetch"});
        assert_eq!(
            serde_json::from_value::<PrRun>(old).unwrap(),
            PrRun::new(3, None)
        );
    }
}
