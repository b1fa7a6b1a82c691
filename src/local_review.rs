//! `release-agent review --repo DIR --source BRANCH --target BRANCH`: the AI review of a branch,
//! run on this machine and printed as Markdown. It needs only git and the reviewer CLI: no Slack,
//! Azure DevOps or database. The repository's own working tree is left as it is.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, env_lookup};
use crate::git::{self, GitError, PrDiff};
use crate::reviewer::{
    ClaudeReviewer, Review, ReviewError, ReviewInput, Reviewer, ReviewerSettings, Verdict, report,
};
use crate::telemetry::{self, LogFormat};

#[derive(Debug, thiserror::Error)]
pub enum LocalReviewError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Review(#[from] ReviewError),
}

/// The command: its own small config (no Slack needed) and exit codes a CI step can use: 0 when
/// the reviewer approves, 1 when it asks for changes, 2 when the review could not run.
pub fn command(repo: &Path, source: &str, target: &str) -> ExitCode {
    let settings = match env_lookup().and_then(Config::reviewer_from_lookup) {
        Ok(settings) => settings,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(LogFormat::Pretty);
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        eprintln!("cannot start the async runtime");
        return ExitCode::from(2);
    };
    match runtime.block_on(run(settings, repo, source, target)) {
        Ok(found) => {
            print!("{}", render(&found, source, target));
            match found.review.map(|r| r.verdict) {
                Some(Verdict::RequestChanges) => ExitCode::from(1),
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("release-agent: {e}");
            ExitCode::from(2)
        }
    }
}

/// What a local review found; `review` is `None` when the branch changes nothing.
pub struct LocalReview {
    pub diff: PrDiff,
    pub review: Option<Review>,
}

/// Reviews `source` against `target` in the repository at `repo`. Branch names are looked up as
/// given, then under `origin/`.
pub async fn run(
    settings: ReviewerSettings,
    repo: &Path,
    source: &str,
    target: &str,
) -> Result<LocalReview, LocalReviewError> {
    let source_commit = commit(repo, source).await?;
    let target_commit = commit(repo, target).await?;
    let diff = git::diff(repo, &target_commit, &source_commit).await?;
    if diff.files.is_empty() {
        return Ok(LocalReview { diff, review: None });
    }
    let worktree = git::add_worktree(
        repo,
        &std::env::temp_dir().join("release-agent-worktrees"),
        &source_commit,
    )
    .await?;
    let input = ReviewInput {
        title: format!("{source} into {target}"),
        diff: diff.patch.clone(),
        not_shown: diff
            .left_out(git::LeftOut::OverBudget)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        ..ReviewInput::default()
    };
    let review = ClaudeReviewer::new(settings)
        .review(&worktree.path, &input)
        .await;
    worktree.remove().await?;
    Ok(LocalReview {
        diff,
        review: Some(review?),
    })
}

async fn commit(repo: &Path, name: &str) -> Result<String, GitError> {
    match git::resolve(repo, name).await {
        Ok(commit) => Ok(commit),
        Err(first) => git::resolve(repo, &format!("origin/{name}"))
            .await
            .map_err(|_| first),
    }
}

/// The review as Markdown, headed by what was compared.
pub fn render(found: &LocalReview, source: &str, target: &str) -> String {
    let diff = &found.diff;
    let head = format!(
        "# Review of {source} into {target}\n\n{} files changed, +{} −{}\n\n",
        diff.files.len(),
        diff.insertions,
        diff.deletions
    );
    match &found.review {
        Some(review) => head + &report::summary(review, &review.findings, &[]),
        None => format!("{head}Nothing to review: {source} changes nothing that {target} lacks.\n"),
    }
}
