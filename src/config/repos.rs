//! REPOS_CONFIG: a TOML file with per-repository settings ([`RepoSettings`]). Every key is
//! optional; a repository that is not listed uses the defaults. `repos.example.toml` documents
//! each key.
//!
//! ```toml
//! [repos."Billo.Api"]
//! ci_definition = "Billo.Api-CI"      # a build definition id or name
//! release_definition = 5              # a classic release definition id or name
//! stages = ["Sandbox", "Production"]  # the order approvals are asked in
//! target_branch = "develop"           # where PRs merge
//! release_branch = "main"             # where release PRs merge
//! slack_channel = "C0123ABCD"         # cards for this repository
//! jira_project = "ALLPOST"            # auto-created tickets
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::reader::parse_channel;
use crate::domain::{RepoName, RepoSettings, ReposConfig};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    repos: BTreeMap<String, RepoSettings>,
}

/// Reads and checks the file at `path`; a problem names the file.
pub fn load(path: &Path) -> Result<ReposConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the file's text; a problem names the key.
pub fn parse(text: &str) -> Result<ReposConfig, String> {
    let file: File = toml::from_str(text).map_err(|e| e.message().to_owned())?;
    let mut repos = Vec::new();
    for (name, settings) in file.repos {
        let repo = RepoName::parse(&name)?;
        check(&repo, &settings)?;
        repos.push((repo, settings));
    }
    Ok(ReposConfig::new(repos))
}

fn check(repo: &RepoName, settings: &RepoSettings) -> Result<(), String> {
    let blank = |value: &Option<String>| value.as_ref().is_some_and(|v| v.trim().is_empty());
    for (key, value) in [
        ("target_branch", &settings.target_branch),
        ("release_branch", &settings.release_branch),
        ("jira_project", &settings.jira_project),
        ("ci_definition", &settings.ci_definition),
        ("release_definition", &settings.release_definition),
    ] {
        if blank(value) {
            return Err(format!("repos.\"{repo}\".{key} is empty"));
        }
    }
    if settings.stages.iter().any(|s| s.trim().is_empty()) {
        return Err(format!("repos.\"{repo}\".stages has an empty stage name"));
    }
    if let Some(channel) = &settings.slack_channel {
        parse_channel(channel).map_err(|e| format!("repos.\"{repo}\".slack_channel: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let example = include_str!("repos.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! "))
            .skip_while(|l| !l.starts_with("```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("```"))
            .collect::<Vec<_>>()
            .join("\n");
        let config = parse(&example).unwrap();
        let api = config.for_repo(&RepoName::parse("billo.api").unwrap());
        assert_eq!(api.ci_definition.as_deref(), Some("Billo.Api-CI"));
        assert_eq!(api.release_definition.as_deref(), Some("5"));
        assert_eq!(api.stages, ["Sandbox", "Production"]);
        assert_eq!(
            config.for_repo(&RepoName::parse("Other").unwrap()),
            RepoSettings::default()
        );
    }

    #[test]
    fn the_example_file_parses() {
        let config = parse(include_str!("../../repos.example.toml")).unwrap();
        let web = config.for_repo(&RepoName::parse("Billo.Web").unwrap());
        assert_eq!(web.ci_definition.as_deref(), Some("42"));
        assert_eq!(web.release_branch.as_deref(), Some("production"));
        assert_eq!(config.channels().len(), 1);
    }

    #[test]
    fn mistakes_are_named() {
        let typo = parse("[repos.\"A\"]\nci_defintion = 3\n").unwrap_err();
        assert!(typo.contains("unknown field `ci_defintion`"), "{typo}");
        let channel = parse("[repos.\"A\"]\nslack_channel = \"#rel\"\n").unwrap_err();
        assert!(
            channel.starts_with("repos.\"A\".slack_channel: `#rel` is not a channel id"),
            "{channel}"
        );
        let repo = parse("[repos.\"a/b\"]\n").unwrap_err();
        assert!(repo.contains("contains '/'"), "{repo}");
    }
}
