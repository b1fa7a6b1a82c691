//! Pull requests: read, list, safe completion and idempotent creation.

use async_trait::async_trait;
use reqwest::Method;
use serde_json::json;
use tracing::instrument;

use super::client::{AzdoClient, IdentityDto, List, MAX_PAGES, web_link};
use super::completion::{completion_body, is_stale};
pub(super) use super::pull_dto::CommitRef;
use super::pull_dto::{PrDto, RepoDto};
use super::*;
use crate::http_client::Call;

/// Pull requests and the repositories they live in.
#[async_trait]
pub trait PullRequests: Send + Sync {
    async fn repository(&self, repo: &RepoName) -> Result<Repository, AzdoError>;
    /// A PR by id, at project level: no repository needed.
    async fn pull_request(&self, id: u32) -> Result<PullRequest, AzdoError>;
    /// The active PRs of `repo` that target `target_branch`.
    async fn active_pull_requests(
        &self,
        repo: &RepoName,
        target_branch: &str,
    ) -> Result<Vec<PullRequest>, AzdoError>;
    /// The PRs of `repo` into `target_branch` completed at or after `since`.
    async fn completed_pull_requests(
        &self,
        repo: &RepoName,
        target_branch: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<PullRequest>, AzdoError>;
    /// Completes a PR only if its source is still at `reviewed_commit`, and waits until the merge
    /// is really done.
    async fn complete(
        &self,
        repo: &RepoName,
        pr: u32,
        reviewed_commit: &str,
        options: &CompletionOptions,
    ) -> Result<PullRequest, AzdoError>;
    /// Creates a PR, or returns the active one that already exists for the same branches.
    async fn create_pull_request(
        &self,
        repo: &RepoName,
        new: &NewPullRequest,
    ) -> Result<PullRequest, AzdoError>;
}

#[async_trait]
impl PullRequests for AzdoClient {
    /// https://learn.microsoft.com/rest/api/azure/devops/git/repositories/get-repository
    #[instrument(level = "debug", skip_all, fields(repo = %repo))]
    async fn repository(&self, repo: &RepoName) -> Result<Repository, AzdoError> {
        let dto: RepoDto = self
            .get(self.url(repo, &["git", "repositories", repo.as_str()], &[]))
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
    /// — PR ids are unique in a collection, so a PR not found in `AZDO_PROJECT` is looked for in
    /// the other projects REPOS_CONFIG names.
    #[instrument(level = "debug", skip_all, fields(pr = id))]
    async fn pull_request(&self, id: u32) -> Result<PullRequest, AzdoError> {
        let id = id.to_string();
        let mut missing = None;
        for project in self.projects() {
            let url = self.url_in(project, &["git", "pullrequests", &id], &[]);
            match self.get::<PrDto>(url).await {
                Ok(dto) => return self.pull_request_from(dto),
                Err(AzdoError::Http(e @ HttpError::NotFound { .. })) => missing = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(missing.map_or_else(
            || AzdoError::Invalid("no Azure DevOps project is configured".into()),
            AzdoError::Http,
        ))
    }

    #[instrument(level = "debug", skip_all, fields(repo = %repo, branch = target_branch))]
    async fn active_pull_requests(
        &self,
        repo: &RepoName,
        target_branch: &str,
    ) -> Result<Vec<PullRequest>, AzdoError> {
        let target = full_branch(target_branch);
        self.list_active(repo, &[("searchCriteria.targetRefName", &target)])
            .await
    }

    /// PRs into `target` closed at or after `since`. The time range (`minTime`) is 7.1 only;
    /// an older server ignores it, so there only the newest page (100 PRs, newest first) is read
    /// and filtered here: the poller's look stays one request per repository.
    #[instrument(level = "debug", skip_all, fields(repo = %repo, branch = target_branch))]
    async fn completed_pull_requests(
        &self,
        repo: &RepoName,
        target_branch: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<PullRequest>, AzdoError> {
        let target = full_branch(target_branch);
        let min_time = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let query = [
            ("searchCriteria.status", "completed"),
            ("searchCriteria.targetRefName", target.as_str()),
            ("searchCriteria.queryTimeRangeType", "closed"),
            ("searchCriteria.minTime", min_time.as_str()),
        ];
        let found = self
            .list_prs(repo, &query, Paging::NewestOnlyBelow71)
            .await?;
        Ok(found
            .into_iter()
            .filter(|pr| pr.closed_at.is_none_or(|at| at >= since))
            .collect())
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-requests/update — completes with
    /// `lastMergeSourceCommit`, then waits until Azure DevOps reports the merge done or failed.
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr, commit = reviewed_commit))]
    async fn complete(
        &self,
        repo: &RepoName,
        pr: u32,
        reviewed_commit: &str,
        options: &CompletionOptions,
    ) -> Result<PullRequest, AzdoError> {
        let current = self.get_pull_request_in(repo, pr).await?;
        if current.status != PrStatus::Completed {
            let url = self.url(
                repo,
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
                completion_body(reviewed_commit, options),
                false,
            );
            match self.send(patch).await {
                Ok(_) => {}
                Err(HttpError::Conflict {
                    message, type_key, ..
                }) if is_stale(type_key.as_deref(), &message) => {
                    return Err(AzdoError::StaleSource {
                        pr,
                        reviewed: reviewed_commit.to_owned(),
                        message,
                    });
                }
                // Azure DevOps refused this completion (a policy, a permission, a conflict):
                // its own message says why, and the same call may work once that is fixed.
                Err(
                    HttpError::Conflict { message, .. }
                    | HttpError::Forbidden { message, .. }
                    | HttpError::Status {
                        status: 400,
                        message,
                        ..
                    },
                ) => {
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

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-requests/create — when an active
    /// PR for the same branches exists (409), that one is returned.
    #[instrument(level = "debug", skip_all, fields(repo = %repo, source = %new.source_branch, target = %new.target_branch))]
    async fn create_pull_request(
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
            repo,
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

impl AzdoClient {
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
            labels: dto
                .labels
                .into_iter()
                .filter(|l| l.active)
                .map(|l| l.name)
                .collect(),
            source_branch: short_branch(&dto.source_ref_name),
            target_branch: short_branch(&dto.target_ref_name),
            status: match dto.status.to_ascii_lowercase().as_str() {
                "active" => PrStatus::Active,
                "completed" => PrStatus::Completed,
                "abandoned" => PrStatus::Abandoned,
                _ => PrStatus::Other,
            },
            is_draft: dto.is_draft,
            author_email: dto.created_by.as_ref().and_then(IdentityDto::email),
            author: dto.created_by.map(|c| c.display_name).unwrap_or_default(),
            source_commit: dto.last_merge_source_commit.map(|c| c.commit_id),
            target_commit: dto.last_merge_target_commit.map(|c| c.commit_id),
            merge_commit: dto.last_merge_commit.map(|c| c.commit_id),
            merge_status: dto.merge_status.unwrap_or_default(),
            merge_failure: dto.merge_failure_message,
            auto_complete: dto
                .auto_complete_set_by
                .is_some_and(|by| !by.id.is_empty() && by.id != super::policies::NOBODY),
            web_url,
            closed_at: dto.closed_date,
        })
    }

    pub(super) async fn get_pull_request_in(
        &self,
        repo: &RepoName,
        id: u32,
    ) -> Result<PullRequest, AzdoError> {
        let url = self.url(
            repo,
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
    async fn list_active(
        &self,
        repo: &RepoName,
        criteria: &[(&str, &str)],
    ) -> Result<Vec<PullRequest>, AzdoError> {
        let mut query = vec![("searchCriteria.status", "active")];
        query.extend_from_slice(criteria);
        self.list_prs(repo, &query, Paging::All).await
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-requests/get-pull-requests
    /// (pages with `$top`/`$skip`).
    async fn list_prs(
        &self,
        repo: &RepoName,
        criteria: &[(&str, &str)],
        paging: Paging,
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
                    repo,
                    &["git", "repositories", repo.as_str(), "pullrequests"],
                    &query,
                ))
                .await?;
            let count = list.value.len();
            for dto in list.value {
                found.push(self.pull_request_from(dto)?);
            }
            let newest_only = paging == Paging::NewestOnlyBelow71 && !self.knows_time_ranges();
            if count < PAGE || newest_only {
                break;
            }
        }
        Ok(found)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paging {
    All,
    /// Only the first page when the server is older than 7.1 (it ignores the time range).
    NewestOnlyBelow71,
}

pub(super) fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
