//! REPOS_CONFIG: a TOML file with per-repository settings. Every key is optional; a repository
//! that is not listed uses the defaults. `repos.example.toml` documents each key.
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

use serde::{Deserialize, Deserializer};

use super::reader::parse_channel;
use crate::domain::RepoName;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSettings {
    #[serde(default, deserialize_with = "id_or_name")]
    pub ci_definition: Option<String>,
    #[serde(default, deserialize_with = "id_or_name")]
    pub release_definition: Option<String>,
    #[serde(default)]
    pub stages: Vec<String>,
    pub target_branch: Option<String>,
    pub release_branch: Option<String>,
    pub slack_channel: Option<String>,
    pub jira_project: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    repos: BTreeMap<String, RepoSettings>,
}

/// The settings of every repository the file names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReposConfig {
    repos: Vec<(RepoName, RepoSettings)>,
}

impl ReposConfig {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let mut repos = Vec::new();
        for (name, settings) in file.repos {
            let repo = RepoName::parse(&name)?;
            check(&repo, &settings)?;
            repos.push((repo, settings));
        }
        Ok(Self { repos })
    }

    /// The settings for `repo` (matched as Azure DevOps does, ignoring case), or the defaults.
    pub fn for_repo(&self, repo: &RepoName) -> RepoSettings {
        self.repos
            .iter()
            .find(|(name, _)| name.same_as(repo.as_str()))
            .map(|(_, settings)| settings.clone())
            .unwrap_or_default()
    }

    /// The repositories whose cards go to their own channel, with that channel.
    pub fn channels(&self) -> Vec<(RepoName, String)> {
        self.repos
            .iter()
            .filter_map(|(name, s)| Some((name.clone(), s.slack_channel.clone()?)))
            .collect()
    }

    pub fn repos(&self) -> impl Iterator<Item = &RepoName> {
        self.repos.iter().map(|(name, _)| name)
    }
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

/// A definition is named by its id (a TOML integer) or its name (a string).
fn id_or_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IdOrName {
        Id(i64),
        Name(String),
    }
    Ok(
        Option::<IdOrName>::deserialize(deserializer)?.map(|v| match v {
            IdOrName::Id(id) => id.to_string(),
            IdOrName::Name(name) => name,
        }),
    )
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
        let config = ReposConfig::parse(&example).unwrap();
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
        let config = ReposConfig::parse(include_str!("../../repos.example.toml")).unwrap();
        let web = config.for_repo(&RepoName::parse("Billo.Web").unwrap());
        assert_eq!(web.ci_definition.as_deref(), Some("42"));
        assert_eq!(web.release_branch.as_deref(), Some("production"));
        assert_eq!(config.channels().len(), 1);
    }

    #[test]
    fn mistakes_are_named() {
        let typo = ReposConfig::parse("[repos.\"A\"]\nci_defintion = 3\n").unwrap_err();
        assert!(typo.contains("unknown field `ci_defintion`"), "{typo}");
        let channel = ReposConfig::parse("[repos.\"A\"]\nslack_channel = \"#rel\"\n").unwrap_err();
        assert!(
            channel.starts_with("repos.\"A\".slack_channel: `#rel` is not a channel id"),
            "{channel}"
        );
        let repo = ReposConfig::parse("[repos.\"a/b\"]\n").unwrap_err();
        assert!(repo.contains("contains '/'"), "{repo}");
    }
}
