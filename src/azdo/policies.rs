//! Branch policies: what holds a PR back from completion, and Azure DevOps' own auto-complete,
//! which completes it once they pass.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::instrument;

use super::client::{AzdoClient, IdentityDto, List};
use super::completion::completion_options;
use super::*;
use crate::http_client::Call;

/// What Azure DevOps writes in `autoCompleteSetBy` to clear auto-complete.
pub(super) const NOBODY: &str = "00000000-0000-0000-0000-000000000000";

/// A blocking branch policy that is not met yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyHold {
    /// The policy type as Azure DevOps names it ("Minimum number of reviewers", "Build"), with
    /// the policy's own display name when it has one.
    pub name: String,
    /// "1 of 2" for a reviewer count, otherwise the evaluation's status ("queued", "rejected").
    pub state: String,
}

#[async_trait]
pub trait Policies: Send + Sync {
    /// The blocking, enabled policies that hold PR `pr` back; empty when it may complete, or is
    /// not active (completed or abandoned: nothing left to hold).
    async fn merge_holds(&self, repo: &RepoName, pr: u32) -> Result<Vec<PolicyHold>, AzdoError>;
    /// Sets Azure DevOps' auto-complete on PR `pr`, by the bot, with `options`.
    async fn set_auto_complete(
        &self,
        repo: &RepoName,
        pr: u32,
        options: &CompletionOptions,
    ) -> Result<(), AzdoError>;
    async fn clear_auto_complete(&self, repo: &RepoName, pr: u32) -> Result<(), AzdoError>;
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Evaluation {
    #[serde(default)]
    status: String,
    configuration: Configuration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Configuration {
    #[serde(default)]
    is_blocking: bool,
    #[serde(default)]
    is_enabled: bool,
    #[serde(default)]
    is_deleted: bool,
    #[serde(rename = "type")]
    kind: Option<PolicyType>,
    #[serde(default)]
    settings: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyType {
    #[serde(default)]
    display_name: String,
}

/// The parts of a PR that say how far a reviewer-count policy is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrVotes {
    #[serde(default)]
    status: String,
    repository: RepoRef,
    created_by: Option<IdentityDto>,
    #[serde(default)]
    reviewers: Vec<Reviewer>,
}

#[derive(Deserialize)]
struct RepoRef {
    project: ProjectRef,
}

#[derive(Deserialize)]
struct ProjectRef {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reviewer {
    #[serde(default)]
    id: String,
    #[serde(default)]
    vote: i32,
}

#[async_trait]
impl Policies for AzdoClient {
    /// https://learn.microsoft.com/rest/api/azure/devops/policy/evaluations/list (preview only)
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr))]
    async fn merge_holds(&self, repo: &RepoName, pr: u32) -> Result<Vec<PolicyHold>, AzdoError> {
        let id = pr.to_string();
        let votes: PrVotes = self
            .get(self.url(
                repo,
                &["git", "repositories", repo.as_str(), "pullrequests", &id],
                &[],
            ))
            .await?;
        if !votes.status.eq_ignore_ascii_case("active") {
            return Ok(Vec::new());
        }
        let artifact = format!(
            "vstfs:///CodeReview/CodeReviewId/{}/{pr}",
            votes.repository.project.id
        );
        let url = self.url(
            repo,
            &["policy", "evaluations"],
            &[("artifactId", &artifact)],
        );
        let list: List<Evaluation> = self.get(self.preview(url)).await?;
        Ok(list
            .value
            .into_iter()
            .filter_map(|e| hold(e, &votes))
            .collect())
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-requests/update (`autoCompleteSetBy`)
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr))]
    async fn set_auto_complete(
        &self,
        repo: &RepoName,
        pr: u32,
        options: &CompletionOptions,
    ) -> Result<(), AzdoError> {
        let me = self.whoami().await?.id;
        let body = json!({
            "autoCompleteSetBy": {"id": me},
            "completionOptions": completion_options(options),
        });
        self.patch_pull_request(repo, pr, body).await
    }

    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr))]
    async fn clear_auto_complete(&self, repo: &RepoName, pr: u32) -> Result<(), AzdoError> {
        self.patch_pull_request(repo, pr, json!({"autoCompleteSetBy": {"id": NOBODY}}))
            .await
    }
}

