//! Who may decide what: a policy per kind of decision and per repository (REPOS_CONFIG's
//! `approvers` tables), falling back to `SLACK_APPROVERS`, and whether the person who asked for
//! a run, or wrote its PR, may decide it (`ALLOW_SELF_APPROVAL`). Pure: the intake applies it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::{Deciders, RepoName, ReposConfig};

/// What an approval decides, which picks its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decides {
    /// Merge and Re-review of a PR.
    Merge,
    /// Trigger and Skip of a CI build.
    Ci,
    /// Creating and merging the release PR, Retry and Refresh.
    Release,
    /// Approve, Skip and Reject of one CD stage.
    Stage(String),
}

impl Decides {
    /// Reads what [`Display`](fmt::Display) wrote: `merge`, `ci`, `release` or `stage:<name>`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "merge" => Some(Self::Merge),
            "ci" => Some(Self::Ci),
            "release" => Some(Self::Release),
            _ => text
                .strip_prefix("stage:")
                .filter(|name| !name.is_empty())
                .map(|name| Self::Stage(name.to_owned())),
        }
    }

    /// For people: "merge", "CI builds", "the release", "the Production stage".
    pub fn describe(&self) -> String {
        match self {
            Self::Merge => "merging PRs".into(),
            Self::Ci => "CI builds".into(),
            Self::Release => "the release".into(),
            Self::Stage(name) => format!("the {name} stage"),
        }
    }
}

impl fmt::Display for Decides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Merge => f.write_str("merge"),
            Self::Ci => f.write_str("ci"),
            Self::Release => f.write_str("release"),
            Self::Stage(name) => write!(f, "stage:{name}"),
        }
    }
}

/// A repository's `approvers` table. A key not given falls back to `SLACK_APPROVERS`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoApprovers {
    pub merge: Option<Deciders>,
    pub ci: Option<Deciders>,
    pub release: Option<Deciders>,
    /// Per CD stage, by name (matched ignoring case).
    #[serde(default)]
    pub stages: BTreeMap<String, StagePolicy>,
}

/// Who approves one CD stage, and how many distinct people must.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagePolicy {
    pub users: Option<Deciders>,
    pub required: Option<u32>,
    /// The people Azure DevOps lists as the stage's approvers decide it (users by email, groups
    /// through their members), instead of `users`.
    #[serde(default)]
    pub from_azure_devops: bool,
}

impl StagePolicy {
    /// A policy that names its deciders and nothing else.
    fn of(users: Option<Deciders>) -> Self {
        Self {
            users,
            ..Self::default()
        }
    }
}

/// The policy for one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `None`: nobody is configured, so nobody may decide (`serve` refuses to start so).
    pub deciders: Option<Deciders>,
    /// Distinct people who must approve.
    pub required: u32,
    /// The deciders are whom Azure DevOps lists as the stage's approvers, found when it is
    /// asked about (see [`ApprovalRecord`](crate::store::ApprovalRecord)'s `deciders`).
    pub from_azure_devops: bool,
}

/// The option that may need several people; any other (Skip, Reject) ends the question at once.
pub const APPROVE: &str = "approve";

impl Rule {
    /// How many distinct people must choose `option`.
    pub fn needed(&self, option: &str) -> u32 {
        if option == APPROVE { self.required } else { 1 }
    }

    /// `anyone`, `U1, S2`, with "(2 people)" when more than one must approve.
    pub fn describe(&self) -> String {
        let who = match &self.deciders {
            _ if self.from_azure_devops => "the approvers Azure DevOps lists".to_owned(),
            Some(deciders) => deciders.describe(),
            None => "nobody (not configured)".to_owned(),
        };
        match self.required {
            0 | 1 => who,
            n => format!("{who} ({n} people)"),
        }
    }
}

/// The approval policy of the whole bot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// `SLACK_APPROVERS`.
    pub default: Option<Deciders>,
    /// `ALLOW_SELF_APPROVAL`.
    pub allow_self_approval: bool,
    pub repos: ReposConfig,
}

impl ApprovalPolicy {
    /// The rule for `decides` in `repo` (`None`: a run without a repository).
    pub fn rule(&self, repo: Option<&RepoName>, decides: &Decides) -> Rule {
        let approvers = repo
            .map(|r| self.repos.for_repo(r).approvers)
            .unwrap_or_default();
        let stage = |name: &str| {
            approvers
                .stages
                .iter()
                .find(|(stage, _)| stage.eq_ignore_ascii_case(name))
                .map(|(_, s)| s.clone())
                .unwrap_or_default()
        };
        let policy = match decides {
            Decides::Merge => StagePolicy::of(approvers.merge.clone()),
            Decides::Ci => StagePolicy::of(approvers.ci.clone()),
            Decides::Release => StagePolicy::of(approvers.release.clone()),
            Decides::Stage(name) => stage(name),
        };
        let deciders = if policy.from_azure_devops {
            None
        } else {
            policy.users.or_else(|| self.default.clone())
        };
        Rule {
            deciders,
            required: policy.required.unwrap_or(1).max(1),
            from_azure_devops: policy.from_azure_devops,
        }
    }

    /// Whether the person who asked for a run in `repo`, or wrote its PR, may decide it.
    pub fn self_approval(&self, repo: Option<&RepoName>) -> bool {
        repo.and_then(|r| self.repos.for_repo(r).allow_self_approval)
            .unwrap_or(self.allow_self_approval)
    }

