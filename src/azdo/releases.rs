//! Classic releases: finding the release a build created, reading it (its stages, in
//! `stages.rs`), and approving, rejecting or starting a stage.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use tracing::instrument;

use super::client::{AzdoClient, Links, List, web_link};
use super::stages::{ApprovalDto, EnvironmentDto, stages};
use super::*;
use crate::http_client::Call;

/// Classic release management: the CD release of a build, its stages, and their approvals.
#[async_trait]
pub trait ClassicReleases: Send + Sync {
    /// The classic release created from `build`, if there is one yet; of release definition
    /// `definition` (an id or a name) when one is given.
    async fn release_for_build(
        &self,
        repo: &RepoName,
        build: &Build,
        definition: Option<&str>,
    ) -> Result<Option<Release>, AzdoError>;
    /// A release with its stages and who each waiting stage waits for.
    async fn release(&self, repo: &RepoName, id: i64) -> Result<Release, AzdoError>;
    /// Approves or rejects a pending release approval, with a comment.
    async fn decide_approval(
        &self,
        repo: &RepoName,
        approval: &ApprovalId,
        approve: bool,
        comment: &str,
    ) -> Result<(), AzdoError>;
    /// Starts the deployment of a release stage that nothing else starts.
    async fn start_stage(
        &self,
        repo: &RepoName,
        release: i64,
        stage: i64,
        comment: &str,
    ) -> Result<(), AzdoError>;
}

#[derive(Deserialize)]
struct DefinitionRef {
    id: i64,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReleaseDto {
    id: i64,
    #[serde(default)]
    name: String,
    release_definition: Option<DefinitionRef>,
    #[serde(default)]
    environments: Vec<EnvironmentDto>,
    #[serde(rename = "_links")]
    links: Option<Links>,
}

#[async_trait]
impl ClassicReleases for AzdoClient {
    /// https://learn.microsoft.com/rest/api/azure/devops/release/releases/list — filtered by the
    /// build artifact (`sourceId` = project:definition, `artifactVersionId` = build id) and, when
    /// `definition` names one (by id or name), by release definition.
    #[instrument(level = "debug", skip_all, fields(build = build.id))]
    async fn release_for_build(
        &self,
        repo: &RepoName,
        build: &Build,
        definition: Option<&str>,
    ) -> Result<Option<Release>, AzdoError> {
        let source = format!("{}:{}", build.project_id, build.definition_id);
        let build_id = build.id.to_string();
        let query = [
            ("artifactTypeId", "Build"),
            ("sourceId", source.as_str()),
            ("artifactVersionId", build_id.as_str()),
            ("queryOrder", "descending"),
            ("$top", "20"),
        ];
        let list: List<ReleaseDto> = self
            .get(self.release_url(repo, &["release", "releases"], &query))
            .await?;
        let wanted = |dto: &ReleaseDto| match (definition, &dto.release_definition) {
            (None, _) => true,
            (Some(wanted), Some(d)) => {
                d.id.to_string() == wanted || d.name.eq_ignore_ascii_case(wanted)
            }
            (Some(_), None) => false,
        };
        match list.value.iter().find(|dto| wanted(dto)) {
            Some(found) => Ok(Some(self.release(repo, found.id).await?)),
            None => Ok(None),
        }
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/release/releases/update-release-environment
    /// (preview only) — starts a stage's deployment, for a stage nothing else will start (the one
    /// after a skipped stage).
    #[instrument(level = "debug", skip_all, fields(release, stage))]
    async fn start_stage(
        &self,
        repo: &RepoName,
        release: i64,
        stage: i64,
        comment: &str,
    ) -> Result<(), AzdoError> {
        let url = self.release_url(
            repo,
            &[
                "release",
                "releases",
                &release.to_string(),
                "environments",
                &stage.to_string(),
            ],
            &[],
        );
        let body = json!({"status": "inProgress", "comment": comment, "scheduledDeploymentTime": null, "variables": {}});
        self.send(Call::with_body(
            Method::PATCH,
            self.preview(url),
            body,
            false,
        ))
        .await?;
        Ok(())
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/release/releases/get-release plus
    /// https://learn.microsoft.com/rest/api/azure/devops/release/approvals/list for the ids of
    /// the approvals that are still pending.
    #[instrument(level = "debug", skip_all, fields(id))]
    async fn release(&self, repo: &RepoName, id: i64) -> Result<Release, AzdoError> {
        let id_text = id.to_string();
        let release: ReleaseDto = self
            .get(self.release_url(repo, &["release", "releases", &id_text], &[]))
            .await?;
        let query = [
            ("releaseIdsFilter", id_text.as_str()),
            ("statusFilter", "pending"),
            ("typeFilter", "all"),
        ];
        let pending: Vec<ApprovalDto> = self
            .list_all(self.release_url(repo, &["release", "approvals"], &query))
            .await?;
        Ok(Release {
            id: release.id,
            name: release.name,
            web_url: web_link(release.links).unwrap_or_default(),
            stages: stages(release.environments, pending),
        })
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/release/approvals/update
    #[instrument(level = "debug", skip_all, fields(approval = %approval, approve))]
    async fn decide_approval(
        &self,
        repo: &RepoName,
        approval: &ApprovalId,
        approve: bool,
        comment: &str,
    ) -> Result<(), AzdoError> {
        let status = if approve { "approved" } else { "rejected" };
        let url = self.release_url(repo, &["release", "approvals", approval.as_str()], &[]);
        let body = json!({"status": status, "comments": comment});
        self.send(Call::with_body(Method::PATCH, url, body, false))
            .await?;
        Ok(())
    }
}
