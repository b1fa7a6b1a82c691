//! Refs in Azure Repos: version tags, read through the refs API and made through the annotated
//! tags API (preview before api-version 7.0, as every Server before 2022 has it), and branches,
//! read and created through the refs API.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use tracing::instrument;

use super::client::{AzdoClient, List};
use super::*;
use crate::http_client::Call;

/// Tags and branches in a repository.
#[async_trait]
pub trait Refs: Send + Sync {
    /// The commit the tag `name` points at, if the tag exists.
    async fn tagged_commit(&self, repo: &RepoName, name: &str)
    -> Result<Option<String>, AzdoError>;
    /// The commit branch `name` is at, if the branch exists.
    async fn branch_head(&self, repo: &RepoName, name: &str) -> Result<Option<String>, AzdoError>;
    /// Creates branch `name` at `commit`; refused (an error) if the branch exists.
    async fn create_branch(
        &self,
        repo: &RepoName,
        name: &str,
        commit: &str,
    ) -> Result<(), AzdoError>;
    /// Creates the annotated tag `name` on `commit` with `message`.
    async fn create_tag(
        &self,
        repo: &RepoName,
        name: &str,
        commit: &str,
        message: &str,
    ) -> Result<(), AzdoError>;
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefDto {
    name: String,
    object_id: String,
    /// The commit an annotated tag points at; absent for a lightweight tag.
    peeled_object_id: Option<String>,
}

/// One ref update's result: Azure DevOps answers 200 for the request and says per ref whether
/// it was made.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefUpdateDto {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    update_status: String,
    #[serde(default)]
    custom_message: Option<String>,
}

impl AzdoClient {
    /// https://learn.microsoft.com/rest/api/azure/devops/git/refs/list — `filter` is a prefix
    /// (`tags/v1.2.3`, `heads/main`), so the exact name is picked from what it lists; an
    /// annotated tag is peeled to its commit.
    async fn ref_commit(&self, repo: &RepoName, name: &str) -> Result<Option<String>, AzdoError> {
        let url = self.url(
            repo,
            &["git", "repositories", repo.as_str(), "refs"],
            &[("filter", name), ("peelTags", "true")],
        );
        let refs: List<RefDto> = self.get(url).await?;
        let full = format!("refs/{name}");
        Ok(refs
            .value
            .into_iter()
            .find(|r| r.name == full)
            .map(|r| r.peeled_object_id.unwrap_or(r.object_id)))
    }
}

#[async_trait]
impl Refs for AzdoClient {
    #[instrument(level = "debug", skip_all, fields(repo = %repo, name))]
    async fn tagged_commit(
        &self,
        repo: &RepoName,
        name: &str,
    ) -> Result<Option<String>, AzdoError> {
        self.ref_commit(repo, &format!("tags/{name}")).await
    }

    #[instrument(level = "debug", skip_all, fields(repo = %repo, name))]
    async fn branch_head(&self, repo: &RepoName, name: &str) -> Result<Option<String>, AzdoError> {
        self.ref_commit(repo, &format!("heads/{name}")).await
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/refs/update-refs — from the zero
    /// object id, so an existing branch is never moved.
    #[instrument(level = "debug", skip_all, fields(repo = %repo, name, commit))]
    async fn create_branch(
        &self,
        repo: &RepoName,
        name: &str,
        commit: &str,
    ) -> Result<(), AzdoError> {
        let url = self.url(repo, &["git", "repositories", repo.as_str(), "refs"], &[]);
        let body = json!([{
            "name": format!("refs/heads/{name}"),
            "oldObjectId": "0000000000000000000000000000000000000000",
            "newObjectId": commit,
        }]);
        let answer: List<RefUpdateDto> = self
            .json(Call::with_body(Method::POST, url, body, false))
            .await?;
        match answer.value.into_iter().next() {
            Some(update) if update.success => Ok(()),
            Some(update) => Err(AzdoError::Invalid(format!(
                "Azure DevOps did not create the branch {name}: {}{}",
                update.update_status,
                update
                    .custom_message
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ))),
            None => Err(AzdoError::Invalid(format!(
                "Azure DevOps answered the creation of the branch {name} with no result"
            ))),
        }
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/annotated-tags/create
    #[instrument(level = "debug", skip_all, fields(repo = %repo, name, commit))]
    async fn create_tag(
        &self,
        repo: &RepoName,
        name: &str,
        commit: &str,
        message: &str,
    ) -> Result<(), AzdoError> {
        let url = self.url(
            repo,
            &["git", "repositories", repo.as_str(), "annotatedtags"],
            &[],
        );
        let body = json!({"name": name, "taggedObject": {"objectId": commit}, "message": message});
        let url = self.preview_before(&[7, 0], url);
        self.send(Call::with_body(Method::POST, url, body, false))
            .await?;
        Ok(())
    }
}
