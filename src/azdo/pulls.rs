//! Pull requests: read, list, iterations and their changes, threads, votes, safe completion and
//! idempotent creation.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{AzdoClient, Links, List, MAX_PAGES, web_link};
use super::*;
use crate::http_client::Call;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitRef {
    commit_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityDto {
    #[serde(default)]
    id: String,
    #[serde(default)]
    display_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectRef {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepoDto {
    id: String,
    name: String,
    project: Option<ProjectRef>,
    default_branch: Option<String>,
    #[serde(default)]
    remote_url: String,
    #[serde(default)]
    web_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrDto {
    pull_request_id: u32,
    status: String,
    #[serde(default)]
    is_draft: bool,
    #[serde(default)]
    title: String,
    description: Option<String>,
    source_ref_name: String,
    target_ref_name: String,
    created_by: Option<IdentityDto>,
    last_merge_source_commit: Option<CommitRef>,
    last_merge_target_commit: Option<CommitRef>,
    last_merge_commit: Option<CommitRef>,
    merge_status: Option<String>,
    merge_failure_message: Option<String>,
    closed_date: Option<chrono::DateTime<chrono::Utc>>,
    repository: RepoDto,
    #[serde(rename = "_links")]
    links: Option<Links>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IterationDto {
    id: u32,
    source_ref_commit: Option<CommitRef>,
    target_ref_commit: Option<CommitRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangesDto {
    #[serde(default)]
    change_entries: Vec<ChangeDto>,
    #[serde(default)]
    next_skip: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeDto {
    item: Option<ItemDto>,
    change_type: Value,
    original_path: Option<String>,
}

#[derive(Deserialize)]
struct ItemDto {
    path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionData {
    authenticated_user: IdentityDto,
}

#[derive(Deserialize)]
struct Created {
    id: i64,
}

#[derive(Deserialize)]
struct ThreadDto {
    id: i64,
    #[serde(default)]
    properties: Value,
}

/// The thread property that carries the bot's key.
const THREAD_KEY: &str = "release-agent.key";

/// A property value, written plainly or wrapped as `{"$type", "$value"}` as Azure DevOps returns it.
fn property<'a>(properties: &'a Value, name: &str) -> Option<&'a str> {
    let value = properties.get(name)?;
    value
        .as_str()
        .or_else(|| value.get("$value").and_then(Value::as_str))
}

impl AzdoClient {
    /// `git/repositories/{repo}/pullRequests/{pr}/{tail…}`
    fn pr_url(&self, repo: &RepoName, pr: u32, tail: &[&str]) -> url::Url {
        let pr = pr.to_string();
        let mut segments = vec![
            "git",
            "repositories",
            repo.as_str(),
            "pullRequests",
            pr.as_str(),
        ];
        segments.extend_from_slice(tail);
        self.url(&segments, &[])
    }

    /// The PR as the flows see it. Azure DevOps only gives repositories names that
    /// [`RepoName`] accepts, so a name it refuses means an answer we do not understand.
    fn pull_request_from(&self, dto: PrDto) -> Result<PullRequest, AzdoError> {
        let repo = RepoName::parse(&dto.repository.name).map_err(AzdoError::Invalid)?;
        let web_url = web_link(dto.links)
            .unwrap_or_else(|| self.pull_request_link(&repo, i64::from(dto.pull_request_id)));
        Ok(PullRequest {
            id: dto.pull_request_id,
            repo,
            repo_id: dto.repository.id,
            title: dto.title,
            description: dto.description.unwrap_or_default(),
            source_branch: short_branch(&dto.source_ref_name),
            target_branch: short_branch(&dto.target_ref_name),
            status: match dto.status.as_str() {
                "active" => PrStatus::Active,
                "completed" => PrStatus::Completed,
                "abandoned" => PrStatus::Abandoned,
                _ => PrStatus::Other,
            },
            is_draft: dto.is_draft,
            author: dto.created_by.map(|c| c.display_name).unwrap_or_default(),
            source_commit: dto.last_merge_source_commit.map(|c| c.commit_id),
            target_commit: dto.last_merge_target_commit.map(|c| c.commit_id),
            merge_commit: dto.last_merge_commit.map(|c| c.commit_id),
            merge_status: dto.merge_status.unwrap_or_default(),
            merge_failure: dto.merge_failure_message,
            web_url,
            closed_at: dto.closed_date,
        })
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/core (connectionData, preview only)
    pub(super) async fn connection_data(&self) -> Result<Identity, AzdoError> {
        let mut url = self.settings.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["_apis", "connectionData"]);
        }
        url.query_pairs_mut().append_pair(
            "api-version",
            &format!("{}-preview.1", self.settings.api_version),
        );
        let data: ConnectionData = self.get(url).await?;
        Ok(Identity {
            id: data.authenticated_user.id,
            name: data.authenticated_user.display_name,
        })
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/repositories/get-repository
    pub(super) async fn get_repository(&self, repo: &RepoName) -> Result<Repository, AzdoError> {
        let dto: RepoDto = self
            .get(self.url(&["git", "repositories", repo.as_str()], &[]))
            .await?;
        Ok(Repository {
            id: dto.id,
            name: dto.name,
            project_id: dto.project.map(|p| p.id).unwrap_or_default(),
            default_branch: dto.default_branch.map(|b| short_branch(&b)),
            remote_url: dto.remote_url,
            web_url: dto.web_url,
        })
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-requests/get-pull-request-by-id
    pub(super) async fn get_pull_request(&self, id: u32) -> Result<PullRequest, AzdoError> {
        let dto: PrDto = self
            .get(self.url(&["git", "pullrequests", &id.to_string()], &[]))
            .await?;
        self.pull_request_from(dto)
    }

    async fn get_pull_request_in(
        &self,
        repo: &RepoName,
        id: u32,
    ) -> Result<PullRequest, AzdoError> {
        let url = self.url(
            &[
                "git",
                "repositories",
                repo.as_str(),
                "pullrequests",
                &id.to_string(),
            ],
            &[],
        );
        self.pull_request_from(self.get::<PrDto>(url).await?)
    }

    /// Active PRs matching `criteria`.
    pub(super) async fn list_active(
        &self,
        repo: &RepoName,
        criteria: &[(&str, &str)],
    ) -> Result<Vec<PullRequest>, AzdoError> {
        let mut query = vec![("searchCriteria.status", "active")];
        query.extend_from_slice(criteria);
        self.list_prs(repo, &query).await
    }

    /// PRs into `target` closed at or after `since` (also filtered here, in case an older server
    /// ignores the time range).
    pub(super) async fn list_completed(
        &self,
        repo: &RepoName,
        target: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<PullRequest>, AzdoError> {
        let target = full_branch(target);
        let min_time = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let query = [
            ("searchCriteria.status", "completed"),
            ("searchCriteria.targetRefName", target.as_str()),
            ("searchCriteria.queryTimeRangeType", "closed"),
            ("searchCriteria.minTime", min_time.as_str()),
        ];
        let found = self.list_prs(repo, &query).await?;
        Ok(found
            .into_iter()
            .filter(|pr| pr.closed_at.is_none_or(|at| at >= since))
            .collect())
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-requests/get-pull-requests
    /// (pages with `$top`/`$skip`).
    async fn list_prs(
        &self,
        repo: &RepoName,
        criteria: &[(&str, &str)],
    ) -> Result<Vec<PullRequest>, AzdoError> {
        const PAGE: usize = 100;
        let mut found = Vec::new();
        for page in 0..MAX_PAGES {
            let skip = (page * PAGE).to_string();
            let top = PAGE.to_string();
            let mut query = vec![("$top", top.as_str()), ("$skip", skip.as_str())];
            query.extend_from_slice(criteria);
            let list: List<PrDto> = self
                .get(self.url(
                    &["git", "repositories", repo.as_str(), "pullrequests"],
                    &query,
                ))
                .await?;
            let count = list.value.len();
            for dto in list.value {
                found.push(self.pull_request_from(dto)?);
            }
            if count < PAGE {
                break;
            }
        }
        Ok(found)
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-request-iterations/list
    pub(super) async fn get_iterations(
        &self,
        repo: &RepoName,
        pr: u32,
    ) -> Result<Vec<Iteration>, AzdoError> {
        let url = self.pr_url(repo, pr, &["iterations"]);
        let list: List<IterationDto> = self.get(url).await?;
        Ok(list
            .value
            .into_iter()
            .map(|i| Iteration {
                id: i.id,
                source_commit: i.source_ref_commit.map(|c| c.commit_id),
                target_commit: i.target_ref_commit.map(|c| c.commit_id),
            })
            .collect())
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-request-iteration-changes/get
    /// (`$compareTo=0`: against the merge base; pages with `nextSkip`).
    pub(super) async fn get_changes(
        &self,
        repo: &RepoName,
        pr: u32,
        iteration: u32,
    ) -> Result<Vec<FileChange>, AzdoError> {
        let mut changes = Vec::new();
        let mut skip = 0u32;
        for _ in 0..MAX_PAGES {
            let skip_text = skip.to_string();
            let query = [
                ("$compareTo", "0"),
                ("$top", "2000"),
                ("$skip", skip_text.as_str()),
            ];
            let mut url = self.pr_url(repo, pr, &["iterations", &iteration.to_string(), "changes"]);
            url.query_pairs_mut().extend_pairs(query);
            let page: ChangesDto = self.get(url).await?;
            changes.extend(page.change_entries.into_iter().filter_map(|c| {
                let path = c.item?.path?;
                let change = match c.change_type {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                Some(FileChange {
                    path,
                    change,
                    original_path: c.original_path,
                })
            }));
            if page.next_skip == 0 || page.next_skip <= skip {
                break;
            }
            skip = page.next_skip;
        }
        Ok(changes)
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-request-threads/create
    pub(super) async fn create_thread(
        &self,
        repo: &RepoName,
        pr: u32,
        thread: &NewThread,
    ) -> Result<i64, AzdoError> {
        let body = thread_body(thread)?;
        let url = self.pr_url(repo, pr, &["threads"]);
        let created: Created = self
            .api
            .json(Call::with_body(Method::POST, url, body, false))
            .await?;
        Ok(created.id)
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-request-threads/list — the
    /// thread whose `release-agent.key` property is `key`.
    pub(super) async fn thread_by_key(
        &self,
        repo: &RepoName,
        pr: u32,
        key: &str,
    ) -> Result<Option<i64>, AzdoError> {
        let url = self.pr_url(repo, pr, &["threads"]);
        let threads: List<ThreadDto> = self.get(url).await?;
        Ok(threads
            .value
            .into_iter()
            .find(|t| property(&t.properties, THREAD_KEY) == Some(key))
            .map(|t| t.id))
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-request-reviewers/create-pull-request-reviewer
    pub(super) async fn put_vote(
        &self,
        repo: &RepoName,
        pr: u32,
        reviewer: &str,
        vote: Vote,
    ) -> Result<(), AzdoError> {
        let url = self.pr_url(repo, pr, &["reviewers", reviewer]);
        let body = json!({"vote": vote.value(), "id": reviewer});
        self.api
            .send(Call::with_body(Method::PUT, url, body, true))
            .await?;
        Ok(())
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-requests/update — completes with
    /// `lastMergeSourceCommit`, then waits until Azure DevOps reports the merge done or failed.
    pub(super) async fn complete_pr(
        &self,
        repo: &RepoName,
        pr: u32,
        reviewed: &str,
        options: &CompletionOptions,
    ) -> Result<PullRequest, AzdoError> {
        let current = self.get_pull_request_in(repo, pr).await?;
        if current.status != PrStatus::Completed {
            let url = self.url(
                &[
                    "git",
                    "repositories",
                    repo.as_str(),
                    "pullrequests",
                    &pr.to_string(),
                ],
                &[],
            );
            let patch = Call::with_body(
                Method::PATCH,
                url,
                completion_body(reviewed, options),
                false,
            );
            match self.api.send(patch).await {
                Ok(_) => {}
                Err(HttpError::Conflict {
                    message, type_key, ..
                }) if is_stale(type_key.as_deref(), &message) => {
                    return Err(AzdoError::StaleSource {
                        pr,
                        reviewed: reviewed.to_owned(),
                        message,
                    });
                }
                Err(HttpError::Conflict { message, .. }) => {
                    return Err(AzdoError::MergeFailed {
                        pr,
                        reason: message,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.wait_for_merge(repo, pr).await
    }

    async fn wait_for_merge(&self, repo: &RepoName, pr: u32) -> Result<PullRequest, AzdoError> {
        let started = tokio::time::Instant::now();
        loop {
            let current = self.get_pull_request_in(repo, pr).await?;
            match (current.status, current.merge_status.as_str()) {
                (PrStatus::Completed, _) => return Ok(current),
                (PrStatus::Abandoned, _) => {
                    return Err(AzdoError::MergeFailed {
                        pr,
                        reason: "the PR was abandoned".into(),
                    });
                }
                (_, status @ ("conflicts" | "rejectedByPolicy" | "failure")) => {
                    let detail = current.merge_failure.unwrap_or_default();
                    return Err(AzdoError::MergeFailed {
                        pr,
                        reason: format!("merge status {status} {detail}")
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

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-requests/create — when an active
    /// PR for the same branches exists (409), that one is returned.
    pub(super) async fn create_pr(
        &self,
        repo: &RepoName,
        new: &NewPullRequest,
    ) -> Result<PullRequest, AzdoError> {
        let source = full_branch(&new.source_branch);
        let target = full_branch(&new.target_branch);
        let body = json!({
            "sourceRefName": source,
            "targetRefName": target,
            "title": new.title,
            "description": truncate_chars(&new.description, 4000),
        });
        let url = self.url(
            &["git", "repositories", repo.as_str(), "pullrequests"],
            &[("supportsIterations", "true")],
        );
        match self
            .api
            .json::<PrDto>(Call::with_body(Method::POST, url, body, false))
            .await
        {
            Ok(dto) => self.pull_request_from(dto),
            Err(HttpError::Conflict { message, .. }) => {
                let criteria = [
                    ("searchCriteria.sourceRefName", source.as_str()),
                    ("searchCriteria.targetRefName", target.as_str()),
                ];
                let existing = self.list_active(repo, &criteria).await?;
                existing.into_iter().next().ok_or_else(|| {
                    AzdoError::Invalid(format!("Azure DevOps refused the PR ({message}) but no active PR for those branches exists"))
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Azure DevOps says "the source moved" with this type key (and TF401192 in the message).
fn is_stale(type_key: Option<&str>, message: &str) -> bool {
    type_key == Some("GitPullRequestStaleException") || message.contains("TF401192")
}

fn completion_body(reviewed: &str, options: &CompletionOptions) -> Value {
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
    json!({
        "status": "completed",
        "lastMergeSourceCommit": {"commitId": reviewed},
        "completionOptions": completion,
    })
}

/// The thread body, refusing anchors that would land nowhere: paths get their leading `/`,
/// lines and offsets start at 1, and the end never comes before the start.
fn thread_body(thread: &NewThread) -> Result<Value, AzdoError> {
    let status = match thread.status {
        ThreadStatus::Active => "active",
        ThreadStatus::Closed => "closed",
    };
    let mut body = json!({
        "comments": [{"parentCommentId": 0, "content": truncate_chars(&thread.content, 150_000), "commentType": 1}],
        "status": status,
    });
    if let Some(key) = &thread.key {
        body["properties"] = json!({THREAD_KEY: {"$type": "System.String", "$value": key}});
    }
    if let Some(anchor) = &thread.anchor {
        let path = anchor.path.trim();
        if path.is_empty() || path.split('/').any(|part| part == "..") {
            return Err(AzdoError::Invalid(format!(
                "cannot anchor a comment on path {path:?}"
            )));
        }
        if anchor.start_line == 0 || anchor.end_line < anchor.start_line {
            return Err(AzdoError::Invalid(format!(
                "cannot anchor a comment on lines {}..{} of {path}",
                anchor.start_line, anchor.end_line
            )));
        }
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        body["threadContext"] = json!({
            "filePath": path,
            "rightFileStart": {"line": anchor.start_line, "offset": 1},
            "rightFileEnd": {"line": anchor.end_line, "offset": 1},
        });
    }
    Ok(body)
}

fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_anchors_get_a_leading_slash_and_one_based_offsets() {
        let thread = NewThread {
            content: "x".into(),
            anchor: Some(Anchor {
                path: "src/lib.rs".into(),
                start_line: 4,
                end_line: 6,
            }),
            status: ThreadStatus::Active,
            key: None,
        };
        let body = thread_body(&thread).unwrap();
        assert_eq!(
            body["threadContext"],
            json!({"filePath": "/src/lib.rs", "rightFileStart": {"line": 4, "offset": 1}, "rightFileEnd": {"line": 6, "offset": 1}})
        );
    }

    #[test]
    fn anchors_that_would_land_nowhere_are_refused() {
        for (path, start, end) in [
            ("", 1, 1),
            ("src/x.rs", 0, 1),
            ("src/x.rs", 5, 4),
            ("../etc/passwd", 1, 1),
        ] {
            let thread = NewThread {
                content: "x".into(),
                anchor: Some(Anchor {
                    path: path.into(),
                    start_line: start,
                    end_line: end,
                }),
                status: ThreadStatus::Active,
                key: None,
            };
            assert!(
                matches!(thread_body(&thread), Err(AzdoError::Invalid(_))),
                "{path} {start} {end}"
            );
        }
    }

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
