//! What a user may type to name a pull request: a link, `Repo#123`, `!123` or `123`.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use super::RepoName;

/// A pull request named by a user. The repository is optional: Azure DevOps can fetch a PR by id
/// at project level, so `123` alone is enough.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrRef {
    pub repo: Option<RepoName>,
    pub id: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrRefError {
    #[error("name a pull request: a link, Repo#123 or 123")]
    Empty,
    #[error("`{0}` is not a pull request: use a link, Repo#123 or 123")]
    Malformed(String),
    #[error(
        "`{0}` is not an Azure DevOps pull request link (expected …/_git/<repo>/pullrequest/<id>)"
    )]
    NotAPullRequestLink(String),
    #[error("{0}")]
    BadRepo(String),
}

impl PrRef {
    pub fn parse(text: &str) -> Result<Self, PrRefError> {
        let text = unwrap_slack_link(text.trim());
        if text.is_empty() {
            return Err(PrRefError::Empty);
        }
        if text.starts_with("http://") || text.starts_with("https://") {
            return parse_link(text);
        }
        if let Some((repo, id)) = text.rsplit_once('#') {
            let id = parse_id(id).ok_or_else(|| PrRefError::Malformed(text.to_owned()))?;
            let repo = RepoName::parse(repo).map_err(PrRefError::BadRepo)?;
            return Ok(Self {
                repo: Some(repo),
                id,
            });
        }
        let bare = text.strip_prefix('!').unwrap_or(text);
        parse_id(bare)
            .map(|id| Self { repo: None, id })
            .ok_or_else(|| PrRefError::Malformed(text.to_owned()))
    }
}

impl fmt::Display for PrRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repo {
            Some(repo) => write!(f, "{repo}#{}", self.id),
            None => write!(f, "PR {}", self.id),
        }
    }
}

/// Slack wraps pasted links as `<https://…>` or `<https://…|label>`.
fn unwrap_slack_link(text: &str) -> &str {
    match text.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
        Some(inner) => inner.split('|').next().unwrap_or(inner).trim(),
        None => text,
    }
}

/// Azure DevOps PR ids are positive 32-bit integers.
fn parse_id(text: &str) -> Option<u32> {
    let id: u32 = text.trim().parse().ok()?;
    (id >= 1 && id <= i32::MAX as u32).then_some(id)
}

/// Accepts dev.azure.com, *.visualstudio.com and Azure DevOps Server links alike: all of them end
/// their path with `/_git/<repo>/pullrequest/<id>`.
fn parse_link(text: &str) -> Result<PrRef, PrRefError> {
    let not_pr = || PrRefError::NotAPullRequestLink(text.to_owned());
    let url = Url::parse(text).map_err(|_| PrRefError::Malformed(text.to_owned()))?;
    let segments: Vec<&str> = url.path_segments().ok_or_else(not_pr)?.collect();
    let git = segments
        .iter()
        .position(|s| *s == "_git")
        .ok_or_else(not_pr)?;
    let [repo, kind, id, ..] = segments.get(git + 1..).unwrap_or_default() else {
        return Err(not_pr());
    };
    if !kind.eq_ignore_ascii_case("pullrequest") {
        return Err(not_pr());
    }
    let id = parse_id(id).ok_or_else(not_pr)?;
    let repo = percent_encoding::percent_decode_str(repo)
        .decode_utf8()
        .map_err(|_| not_pr())?;
    let repo = RepoName::parse(&repo).map_err(PrRefError::BadRepo)?;
    Ok(PrRef {
        repo: Some(repo),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_and_id(text: &str) -> (Option<String>, u32) {
        let pr = PrRef::parse(text).unwrap();
        (pr.repo.map(String::from), pr.id)
    }

    #[test]
    fn plain_ids_and_repo_hash_ids_parse() {
        assert_eq!(repo_and_id("123"), (None, 123));
        assert_eq!(repo_and_id(" !77 "), (None, 77));
        assert_eq!(
            repo_and_id("Billo.Api#4028"),
            (Some("Billo.Api".into()), 4028)
        );
    }

    #[test]
    fn cloud_server_and_legacy_links_parse() {
        let cases = [
            "https://dev.azure.com/org/Proj/_git/Billo.Api/pullrequest/10443",
            "https://org.visualstudio.com/Proj/_git/Billo.Api/pullrequest/10443?_a=files",
            "https://tfs.example.com/tfs/DefaultCollection/Proj/_git/Billo.Api/pullRequest/10443#x",
            "<https://dev.azure.com/org/Proj/_git/Billo.Api/pullrequest/10443|PR 10443>",
        ];
        for case in cases {
            assert_eq!(
                repo_and_id(case),
                (Some("Billo.Api".into()), 10443),
                "{case}"
            );
        }
    }

    #[test]
    fn encoded_repo_names_in_links_are_decoded() {
        let pr = PrRef::parse("https://dev.azure.com/o/p/_git/My%20Repo/pullrequest/5").unwrap();
        assert_eq!(pr.repo.unwrap().as_str(), "My Repo");
    }

    #[test]
    fn malformed_references_say_what_is_wrong() {
        assert_eq!(PrRef::parse("  "), Err(PrRefError::Empty));
        assert!(matches!(PrRef::parse("abc"), Err(PrRefError::Malformed(_))));
        assert!(matches!(PrRef::parse("0"), Err(PrRefError::Malformed(_))));
        assert!(matches!(
            PrRef::parse("Repo#x"),
            Err(PrRefError::Malformed(_))
        ));
        assert!(matches!(
            PrRef::parse("99999999999"),
            Err(PrRefError::Malformed(_))
        ));
        assert!(matches!(
            PrRef::parse("https://dev.azure.com/org/Proj/_git/Repo"),
            Err(PrRefError::NotAPullRequestLink(_))
        ));
        assert!(matches!(PrRef::parse("a/b#3"), Err(PrRefError::BadRepo(_))));
    }
}
