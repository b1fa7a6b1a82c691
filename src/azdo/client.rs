//! The client itself: settings, URL building (names are percent-encoded, so repositories and
//! projects with spaces work), paging through continuation tokens, and the trait impl that hands
//! each call to its file.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::*;
use crate::http_client::{Call, JsonApi, RetryPolicy};

/// Where Azure DevOps is and how to talk to it.
#[derive(Debug, Clone)]
pub struct AzdoSettings {
    /// The organization or collection URL: `https://dev.azure.com/{org}`, or an Azure DevOps
    /// Server collection such as `https://tfs.example.com/tfs/DefaultCollection`.
    pub base_url: Url,
    /// Classic release management: `https://vsrm.dev.azure.com/{org}`; on a Server install the
    /// same as `base_url`.
    pub release_base_url: Url,
    pub project: String,
    pub pat: SecretString,
    pub api_version: String,
    pub retry: RetryPolicy,
    /// How often, and how long, to look at a PR whose completion was accepted.
    pub merge_poll: Duration,
    pub merge_wait: Duration,
}

impl AzdoSettings {
    pub fn new(base_url: Url, release_base_url: Url, project: &str, pat: SecretString) -> Self {
        Self {
            base_url,
            release_base_url,
            project: project.to_owned(),
            pat,
            api_version: "7.1".into(),
            retry: RetryPolicy::default(),
            merge_poll: Duration::from_secs(2),
            merge_wait: Duration::from_secs(120),
        }
    }
}

pub struct AzdoClient {
    pub(super) api: JsonApi,
    pub(super) settings: AzdoSettings,
}

/// `{"count": n, "value": [...]}`, the wrapper of every list.
#[derive(Deserialize)]
pub(super) struct List<T> {
    pub value: Vec<T>,
}

#[derive(Deserialize)]
pub(super) struct Href {
    href: String,
}

/// `_links` of an object; only the page a human opens is used.
#[derive(Deserialize)]
pub(super) struct Links {
    web: Option<Href>,
}

/// The `_links.web.href` of an object, if it has one.
pub(super) fn web_link(links: Option<Links>) -> Option<String> {
    links.and_then(|l| l.web).map(|w| w.href)
}

/// The most pages any list is read to, so a misbehaving server cannot keep the bot paging.
pub(super) const MAX_PAGES: usize = 100;

impl AzdoClient {
    pub fn new(settings: AzdoSettings) -> Result<Self, HttpError> {
        let api = JsonApi::new(
            "Azure DevOps",
            "AZDO_PAT",
            "",
            settings.pat.clone(),
            &[("x-tfs-fedauthredirect", "Suppress")],
            settings.retry.clone(),
        )?;
        Ok(Self { api, settings })
    }

    /// `{base}/{project}/_apis/{segments…}?api-version=…&{query}`
    pub(super) fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let project = self.settings.project.clone();
        self.build(
            &self.settings.base_url,
            &[&project, "_apis"],
            segments,
            query,
        )
    }

    /// `{release base}/{project}/_apis/{segments…}?…`
    pub(super) fn release_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let project = self.settings.project.clone();
        self.build(
            &self.settings.release_base_url,
            &[&project, "_apis"],
            segments,
            query,
        )
    }

    /// `url` with the preview of its api-version, for calls Azure DevOps only offers in preview.
    pub(super) fn preview(&self, mut url: Url) -> Url {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| match k.as_ref() {
                "api-version" => (k.into_owned(), format!("{v}-preview")),
                _ => (k.into_owned(), v.into_owned()),
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        url
    }

    fn build(&self, base: &Url, prefix: &[&str], segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(prefix).extend(segments);
        }
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("api-version", &self.settings.api_version);
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    pub(super) async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, AzdoError> {
        Ok(self.api.json(Call::get(url)).await?)
    }

    /// Reads every page of a list that pages with `x-ms-continuationtoken`.
    pub(super) async fn list_all<T: DeserializeOwned>(
        &self,
        url: Url,
    ) -> Result<Vec<T>, AzdoError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut page_url = url.clone();
            if let Some(token) = &token {
                page_url
                    .query_pairs_mut()
                    .append_pair("continuationToken", token);
            }
            let response = self.api.send(Call::get(page_url)).await?;
            let next = response
                .headers()
                .get("x-ms-continuationtoken")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            let page: List<T> = self.api.decode(response).await?;
            items.extend(page.value);
            match next {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                _ => return Ok(items),
            }
        }
        Ok(items)
    }
}