impl AzdoClient {
    async fn patch_pull_request(
        &self,
        repo: &RepoName,
        pr: u32,
        body: Value,
    ) -> Result<(), AzdoError> {
        let id = pr.to_string();
        let url = self.url(
            repo,
            &["git", "repositories", repo.as_str(), "pullrequests", &id],
            &[],
        );
        self.send(Call::with_body(Method::PATCH, url, body, false))
            .await?;
        Ok(())
    }
}

/// The hold an evaluation puts on the PR, if it does: blocking, enabled, and neither approved nor
/// not applicable. Enum values are compared without regard to case, as servers differ.
fn hold(evaluation: Evaluation, pr: &PrVotes) -> Option<PolicyHold> {
    let config = evaluation.configuration;
    let status = evaluation.status;
    let passes = ["approved", "notApplicable"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(&status));
    if !config.is_blocking || !config.is_enabled || config.is_deleted || passes {
        return None;
    }
    let kind = config.kind.map(|k| k.display_name).unwrap_or_default();
    let own = config.settings["displayName"].as_str().unwrap_or_default();
    let name = match (kind.is_empty(), own.is_empty()) {
        (true, true) => "A branch policy".to_owned(),
        (false, true) => kind.clone(),
        (true, false) => own.to_owned(),
        (false, false) => format!("{kind} ({own})"),
    };
    let state = match config.settings["minimumApproverCount"].as_u64() {
        Some(needed) if kind.eq_ignore_ascii_case("Minimum number of reviewers") => {
            format!("{} of {needed}", approvals(pr, &config.settings))
        }
        _ => status,
    };
    Some(PolicyHold { name, state })
}

/// Approving votes (approve, or approve with suggestions) on the PR; the author's counts only
/// when the policy says so. Approximation: Azure DevOps' own count also knows which votes a
/// push reset; this is what the PR shows now.
fn approvals(pr: &PrVotes, settings: &Value) -> usize {
    let author = pr.created_by.as_ref().map(|c| c.id.as_str());
    let author_counts = settings["creatorVoteCounts"].as_bool().unwrap_or(false);
    pr.reviewers
        .iter()
        .filter(|r| r.vote >= 5)
        .filter(|r| author_counts || Some(r.id.as_str()) != author)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn votes(reviewers: &[(&str, i32)]) -> PrVotes {
        serde_json::from_value(json!({
            "status": "active",
            "repository": {"project": {"id": "p"}},
            "createdBy": {"id": "ada"},
            "reviewers": reviewers.iter().map(|(id, vote)| json!({"id": id, "vote": vote})).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    fn evaluation(value: Value) -> Evaluation {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_reviewer_count_reads_as_how_many_of_how_many() {
        let e = evaluation(json!({"status": "rejected", "configuration": {
            "isBlocking": true, "isEnabled": true,
            "type": {"displayName": "Minimum number of reviewers"},
            "settings": {"minimumApproverCount": 2, "creatorVoteCounts": false}}}));
        let held = hold(e, &votes(&[("bot", 10), ("ada", 10), ("bob", -5)])).unwrap();
        assert_eq!(held.name, "Minimum number of reviewers");
        assert_eq!(held.state, "1 of 2");
    }

    #[test]
    fn only_blocking_enabled_unmet_policies_hold_a_pr() {
        let build = |blocking: bool, enabled: bool, status: &str| {
            evaluation(json!({"status": status, "configuration": {
                "isBlocking": blocking, "isEnabled": enabled,
                "type": {"displayName": "Build"}, "settings": {"displayName": "CI"}}}))
        };
        let pr = votes(&[]);
        let held = hold(build(true, true, "queued"), &pr).unwrap();
        assert_eq!(
            (held.name.as_str(), held.state.as_str()),
            ("Build (CI)", "queued")
        );
        assert!(hold(build(false, true, "queued"), &pr).is_none());
        assert!(hold(build(true, false, "queued"), &pr).is_none());
        assert!(hold(build(true, true, "Approved"), &pr).is_none());
        assert!(hold(build(true, true, "notapplicable"), &pr).is_none());
    }
}
