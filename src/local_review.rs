//! `release-agent review --repo DIR --source BRANCH --target BRANCH`: the AI review of a branch,
//! run on this machine and printed as Markdown. It needs only git and the reviewer CLI: no Slack,
//! Azure DevOps or database. The repository's own working tree is left as it is.

use std::path::Path;

use crate::git::{self, GitError, PrDiff};
use crate::reviewer::{
    ClaudeReviewer, Review, ReviewError, ReviewInput, Reviewer, ReviewerSettings, report,
};

#[derive(Debug, thiserror::Error)]
pub enum LocalReviewError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Review(#[from] ReviewError),
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
    if diff.files == 0 {
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
        description: String::new(),
        ticket: None,
        diff: diff.patch.clone(),
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
        diff.files, diff.insertions, diff.deletions
    );
    match &found.review {
        Some(review) => head + &report::summary(review, &review.findings),
        None => format!("{head}Nothing to review: {source} changes nothing that {target} lacks.\n"),
    }
}
