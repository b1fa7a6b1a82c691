//! The Jira Cloud client (REST v3): read an issue, move it to a status by name (`moving.rs`),
//! create issues and comments in Atlassian Document Format, search with `nextPageToken` paging,
//! and fix versions (`versions.rs`). Flows use the
//! [`Jira`] trait; [`JiraClient`] implements it. Auth and retries follow the shared HTTP rules.

pub mod adf;
mod dto;
mod moving;
mod transitions;
mod versions;

pub use versions::JiraVersion;

use async_trait::async_trait;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use url::Url;

use crate::domain::JiraKey;
use crate::http_client::{Call, HttpError, JsonApi, RetryPolicy};
use adf::Document;
use dto::{CommentDto, CreatedDto, FieldsDto, IssueDto, SearchDto};
use tracing::instrument;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JiraError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// No way from the issue's status (after the transitions in `through`) to the target.
    #[error(
        "{key} cannot move from {current} to {target}{}: {}",
        through_text(through),
        reachable_text(reachable)
    )]
    NoPath {
        key: JiraKey,
        current: String,
        target: String,
        reachable: Vec<String>,
        /// The transitions taken on the way before the walk stopped.
        through: Vec<String>,
    },
    /// The transition's screen requires a Resolution, and JIRA_RESOLUTION is not one it offers.
    #[error(
        "{key} cannot take the transition {transition}: it requires a Resolution, and \
         JIRA_RESOLUTION `{wanted}` is not one of {}",
        allowed.join(", ")
    )]
    Resolution {
        key: JiraKey,
        transition: String,
        wanted: String,
        allowed: Vec<String>,
    },
    #[error("Jira answered something unexpected: {0}")]
    Unexpected(String),
}

fn through_text(through: &[String]) -> String {
    if through.is_empty() {
        String::new()
    } else {
        format!(" (after {})", through.join(" → "))
    }
}

fn reachable_text(reachable: &[String]) -> String {
    if reachable.is_empty() {
        "no transition is available (the bot account may lack the Transition issues permission)"
            .into()
    } else {
        format!("from there it can only go to {}", reachable.join(", "))
    }
}

impl JiraError {
    /// Whether the same call may work later: only a failed request can.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Http(e) if e.is_transient())
    }

    /// How long Jira asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Http(e) => e.retry_after(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub key: JiraKey,
    pub summary: String,
    pub status: String,
    pub issue_type: String,
    /// The page a human opens.
    pub url: String,
}

/// What moving an issue did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    AlreadyThere,
    /// `transition`: the transitions taken, joined with ` → `.
    Moved {
        from: String,
        transition: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIssue {
    pub project: String,
    pub issue_type: String,
    pub summary: String,
    pub description: Document,
    pub labels: Vec<String>,
}

/// What the flows need from Jira.
#[async_trait]
pub trait Jira: Send + Sync {
    /// The account behind the token, for `check`.
    async fn myself(&self) -> Result<String, JiraError>;
    async fn issue(&self, key: &JiraKey) -> Result<Issue, JiraError>;
    /// Moves `key` to the status named `status` through whichever transition leads there.
    async fn move_to(&self, key: &JiraKey, status: &str) -> Result<Moved, JiraError>;
    async fn create_issue(&self, new: &NewIssue) -> Result<Issue, JiraError>;
    /// Adds a comment; returns its id.
    async fn comment(&self, key: &JiraKey, body: &Document) -> Result<String, JiraError>;
    /// All issues matching `jql` (which must be bounded), up to `limit`.
    async fn search(&self, jql: &str, limit: usize) -> Result<Vec<Issue>, JiraError>;
    /// The version of `project` named `name`, if there is one.
    async fn version(&self, project: &str, name: &str) -> Result<Option<JiraVersion>, JiraError>;
    async fn create_version(&self, project: &str, name: &str) -> Result<JiraVersion, JiraError>;
    /// Adds the version named `name` (of the issue's project) to the issue's fix versions.
    async fn add_fix_version(&self, key: &JiraKey, name: &str) -> Result<(), JiraError>;
    /// Marks version `id` released on `on`.
    async fn release_version(&self, id: &str, on: chrono::NaiveDate) -> Result<(), JiraError>;
}

#[derive(Debug, Clone)]
pub struct JiraSettings {
    /// `https://{site}.atlassian.net`
    pub base_url: Url,
    pub email: String,
    pub token: SecretString,
    pub retry: RetryPolicy,
    pub proxy: crate::proxy::Proxies,
    /// The Resolution given to a transition whose screen requires one (JIRA_RESOLUTION).
    pub resolution: String,
}

pub struct JiraClient {
    api: JsonApi,
    base_url: Url,
    resolution: String,
}

const FIELDS: &str = "summary,status,issuetype";
const MAX_PAGES: usize = 50;

impl JiraClient {
    pub fn new(settings: JiraSettings) -> Result<Self, HttpError> {
        let api = JsonApi::new(
            "Jira",
            "JIRA_API_TOKEN",
            &settings.email,
            settings.token,
            &[],
            settings.retry,
            &settings.proxy,
        )?;
        Ok(Self {
            api,
            base_url: settings.base_url,
            resolution: settings.resolution,
        })
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["rest", "api", "3"])
                .extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    fn issue_from(&self, dto: IssueDto) -> Result<Issue, JiraError> {
        let key = JiraKey::parse(&dto.key)
            .ok_or_else(|| JiraError::Unexpected(format!("issue key {:?}", dto.key)))?;
        let fields = dto.fields.unwrap_or(FieldsDto {
            summary: String::new(),
            status: None,
            issuetype: None,
        });
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["browse", key.as_str()]);
        }
        Ok(Issue {
            url: url.to_string(),
            key,
            summary: fields.summary,
            status: fields.status.map(|s| s.name).unwrap_or_default(),
            issue_type: fields.issuetype.map(|t| t.name).unwrap_or_default(),
        })
    }
}

