//! What a review leaves on a PR, and what it reads of it: comment threads (general and
//! inline, each findable again by the bot's key), the bot's vote, and the PR's iterations with
//! their changes.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::instrument;

use super::client::{AzdoClient, List, MAX_PAGES};
use super::pulls::{CommitRef, truncate_chars};
use super::thread_dto::{THREAD_COMMIT, THREAD_FINGERPRINT, THREAD_KEY, ThreadDto, property};
use super::*;
use crate::http_client::Call;

/// A PR's review: iterations and changes to read, threads and a vote to leave.
#[async_trait]
pub trait PrReviews: Send + Sync {
    async fn iterations(&self, repo: &RepoName, pr: u32) -> Result<Vec<Iteration>, AzdoError>;
    /// The files an iteration changed compared with the merge base (the whole PR).
    async fn changes(
        &self,
        repo: &RepoName,
        pr: u32,
        iteration: u32,
    ) -> Result<Vec<FileChange>, AzdoError>;
    /// Posts a thread; returns its id.
    async fn post_thread(
        &self,
        repo: &RepoName,
        pr: u32,
        thread: &NewThread,
    ) -> Result<i64, AzdoError>;
    /// The thread the bot posted under `key`, if any.
    async fn find_thread(
        &self,
        repo: &RepoName,
        pr: u32,
        key: &str,
    ) -> Result<Option<i64>, AzdoError>;
    async fn vote(
        &self,
        repo: &RepoName,
        pr: u32,
        reviewer_id: &str,
        vote: Vote,
    ) -> Result<(), AzdoError>;
    /// The bot's finding threads on the PR (those with a [`FindingMark`]), not deleted.
    async fn finding_threads(
        &self,
        repo: &RepoName,
        pr: u32,
    ) -> Result<Vec<FindingThread>, AzdoError>;
    /// Replies `note` on thread `id` (if any) unless the thread already has it, then resolves
    /// it `as` fixed or won't fix: a retry after a crash leaves the note once.
    async fn resolve_thread(
        &self,
        repo: &RepoName,
        pr: u32,
        id: i64,
        note: Option<&str>,
        status: Resolved,
    ) -> Result<(), AzdoError>;
}

/// How the bot resolves a finding's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// The code the finding was about changed.
    Fixed,
    /// Someone marked the finding won't fix.
    WontFix,
}

impl Resolved {
    /// The thread status Azure DevOps names it by (CommentThreadStatus).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fixed => "fixed",
            Self::WontFix => "wontFix",
        }
    }
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
    change_tracking_id: Option<u32>,
    item: Option<ItemDto>,
    change_type: Value,
    original_path: Option<String>,
}

#[derive(Deserialize)]
struct ItemDto {
    path: Option<String>,
}

#[derive(Deserialize)]
struct Created {
    id: i64,
}

#[async_trait]
impl PrReviews for AzdoClient {
    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-request-iterations/list
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr))]
    async fn iterations(&self, repo: &RepoName, pr: u32) -> Result<Vec<Iteration>, AzdoError> {
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
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr, iteration))]
    async fn changes(
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
                    change_tracking_id: c.change_tracking_id,
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
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr))]
    async fn post_thread(
        &self,
        repo: &RepoName,
        pr: u32,
        thread: &NewThread,
    ) -> Result<i64, AzdoError> {
        let body = thread_body(thread)?;
        let url = self.pr_url(repo, pr, &["threads"]);
        let created: Created = self
            .json(Call::with_body(Method::POST, url, body, false))
            .await?;
        Ok(created.id)
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-request-threads/list — the
    /// thread whose `release-agent.key` property is `key`.
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr, key))]
    async fn find_thread(
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
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr, vote = ?vote))]
    async fn vote(
        &self,
        repo: &RepoName,
        pr: u32,
        reviewer_id: &str,
        vote: Vote,
    ) -> Result<(), AzdoError> {
        let url = self.pr_url(repo, pr, &["reviewers", reviewer_id]);
        let body = json!({"vote": vote.value(), "id": reviewer_id});
        self.send(Call::with_body(Method::PUT, url, body, true))
            .await?;
        Ok(())
    }

    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr))]
    async fn finding_threads(
        &self,
        repo: &RepoName,
        pr: u32,
    ) -> Result<Vec<FindingThread>, AzdoError> {
        let url = self.pr_url(repo, pr, &["threads"]);
        let threads: List<ThreadDto> = self.get(url).await?;
        Ok(threads
            .value
            .into_iter()
            .filter(|t| !t.is_deleted)
            .filter_map(ThreadDto::finding)
            .collect())
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-request-threads/get, then
    /// https://learn.microsoft.com/rest/api/azure/devops/git/pull-request-thread-comments/create
    /// and https://learn.microsoft.com/rest/api/azure/devops/git/pull-request-threads/update
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr, id))]
    async fn resolve_thread(
        &self,
        repo: &RepoName,
        pr: u32,
        id: i64,
        note: Option<&str>,
        status: Resolved,
    ) -> Result<(), AzdoError> {
        let thread = id.to_string();
        if let Some(note) = note {
            let note = truncate_chars(note, 150_000);
            let read: ThreadDto = self
                .get(self.pr_url(repo, pr, &["threads", &thread]))
                .await?;
            if !read.says(&note) {
                let url = self.pr_url(repo, pr, &["threads", &thread, "comments"]);
                let reply = json!({"content": note, "parentCommentId": 1, "commentType": 1});
                self.send(Call::with_body(Method::POST, url, reply, false))
                    .await?;
            }
        }
        let url = self.pr_url(repo, pr, &["threads", &thread]);
        self.send(Call::with_body(
            Method::PATCH,
            url,
            json!({"status": status.as_str()}),
            true,
        ))
        .await?;
        Ok(())
    }
}

impl AzdoClient {
    /// `git/repositories/{repo}/pullRequests/{pr}/{tail…}`
    pub(super) fn pr_url(&self, repo: &RepoName, pr: u32, tail: &[&str]) -> url::Url {
        let pr = pr.to_string();
        let mut segments = vec![
            "git",
            "repositories",
            repo.as_str(),
            "pullRequests",
            pr.as_str(),
        ];
        segments.extend_from_slice(tail);
        self.url(repo, &segments, &[])
    }
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
    let text = |value: &str| json!({"$type": "System.String", "$value": value});
    if let Some(key) = &thread.key {
        body["properties"][THREAD_KEY] = text(key);
    }
    if let Some(mark) = &thread.mark {
        body["properties"][THREAD_FINGERPRINT] = text(&mark.fingerprint);
        body["properties"][THREAD_COMMIT] = text(&mark.commit);
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
        if let Some(at) = thread.iteration {
            // From the first iteration to the reviewed one: the PR's changes as reviewed.
            body["pullRequestThreadContext"] = json!({
                "changeTrackingId": at.change_tracking_id,
                "iterationContext": {"firstComparingIteration": 1, "secondComparingIteration": at.iteration},
            });
        }
    }
    Ok(body)
}

#[cfg(test)]
#[path = "reviews_tests.rs"]
mod tests;
