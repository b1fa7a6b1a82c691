//! REPOS_CONFIG: a TOML file with per-repository settings ([`RepoSettings`]). Every key is
//! optional; a repository that is not listed uses the defaults. `repos.example.toml` documents
//! each key.
//!
//! ```toml
//! [repos."Billo.Api"]
//! ci_definition = "Billo.Api-CI"      # a build definition id or name
//! release_definition = 5              # a classic release definition id or name
//! cd = "classic"                      # or "yaml": a YAML pipeline's stages deploy
//! # cd_pipeline = "Billo.Api-CD"      # with "yaml": the pipeline that deploys (default: CI's run)
//! stages = ["Sandbox", "Production"]  # the order approvals are asked in
//! target_branch = "develop"           # where PRs merge
//! release_branch = "main"             # where release PRs merge
//! slack_channel = "C0123ABCD"         # cards for this repository
//! jira_project = "ALLPOST"            # auto-created tickets
//! project = "Billing"                 # its Azure DevOps project (default AZDO_PROJECT)
//! allow_self_approval = false         # overrides ALLOW_SELF_APPROVAL
//! accept_partially_succeeded = false  # a partially succeeded CI build counts as green
//! tag_format = "v{version}"           # version tags: read for the first release, made for each
//! bump_minor_pre_major = false        # 0.x: a breaking change bumps the minor version
//! jira_fix_version = true            # set a Jira fix version on the release's tickets
//! jira_version_format = "{repo} {version}"  # its name
//!
//! [repos."Billo.Api".approvers]       # each falls back to SLACK_APPROVERS
//! merge = ["S0DEVS0001"]              # Merge and Re-review of PRs
//! ci = ["anyone"]                     # Trigger and Skip of CI builds
//! release = ["U0LEAD0001"]            # the release PR, Retry and Refresh
//!
//! [repos."Billo.Api".approvers.stages.Production]
//! users = ["S0PRODOPS1"]              # Approve and Skip of this stage
//! required = 2                        # distinct people
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::reader::parse_channel;
use crate::domain::{Approver, CdKind, Deciders, RepoName, RepoSettings, ReposConfig, StagePolicy};

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
        ("project", &settings.project),
        ("ci_definition", &settings.ci_definition),
        ("release_definition", &settings.release_definition),
        ("cd_pipeline", &settings.cd_pipeline),
    ] {
        if blank(value) {
            return Err(format!("repos.\"{repo}\".{key} is empty"));
        }
    }
    if let Some(format) = &settings.jira_version_format
        && (!format.contains("{version}") || format.trim().is_empty() || format.len() > 255)
    {
        return Err(format!(
            "repos.\"{repo}\".jira_version_format `{format}` must hold `{{version}}` (and at most 255 characters), like \"{{repo}} {{version}}\""
        ));
    }
    let yaml = settings.cd == CdKind::Yaml;
    if settings.cd_pipeline.is_some() && !yaml {
        return Err(format!(
            "repos.\"{repo}\".cd_pipeline names a YAML pipeline, but cd is \"classic\"; add \
             cd = \"yaml\""
        ));
    }
    if settings.release_definition.is_some() && yaml {
        return Err(format!(
            "repos.\"{repo}\".release_definition is a classic release definition, but cd is \
             \"yaml\"; use cd_pipeline for the pipeline that deploys"
        ));
    }
    if settings.stages.iter().any(|s| s.trim().is_empty()) {
        return Err(format!("repos.\"{repo}\".stages has an empty stage name"));
    }
    if let Some(channel) = &settings.slack_channel {
        parse_channel(channel).map_err(|e| format!("repos.\"{repo}\".slack_channel: {e}"))?;
    }
    for (stage, policy) in &settings.approvers.stages {
        check_stage(stage, policy)
            .map_err(|e| format!("repos.\"{repo}\".approvers.stages: {e}"))?;
    }
    Ok(())
}

/// A stage needs a name, its approvers from one place, and no more required approvals than its
/// listed people can give.
fn check_stage(stage: &str, policy: &StagePolicy) -> Result<(), String> {
    if stage.trim().is_empty() {
        return Err("a stage has an empty name".into());
    }
    let required = policy.required.unwrap_or(1);
    if required == 0 {
        return Err(format!("{stage}.required is 0; it must be at least 1"));
    }
    if policy.from_azure_devops && policy.users.is_some() {
        return Err(format!(
            "{stage} has both `users` and `from_azure_devops = true`: the approvers come from one \
             place; drop one of them"
        ));
    }
    let people = match &policy.users {
        Some(Deciders::Only(list)) if list.iter().all(|a| matches!(a, Approver::User(_))) => {
            list.len()
        }
        _ => usize::MAX,
    };
    if usize::try_from(required).unwrap_or(usize::MAX) > people {
        return Err(format!(
            "{stage}.required is {required}, but its users name only {people}: add people or a \
             user group, or lower `required`"
        ));
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
        let prod = &api.approvers.stages["Production"];
        assert_eq!(prod.required, Some(2));
        assert_eq!(api.approvers.ci, Some(Deciders::Anyone));
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
        let api = config.for_repo(&RepoName::parse("Billo.Api").unwrap());
        assert_eq!(api.allow_self_approval, Some(false));
        let production = &api.approvers.stages["Production"];
        assert_eq!(production.required, Some(2));
        assert_eq!(
            api.approvers.release.map(|d| d.describe()).as_deref(),
            Some("U0LEAD0001, S0RELEASE1")
        );
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
        let approvers = parse("[repos.\"A\".approvers]\nmerj = [\"U1AB\"]\n").unwrap_err();
        assert!(approvers.contains("unknown field `merj`"), "{approvers}");
        let id = parse("[repos.\"A\".approvers]\nmerge = [\"bob\"]\n").unwrap_err();
        assert!(id.contains("`bob` is neither"), "{id}");
        let two = "[repos.\"A\".approvers.stages.Production]\nusers = [\"U1AB\"]\nrequired = 2\n";
        let two = parse(two).unwrap_err();
        assert!(
            two.starts_with(
                "repos.\"A\".approvers.stages: Production.required is 2, but its users name only 1"
            ),
            "{two}"
        );
        let both = "[repos.\"A\".approvers.stages.Production]\nusers = [\"U1AB\"]\n\
                    from_azure_devops = true\n";
        let both = parse(both).unwrap_err();
        assert!(
            both.contains("Production has both `users` and `from_azure_devops = true`"),
            "{both}"
        );
        let kind = parse("[repos.\"A\"]\ncd = \"yml\"\n").unwrap_err();
        assert!(kind.contains("unknown variant `yml`"), "{kind}");
        let pipeline = parse("[repos.\"A\"]\ncd_pipeline = \"A-CD\"\n").unwrap_err();
        assert!(
            pipeline.contains("cd_pipeline names a YAML pipeline, but cd is \"classic\""),
            "{pipeline}"
        );
        let classic = parse("[repos.\"A\"]\ncd = \"yaml\"\nrelease_definition = 5\n");
        assert!(classic.unwrap_err().contains("use cd_pipeline"));
        let yaml = parse("[repos.\"A\"]\ncd = \"yaml\"\ncd_pipeline = 12\n").unwrap();
        let yaml = yaml.for_repo(&RepoName::parse("A").unwrap());
        assert_eq!(
            (yaml.cd, yaml.cd_pipeline.as_deref()),
            (CdKind::Yaml, Some("12"))
        );
        let repo = parse("[repos.\"a/b\"]\n").unwrap_err();
        assert!(repo.contains("contains '/'"), "{repo}");
    }
}
