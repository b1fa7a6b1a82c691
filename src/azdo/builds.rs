//! Builds: finding a repository's CI definition, queueing a build, reading its state.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use tracing::instrument;

use super::client::{AzdoClient, Links, List, web_link};
use super::*;
use crate::http_client::Call;

/// CI builds: which definition builds a repository, queueing a build and following it.
#[async_trait]
pub trait Builds: Send + Sync {
    /// The CI definition of `repo`: the REPOS_CONFIG override, or the one that builds it.
    async fn ci_definition(
        &self,
        repo: &RepoName,
        configured: Option<&str>,
    ) -> Result<BuildDefinition, AzdoError>;
    async fn queue_build(
        &self,
        repo: &RepoName,
        definition: i64,
        branch: &str,
        commit: Option<&str>,
    ) -> Result<Build, AzdoError>;
    async fn build(&self, repo: &RepoName, id: i64) -> Result<Build, AzdoError>;
    /// Recent builds of a definition on a branch, newest first (to find one already queued).
    async fn recent_builds(
        &self,
        repo: &RepoName,
        definition: i64,
        branch: &str,
    ) -> Result<Vec<Build>, AzdoError>;
}

#[derive(Deserialize)]
struct DefinitionDto {
    id: i64,
    name: String,
}

#[derive(Deserialize)]
struct IdRef {
    id: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BuildDto {
    id: i64,
    #[serde(default)]
    build_number: String,
    status: Option<String>,
    result: Option<String>,
    definition: IdRef,
    project: Option<IdRef>,
    #[serde(default)]
    source_branch: String,
    source_version: Option<String>,
    triggered_by_build: Option<BuildIdDto>,
    #[serde(rename = "_links")]
    links: Option<Links>,
}

#[derive(Deserialize)]
struct BuildIdDto {
    id: i64,
}

/// Build status and result as one state: `result` only means something once completed. Enum
/// values are compared without regard to case: servers differ in how they spell them.
fn state(status: Option<&str>, result: Option<&str>) -> BuildState {
    let status = status.map(str::to_ascii_lowercase);
    let result = result.map(str::to_ascii_lowercase);
    match (status.as_deref(), result.as_deref()) {
        (Some("completed"), Some("succeeded")) => BuildState::Succeeded,
        (Some("completed"), Some("partiallysucceeded")) => BuildState::PartiallySucceeded,
        (Some("completed"), Some("canceled")) => BuildState::Canceled,
        (Some("completed"), _) => BuildState::Failed,
        (Some("inprogress" | "cancelling"), _) => BuildState::Running,
        _ => BuildState::Queued,
    }
}

fn id_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl AzdoClient {
    fn build_from(&self, dto: BuildDto) -> Build {
        Build {
            id: dto.id,
            number: dto.build_number,
            definition_id: dto.definition.id.as_i64().unwrap_or_default(),
            project_id: dto.project.map(|p| id_text(&p.id)).unwrap_or_default(),
            state: state(dto.status.as_deref(), dto.result.as_deref()),
            source_branch: short_branch(&dto.source_branch),
            source_commit: dto.source_version,
            triggered_by: dto.triggered_by_build.map(|b| b.id),
            web_url: web_link(dto.links).unwrap_or_default(),
        }
    }
}

#[async_trait]
impl Builds for AzdoClient {
    /// https://learn.microsoft.com/rest/api/azure/devops/build/definitions/list — the configured
    /// definition (id or name), else the one definition that builds this repository.
    #[instrument(level = "debug", skip_all, fields(repo = %repo))]
    async fn ci_definition(
        &self,
        repo: &RepoName,
        configured: Option<&str>,
    ) -> Result<BuildDefinition, AzdoError> {
        let candidates: Vec<DefinitionDto> = match configured {
            Some(id) if id.parse::<i64>().is_ok() => {
                vec![
                    self.get(self.url(repo, &["build", "definitions", id], &[]))
                        .await?,
                ]
            }
            Some(name) => {
                self.list_all(self.url(repo, &["build", "definitions"], &[("name", name)]))
                    .await?
            }
            None => {
                let repository = self.repository(repo).await?;
                let query = [
                    ("repositoryId", repository.id.as_str()),
                    ("repositoryType", "TfsGit"),
                ];
                self.list_all(self.url(repo, &["build", "definitions"], &query))
                    .await?
            }
        };
        pick_definition(repo, configured, candidates)
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/build/builds/queue
    #[instrument(level = "debug", skip_all, fields(definition, branch, commit))]
    async fn queue_build(
        &self,
        repo: &RepoName,
        definition: i64,
        branch: &str,
        commit: Option<&str>,
    ) -> Result<Build, AzdoError> {
        let mut body = json!({"definition": {"id": definition}, "sourceBranch": full_branch(branch), "reason": "manual"});
        if let Some(commit) = commit {
            body["sourceVersion"] = json!(commit);
        }
        let dto: BuildDto = self
            .json(Call::with_body(
                Method::POST,
                self.url(repo, &["build", "builds"], &[]),
                body,
                false,
            ))
            .await?;
        Ok(self.build_from(dto))
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/build/builds/get
    #[instrument(level = "debug", skip_all, fields(id))]
    async fn build(&self, repo: &RepoName, id: i64) -> Result<Build, AzdoError> {
        let dto: BuildDto = self
            .get(self.url(repo, &["build", "builds", &id.to_string()], &[]))
            .await?;
        Ok(self.build_from(dto))
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/build/builds/list
    #[instrument(level = "debug", skip_all, fields(definition, branch))]
    async fn recent_builds(
        &self,
        repo: &RepoName,
        definition: i64,
        branch: &str,
    ) -> Result<Vec<Build>, AzdoError> {
        self.builds_of(repo, definition, Some(branch)).await
    }
}

impl AzdoClient {
    /// The 20 newest builds of a definition, on `branch` if one is given.
    pub(super) async fn builds_of(
        &self,
        repo: &RepoName,
        definition: i64,
        branch: Option<&str>,
    ) -> Result<Vec<Build>, AzdoError> {
        let definition = definition.to_string();
        let branch = branch.map(full_branch);
        let mut query = vec![
            ("definitions", definition.as_str()),
            ("queryOrder", "queueTimeDescending"),
            ("$top", "20"),
        ];
        if let Some(branch) = &branch {
            query.push(("branchName", branch.as_str()));
        }
        let list: List<BuildDto> = self
            .get(self.url(repo, &["build", "builds"], &query))
            .await?;
        Ok(list.value.into_iter().map(|b| self.build_from(b)).collect())
    }
}

/// One definition, or an error that says how to choose.
fn pick_definition(
    repo: &RepoName,
    configured: Option<&str>,
    mut candidates: Vec<DefinitionDto>,
) -> Result<BuildDefinition, AzdoError> {
    if candidates.len() > 1
        && let Some(i) = candidates.iter().position(|d| repo.same_as(&d.name))
    {
        candidates = vec![candidates.swap_remove(i)];
    }
    match (candidates.len(), configured) {
        (1, _) => {
            let d = candidates.remove(0);
            Ok(BuildDefinition {
                id: d.id,
                name: d.name,
            })
        }
        (0, Some(configured)) => Err(AzdoError::Invalid(format!(
            "REPOS_CONFIG names the CI definition `{configured}` for {repo}, but Azure DevOps has no such definition"
        ))),
        (0, None) => Err(AzdoError::Invalid(format!(
            "no build definition builds {repo}; set its ci_definition in REPOS_CONFIG"
        ))),
        _ => {
            let names: Vec<String> = candidates
                .iter()
                .map(|d| format!("{} ({})", d.name, d.id))
                .collect();
            Err(AzdoError::Invalid(format!(
                "several build definitions build {repo}: {}; choose one with ci_definition in REPOS_CONFIG",
                names.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_state_follows_status_then_result() {
        assert_eq!(state(Some("notStarted"), None), BuildState::Queued);
        assert_eq!(state(Some("inProgress"), None), BuildState::Running);
        assert_eq!(
            state(Some("completed"), Some("succeeded")),
            BuildState::Succeeded
        );
        assert_eq!(state(Some("completed"), Some("failed")), BuildState::Failed);
        assert_eq!(
            state(Some("completed"), Some("canceled")),
            BuildState::Canceled
        );
        assert_eq!(state(Some("completed"), None), BuildState::Failed);
    }

    #[test]
    fn enum_values_are_read_whatever_their_case() {
        assert_eq!(
            state(Some("Completed"), Some("Succeeded")),
            BuildState::Succeeded
        );
        assert_eq!(
            state(Some("COMPLETED"), Some("PartiallySucceeded")),
            BuildState::PartiallySucceeded
        );
        assert_eq!(state(Some("InProgress"), None), BuildState::Running);
    }

    #[test]
    fn definitions_are_picked_by_repository_name_when_several_build_it() {
        let repo = RepoName::parse("Billo.Api").unwrap();
        let defs = |names: &[&str]| -> Vec<DefinitionDto> {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| DefinitionDto {
                    id: i as i64,
                    name: (*n).into(),
                })
                .collect()
        };
        assert_eq!(
            pick_definition(&repo, None, defs(&["nightly", "billo.api"]))
                .unwrap()
                .id,
            1
        );
        let several = pick_definition(&repo, None, defs(&["a", "b"]))
            .unwrap_err()
            .to_string();
        assert!(
            several.contains("several build definitions build Billo.Api: a (0), b (1)"),
            "{several}"
        );
        let none = pick_definition(&repo, None, defs(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            none.contains("set its ci_definition in REPOS_CONFIG"),
            "{none}"
        );
    }
}