    /// `repo`'s whole policy on one line, for `check`: `merge: anyone; …; Production: U1, S2
    /// (2 people); four eyes`.
    pub fn describe(&self, repo: &RepoName) -> String {
        let mut parts: Vec<String> = self
            .decisions(Some(repo))
            .iter()
            .map(|decides| {
                let rule = self.rule(Some(repo), decides);
                let name = match decides {
                    Decides::Stage(stage) => stage.clone(),
                    other => other.to_string(),
                };
                format!("{name}: {}", rule.describe())
            })
            .collect();
        parts.push(if self.self_approval(Some(repo)) {
            "self-approval allowed".into()
        } else {
            "four eyes".into()
        });
        parts.join("; ")
    }

    /// Every user group the policy names, once each, to check that Slack can list them.
    pub fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = Vec::new();
        let repos = self.repos.repos().map(|r| self.repos.for_repo(r).approvers);
        let mut named: Vec<Deciders> = self.default.iter().cloned().collect();
        for approvers in repos {
            named.extend(
                [approvers.merge, approvers.ci, approvers.release]
                    .into_iter()
                    .flatten(),
            );
            named.extend(approvers.stages.into_values().filter_map(|s| s.users));
        }
        for group in named.iter().flat_map(Deciders::groups) {
            if !groups.iter().any(|g| g == group) {
                groups.push(group.to_owned());
            }
        }
        groups
    }

    /// The decisions `check` lists for `repo`: the three fixed ones, then every stage the
    /// repository names (in its order, then those only its approvers table names).
    pub fn decisions(&self, repo: Option<&RepoName>) -> Vec<Decides> {
        let settings = repo.map(|r| self.repos.for_repo(r)).unwrap_or_default();
        let mut all = vec![Decides::Merge, Decides::Ci, Decides::Release];
        let named = settings
            .stages
            .iter()
            .chain(settings.approvers.stages.keys());
        for stage in named {
            if !all
                .iter()
                .any(|d| matches!(d, Decides::Stage(s) if s.eq_ignore_ascii_case(stage)))
            {
                all.push(Decides::Stage(stage.clone()));
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Approver, RepoSettings};

    fn repo(name: &str) -> RepoName {
        RepoName::parse(name).unwrap()
    }

    fn policy() -> ApprovalPolicy {
        let web: RepoSettings = toml::from_str(
            r#"
            allow_self_approval = true
            [approvers]
            merge = ["S0DEVS0001"]
            [approvers.stages.Production]
            users = ["S0PRODOPS1"]
            required = 2
            [approvers.stages.Sandbox]
            required = 2
            [approvers.stages.Staging]
            from_azure_devops = true
            "#,
        )
        .unwrap();
        ApprovalPolicy {
            default: Deciders::parse("U0LEAD0001").unwrap(),
            allow_self_approval: false,
            repos: ReposConfig::new(vec![(repo("web-app"), web)]),
        }
    }

    #[test]
    fn each_decision_has_its_rule_and_what_is_not_given_falls_back() {
        let policy = policy();
        let web = Some(repo("Web-App"));
        let merge = policy.rule(web.as_ref(), &Decides::Merge);
        assert_eq!(
            merge.deciders.unwrap().approvers(),
            [Approver::Group("S0DEVS0001".into())]
        );
        let lead = Some(Deciders::Only(vec![Approver::User("U0LEAD0001".into())]));
        let release = policy.rule(web.as_ref(), &Decides::Release);
        assert_eq!((release.deciders, release.required), (lead.clone(), 1));
        let prod = policy.rule(web.as_ref(), &Decides::Stage("production".into()));
        assert_eq!(prod.describe(), "S0PRODOPS1 (2 people)");
        let sandbox = policy.rule(web.as_ref(), &Decides::Stage("Sandbox".into()));
        assert_eq!((sandbox.deciders, sandbox.required), (lead.clone(), 2));
        let other = policy.rule(Some(&repo("api")), &Decides::Stage("Production".into()));
        assert_eq!((other.deciders, other.required), (lead, 1));
        let staging = policy.rule(web.as_ref(), &Decides::Stage("Staging".into()));
        assert!(
            staging.from_azure_devops && staging.deciders.is_none(),
            "{staging:?}"
        );
        assert_eq!(staging.describe(), "the approvers Azure DevOps lists");
    }

    #[test]
    fn self_approval_is_per_repository_with_a_default() {
        let policy = policy();
        assert!(policy.self_approval(Some(&repo("web-app"))));
        assert!(!policy.self_approval(Some(&repo("api"))));
        assert!(!policy.self_approval(None));
    }

    #[test]
    fn what_an_approval_decides_reads_back() {
        for decides in [
            Decides::Merge,
            Decides::Ci,
            Decides::Release,
            Decides::Stage("Production EU".into()),
        ] {
            assert_eq!(Decides::parse(&decides.to_string()), Some(decides));
        }
        assert_eq!(Decides::parse("stage:"), None);
        assert_eq!(Decides::parse("deploy"), None);
    }

    #[test]
    fn check_lists_fixed_decisions_then_stages_once() {
        let policy = policy();
        let listed: Vec<String> = policy
            .decisions(Some(&repo("web-app")))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            listed,
            [
                "merge",
                "ci",
                "release",
                "stage:Production",
                "stage:Sandbox",
                "stage:Staging"
            ]
        );
    }
}
