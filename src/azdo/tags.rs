//! Version tags in Azure Repos: read through the refs API, made through the annotated tags API
//! (preview before api-version 7.0, as every Server before 2022 has it).

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use tracing::instrument;

use super::client::{AzdoClient, List};
use super::*;
use crate::http_client::Call;

/// Tags in a repository.
#[async_trait]
pub trait Tags: Send + Sync {
    /// The commit the tag `name` points at, if the tag exists.
    async fn tagged_commit(&self, repo: &RepoName, name: &str)
    -> Result<Option<String>, AzdoError>;
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

#[async_trait]
impl Tags for AzdoClient {
    /// https://learn.microsoft.com/rest/api/azure/devops/git/refs/list — `filter` is a prefix,
    /// so the exact name is picked from what it lists.
    #[instrument(level = "debug", skip_all, fields(repo = %repo, name))]
    async fn tagged_commit(
        &self,
        repo: &RepoName,
        name: &str,
    ) -> Result<Option<String>, AzdoError> {
        let filter = format!("tags/{name}");
        let url = self.url(
            repo,
            &["git", "repositories", repo.as_str(), "refs"],
            &[("filter", &filter), ("peelTags", "true")],
        );
        let refs: List<RefDto> = self.get(url).await?;
        let full = format!("refs/tags/{name}");
        Ok(refs
            .value
            .into_iter()
            .find(|r| r.name == full)
            .map(|r| r.peeled_object_id.unwrap_or(r.object_id)))
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
