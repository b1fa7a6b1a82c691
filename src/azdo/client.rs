//! The client itself: settings, URL building (names are percent-encoded, so repositories and
//! projects with spaces work), paging through continuation tokens, and who the PAT is. Each
//! other file implements its own part of [`AzureDevOps`] on the client.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::instrument;
use url::Url;

use super::version::ApiVersion;
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
    /// Identities (a group's members): `https://vssps.dev.azure.com/{org}`; on a Server install
    /// the same as `base_url`.
    pub identity_base_url: Url,
    /// The project of every repository not named in `repo_projects`.
    pub project: String,
    /// Repositories in another project (REPOS_CONFIG `project`).
    pub repo_projects: Vec<(RepoName, String)>,
    pub pat: SecretString,
    /// The api-version to start with (7.1), or to keep (when `negotiate_version` is off).
    pub api_version: String,
    /// AZDO_API_VERSION `auto`: a server that refuses the version names the one it speaks.
    pub negotiate_version: bool,
    pub retry: RetryPolicy,
    /// HTTPS_PROXY and friends, as the config read them.
    pub proxy: crate::proxy::Proxies,
    /// How often, and how long, to look at a PR whose completion was accepted.
    pub merge_poll: Duration,
    pub merge_wait: Duration,
}

impl AzdoSettings {
    pub fn new(base_url: Url, release_base_url: Url, project: &str, pat: SecretString) -> Self {
        Self {
            identity_base_url: base_url.clone(),
            base_url,
            release_base_url,
            project: project.to_owned(),
            repo_projects: Vec::new(),
            pat,
            api_version: "7.1".into(),
            negotiate_version: true,
            retry: RetryPolicy::default(),
            proxy: crate::proxy::Proxies::default(),
            merge_poll: Duration::from_secs(2),
            merge_wait: Duration::from_secs(120),
        }
    }
}

pub struct AzdoClient {
    pub(super) api: JsonApi,
    pub(super) settings: AzdoSettings,
    pub(super) version: ApiVersion,
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

/// A person or service account, as every API names one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IdentityDto {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    /// The sign-in name: an email address in Azure DevOps Services, `DOMAIN\\user` on
    /// premises.
    #[serde(default)]
    pub unique_name: String,
    /// A group rather than a person.
    #[serde(default)]
    pub is_container: bool,
}

impl IdentityDto {
    /// The sign-in name when it is an email address, which is how Slack can find the person.
    pub fn email(&self) -> Option<String> {
        self.unique_name
            .contains('@')
            .then(|| self.unique_name.clone())
    }
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
            &settings.proxy,
        )?;
        let version = ApiVersion::new(&settings.api_version, settings.negotiate_version);
        Ok(Self {
            api,
            settings,
            version,
        })
    }

    /// The project `repo` lives in.
    pub(super) fn project_of(&self, repo: &RepoName) -> &str {
        self.settings
            .repo_projects
            .iter()
            .find(|(r, _)| r.same_as(repo.as_str()))
            .map_or(self.settings.project.as_str(), |(_, p)| p.as_str())
    }

    /// Every project the bot works in, `AZDO_PROJECT` first.
    pub(super) fn projects(&self) -> Vec<&str> {
        let mut projects = vec![self.settings.project.as_str()];
        for (_, project) in &self.settings.repo_projects {
            if !projects.iter().any(|p| p.eq_ignore_ascii_case(project)) {
                projects.push(project);
            }
        }
        projects
    }

    /// `{base}/{project of repo}/_apis/{segments…}?api-version=…&{query}`
    pub(super) fn url(&self, repo: &RepoName, segments: &[&str], query: &[(&str, &str)]) -> Url {
        self.url_in(self.project_of(repo), segments, query)
    }

    /// `{base}/{project}/_apis/{segments…}?api-version=…&{query}`
    pub(super) fn url_in(&self, project: &str, segments: &[&str], query: &[(&str, &str)]) -> Url {
        self.compose(
            &self.settings.base_url,
            &[project, "_apis"],
            segments,
            query,
        )
    }

    /// `{release base}/{project of repo}/_apis/{segments…}?…`
    pub(super) fn release_url(
        &self,
        repo: &RepoName,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Url {
        let project = self.project_of(repo);
        self.compose(
            &self.settings.release_base_url,
            &[project, "_apis"],
            segments,
            query,
        )
    }

    /// `{identity base}/_apis/{segments…}?…`, outside any project.
    pub(super) fn identity_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        self.compose(
            &self.settings.identity_base_url,
            &["_apis"],
            segments,
            query,
        )
    }

    /// `url` at the preview of its api-version when the server's version is older than
    /// `released`: the approvals API is preview on every Server (`7.0-preview.1` on Server 2022,
    /// per its on-premises specification), the stages and annotated tags APIs before 7.0.
    pub(super) fn preview_before(&self, released: &[u32], url: Url) -> Url {
        if self.speaks_at_least(released) {
            url
        } else {
            self.preview(url)
        }
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

    fn compose(
        &self,
        base: &Url,
        prefix: &[&str],
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Url {
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(prefix).extend(segments);
        }
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("api-version", &self.version.current());
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    pub(super) async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, AzdoError> {
        Ok(self.json(Call::get(url)).await?)
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
            let response = self.send(Call::get(page_url)).await?;
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionData {
    authenticated_user: IdentityDto,
}

#[async_trait]
impl AzureDevOps for AzdoClient {
    fn pull_request_link(&self, repo: &RepoName, pr: i64) -> String {
        let mut url = self.settings.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend([
                self.project_of(repo),
                "_git",
                repo.as_str(),
                "pullrequest",
                &pr.to_string(),
            ]);
        }
        url.to_string()
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/core (connectionData, preview only)
    #[instrument(level = "debug", skip_all)]
    async fn whoami(&self) -> Result<Identity, AzdoError> {
        let mut url = self.settings.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["_apis", "connectionData"]);
        }
        url.query_pairs_mut().append_pair(
            "api-version",
            &format!("{}-preview.1", self.version.current()),
        );
        let data: ConnectionData = self.get(url).await?;
        Ok(Identity {
            id: data.authenticated_user.id,
            name: data.authenticated_user.display_name,
        })
    }
}
