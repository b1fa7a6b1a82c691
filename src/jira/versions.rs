//! Jira versions, the fix versions of a release's tickets: found by name in a project or
//! created, set on each ticket, and marked released with the release date.

use chrono::NaiveDate;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{JiraClient, JiraError};
use crate::domain::JiraKey;
use crate::http_client::Call;

/// A version of a Jira project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraVersion {
    pub id: String,
    pub name: String,
    pub released: bool,
}

#[derive(Deserialize)]
struct VersionDto {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    released: bool,
}

#[derive(Deserialize)]
struct ProjectDto {
    id: String,
}

impl From<VersionDto> for JiraVersion {
    fn from(dto: VersionDto) -> Self {
        Self {
            id: dto.id,
            name: dto.name,
            released: dto.released,
        }
    }
}

impl JiraClient {
    /// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-project-versions/#api-rest-api-3-project-projectidorkey-versions-get
    pub(super) async fn find_version(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Option<JiraVersion>, JiraError> {
        let url = self.url(&["project", project, "versions"], &[]);
        let versions: Vec<VersionDto> = self.api.json(Call::get(url)).await?;
        Ok(versions
            .into_iter()
            .find(|v| v.name == name)
            .map(JiraVersion::from))
    }

    /// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-project-versions/#api-rest-api-3-version-post
    /// — a new version names its project by id (`projectId`; the key field is deprecated), read
    /// first from https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-projects/#api-rest-api-3-project-projectidorkey-get.
    /// Creating one needs the Administer Projects permission.
    pub(super) async fn new_version(
        &self,
        project: &str,
        name: &str,
    ) -> Result<JiraVersion, JiraError> {
        let found: ProjectDto = self
            .api
            .json(Call::get(self.url(&["project", project], &[])))
            .await?;
        let project_id: i64 = found.id.parse().map_err(|_| {
            JiraError::Unexpected(format!("project {project} has the id {:?}", found.id))
        })?;
        let body = json!({"name": name, "projectId": project_id});
        let url = self.url(&["version"], &[]);
        let created: VersionDto = self
            .api
            .json(Call::with_body(Method::POST, url, body, false))
            .await?;
        Ok(created.into())
    }

    /// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-put
    /// — an `add` of a fix version the issue has already changes nothing.
    pub(super) async fn put_fix_version(&self, key: &JiraKey, name: &str) -> Result<(), JiraError> {
        let body = json!({"update": {"fixVersions": [{"add": {"name": name}}]}});
        let url = self.url(&["issue", key.as_str()], &[]);
        self.api
            .send(Call::with_body(Method::PUT, url, body, true))
            .await?;
        Ok(())
    }

    /// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-project-versions/#api-rest-api-3-version-id-put
    pub(super) async fn mark_released(&self, id: &str, on: NaiveDate) -> Result<(), JiraError> {
        let body = json!({"released": true, "releaseDate": on.format("%Y-%m-%d").to_string()});
        let url = self.url(&["version", id], &[]);
        self.api
            .send(Call::with_body(Method::PUT, url, body, true))
            .await?;
        Ok(())
    }
}