#[async_trait]
impl Jira for JiraClient {
    /// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-myself/
    #[instrument(level = "debug", skip_all)]
    async fn myself(&self) -> Result<String, JiraError> {
        let me: Value = self.api.json(Call::get(self.url(&["myself"], &[]))).await?;
        Ok(me["displayName"]
            .as_str()
            .or(me["emailAddress"].as_str())
            .unwrap_or_default()
            .to_owned())
    }

    /// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-get
    #[instrument(level = "debug", skip_all, fields(key = %key))]
    async fn issue(&self, key: &JiraKey) -> Result<Issue, JiraError> {
        let dto: IssueDto = self
            .api
            .json(Call::get(
                self.url(&["issue", key.as_str()], &[("fields", FIELDS)]),
            ))
            .await?;
        self.issue_from(dto)
    }

    /// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-transitions-post
    /// (see `moving.rs`).
    #[instrument(level = "debug", skip_all, fields(key = %key, status))]
    async fn move_to(&self, key: &JiraKey, status: &str) -> Result<Moved, JiraError> {
        self.walk_to(key, status).await
    }

    /// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post
    #[instrument(level = "debug", skip_all, fields(project = %new.project))]
    async fn create_issue(&self, new: &NewIssue) -> Result<Issue, JiraError> {
        let summary: String = new
            .summary
            .replace(['\n', '\r'], " ")
            .chars()
            .take(255)
            .collect();
        let body = json!({"fields": {
            "project": {"key": new.project},
            "issuetype": {"name": new.issue_type},
            "summary": summary,
            "description": new.description.to_json(),
            "labels": new.labels,
        }});
        let created: CreatedDto = self
            .api
            .json(Call::with_body(
                Method::POST,
                self.url(&["issue"], &[]),
                body,
                false,
            ))
            .await?;
        let key = JiraKey::parse(&created.key)
            .ok_or_else(|| JiraError::Unexpected(format!("issue key {:?}", created.key)))?;
        self.issue(&key).await
    }

    /// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-post
    #[instrument(level = "debug", skip_all, fields(key = %key))]
    async fn comment(&self, key: &JiraKey, body: &Document) -> Result<String, JiraError> {
        let url = self.url(&["issue", key.as_str(), "comment"], &[]);
        let created: CommentDto = self
            .api
            .json(Call::with_body(
                Method::POST,
                url,
                json!({"body": body.to_json()}),
                false,
            ))
            .await?;
        Ok(created.id)
    }

    #[instrument(level = "debug", skip_all, fields(project, name))]
    async fn version(&self, project: &str, name: &str) -> Result<Option<JiraVersion>, JiraError> {
        self.find_version(project, name).await
    }

    #[instrument(level = "debug", skip_all, fields(project, name))]
    async fn create_version(&self, project: &str, name: &str) -> Result<JiraVersion, JiraError> {
        self.new_version(project, name).await
    }

    #[instrument(level = "debug", skip_all, fields(key = %key, name))]
    async fn add_fix_version(&self, key: &JiraKey, name: &str) -> Result<(), JiraError> {
        self.put_fix_version(key, name).await
    }

    #[instrument(level = "debug", skip_all, fields(id))]
    async fn release_version(&self, id: &str, on: chrono::NaiveDate) -> Result<(), JiraError> {
        self.mark_released(id, on).await
    }

    /// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-post
    #[instrument(level = "debug", skip_all, fields(limit))]
    async fn search(&self, jql: &str, limit: usize) -> Result<Vec<Issue>, JiraError> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let body = json!({"jql": jql, "fields": ["summary", "status", "issuetype"], "maxResults": 100, "nextPageToken": token});
            let page: SearchDto = self
                .api
                .json(Call::with_body(
                    Method::POST,
                    self.url(&["search", "jql"], &[]),
                    body,
                    true,
                ))
                .await?;
            for issue in page.issues {
                found.push(self.issue_from(issue)?);
            }
            match page.next_page_token {
                Some(next)
                    if !page.is_last && found.len() < limit && Some(&next) != token.as_ref() =>
                {
                    token = Some(next)
                }
                _ => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }
}
