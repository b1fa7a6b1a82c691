//! Completing a PR safely: the completion names the reviewed commit (`lastMergeSourceCommit`),
//! so a PR that moved since merges nothing, and the merge counts as done only once Azure DevOps
//! says so.

use serde_json::{Value, json};

use super::client::AzdoClient;
use super::*;

impl AzdoClient {
    pub(super) async fn wait_for_merge(
        &self,
        repo: &RepoName,
        pr: u32,
    ) -> Result<PullRequest, AzdoError> {
        let started = tokio::time::Instant::now();
        loop {
            let current = self.get_pull_request_in(repo, pr).await?;
            let merge_status = current.merge_status.to_ascii_lowercase();
            match (current.status, merge_status.as_str()) {
                (PrStatus::Completed, _) => return Ok(current),
                (PrStatus::Abandoned, _) => {
                    return Err(AzdoError::MergeFailed {
                        pr,
                        reason: "the PR was abandoned".into(),
                    });
                }
                (_, "conflicts" | "rejectedbypolicy" | "failure") => {
                    let detail = current.merge_failure.unwrap_or_default();
                    return Err(AzdoError::MergeFailed {
                        pr,
                        reason: format!("merge status {} {detail}", current.merge_status)
                            .trim_end()
                            .to_owned(),
                    });
                }
                _ if started.elapsed() >= self.settings.merge_wait => {
                    return Err(AzdoError::MergePending {
                        pr,
                        waited_s: started.elapsed().as_secs(),
                    });
                }
                _ => tokio::time::sleep(self.settings.merge_poll).await,
            }
        }
    }
}

/// Azure DevOps says "the source moved" with this type key (and TF401192 in the message).
pub(super) fn is_stale(type_key: Option<&str>, message: &str) -> bool {
    type_key == Some("GitPullRequestStaleException") || message.contains("TF401192")
}

pub(super) fn completion_body(reviewed: &str, options: &CompletionOptions) -> Value {
    json!({
        "status": "completed",
        "lastMergeSourceCommit": {"commitId": reviewed},
        "completionOptions": completion_options(options),
    })
}

/// `completionOptions`, the same for a completion and for auto-complete. Policies are never
/// bypassed.
pub(super) fn completion_options(options: &CompletionOptions) -> Value {
    let strategy = match options.strategy {
        MergeStrategy::NoFastForward => "noFastForward",
        MergeStrategy::Squash => "squash",
        MergeStrategy::Rebase => "rebase",
        MergeStrategy::RebaseMerge => "rebaseMerge",
    };
    let mut completion = json!({
        "mergeStrategy": strategy,
        "deleteSourceBranch": options.delete_source_branch,
        "transitionWorkItems": false,
        "bypassPolicy": false,
    });
    if let Some(message) = &options.merge_commit_message {
        completion["mergeCommitMessage"] = json!(message);
    }
    completion
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_always_names_the_reviewed_commit_and_the_strategy() {
        let body = completion_body(
            "abc123",
            &CompletionOptions {
                strategy: MergeStrategy::Squash,
                delete_source_branch: true,
                merge_commit_message: None,
            },
        );
        assert_eq!(body["lastMergeSourceCommit"]["commitId"], "abc123");
        assert_eq!(body["completionOptions"]["mergeStrategy"], "squash");
        assert_eq!(body["completionOptions"]["deleteSourceBranch"], true);
    }
}