#[async_trait]
impl AzureDevOps for AzdoClient {
    fn pull_request_link(&self, repo: &RepoName, pr: i64) -> String {
        let mut url = self.settings.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend([
                self.settings.project.as_str(),
                "_git",
                repo.as_str(),
                "pullrequest",
                &pr.to_string(),
            ]);
        }
        url.to_string()
    }

    async fn whoami(&self) -> Result<Identity, AzdoError> {
        self.connection_data().await
    }

    async fn repository(&self, repo: &RepoName) -> Result<Repository, AzdoError> {
        self.get_repository(repo).await
    }

    async fn pull_request(&self, id: u32) -> Result<PullRequest, AzdoError> {
        self.get_pull_request(id).await
    }

    async fn active_pull_requests(
        &self,
        repo: &RepoName,
        target_branch: &str,
    ) -> Result<Vec<PullRequest>, AzdoError> {
        self.list_active(
            repo,
            &[("searchCriteria.targetRefName", &full_branch(target_branch))],
        )
        .await
    }

    async fn completed_pull_requests(
        &self,
        repo: &RepoName,
        target_branch: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<PullRequest>, AzdoError> {
        self.list_completed(repo, target_branch, since).await
    }

    async fn iterations(&self, repo: &RepoName, pr: u32) -> Result<Vec<Iteration>, AzdoError> {
        self.get_iterations(repo, pr).await
    }

    async fn changes(
        &self,
        repo: &RepoName,
        pr: u32,
        iteration: u32,
    ) -> Result<Vec<FileChange>, AzdoError> {
        self.get_changes(repo, pr, iteration).await
    }

    async fn post_thread(
        &self,
        repo: &RepoName,
        pr: u32,
        thread: &NewThread,
    ) -> Result<i64, AzdoError> {
        self.create_thread(repo, pr, thread).await
    }

    async fn find_thread(
        &self,
        repo: &RepoName,
        pr: u32,
        key: &str,
    ) -> Result<Option<i64>, AzdoError> {
        self.thread_by_key(repo, pr, key).await
    }

    async fn vote(
        &self,
        repo: &RepoName,
        pr: u32,
        reviewer_id: &str,
        vote: Vote,
    ) -> Result<(), AzdoError> {
        self.put_vote(repo, pr, reviewer_id, vote).await
    }

    async fn complete(
        &self,
        repo: &RepoName,
        pr: u32,
        reviewed_commit: &str,
        options: &CompletionOptions,
    ) -> Result<PullRequest, AzdoError> {
        self.complete_pr(repo, pr, reviewed_commit, options).await
    }

    async fn create_pull_request(
        &self,
        repo: &RepoName,
        new: &NewPullRequest,
    ) -> Result<PullRequest, AzdoError> {
        self.create_pr(repo, new).await
    }

    async fn ci_definition(
        &self,
        repo: &RepoName,
        configured: Option<&str>,
    ) -> Result<BuildDefinition, AzdoError> {
        self.find_ci_definition(repo, configured).await
    }

    async fn queue_build(
        &self,
        definition: i64,
        branch: &str,
        commit: Option<&str>,
    ) -> Result<Build, AzdoError> {
        self.post_build(definition, branch, commit).await
    }

    async fn build(&self, id: i64) -> Result<Build, AzdoError> {
        self.get_build(id).await
    }

    async fn recent_builds(&self, definition: i64, branch: &str) -> Result<Vec<Build>, AzdoError> {
        self.list_builds(definition, branch).await
    }

    async fn release_for_build(
        &self,
        build: &Build,
        definition: Option<&str>,
    ) -> Result<Option<Release>, AzdoError> {
        self.find_release(build, definition).await
    }

    async fn release(&self, id: i64) -> Result<Release, AzdoError> {
        self.get_release(id).await
    }

    async fn decide_approval(
        &self,
        approval: i64,
        approve: bool,
        comment: &str,
    ) -> Result<(), AzdoError> {
        self.patch_approval(approval, approve, comment).await
    }

    async fn start_stage(&self, release: i64, stage: i64, comment: &str) -> Result<(), AzdoError> {
        AzdoClient::start_stage(self, release, stage, comment).await
    }
}
