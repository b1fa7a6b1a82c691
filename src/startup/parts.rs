//! The parts of the application that a test may swap (the flows, the clock, the timings), and
//! how production builds them from the config: every client once, one Azure DevOps client and
//! one Jira client shared by both workflows and the poller. The flows never see the config; they
//! get their clients and their own settings here.

use std::sync::Arc;
use std::time::Duration;

use super::StartupError;
use crate::azdo::{AzdoClient, AzureDevOps};
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::RepoName;
use crate::git::{Remote, Repos};
use crate::jira::JiraClient;
use crate::reviewer::ClaudeReviewer;
use crate::slack::outbound::OutboundSettings;
use crate::slack::socket_mode::SocketSettings;
use crate::store::Store;
use crate::workflow::pr::PrFlow;
use crate::workflow::pr::poller::Poller;
use crate::workflow::release::ReleaseFlow;
use crate::workflow::tickets::JiraSide;
use crate::workflow::{Engine, EngineSettings, Flows};

/// What a test (or a later issue) may swap: the flows, the clock and the timings.
pub struct Parts {
    pub flows: Flows,
    /// The Azure DevOps client the flows share, for the poller; `None` when it is not set up.
    pub azdo: Option<Arc<dyn AzureDevOps>>,
    pub clock: Clock,
    pub engine: EngineSettings,
    pub outbound: OutboundSettings,
    pub socket: SocketSettings,
}

impl Parts {
    /// The production parts for `config`: the PR and release workflows when Azure DevOps is set
    /// up.
    pub fn for_config(config: &Config) -> Result<Self, StartupError> {
        let mut engine = EngineSettings::new(&config.slack.channel, config.approval_timeout);
        engine.lease = config.run_lease;
        engine.concurrency = config.engine_concurrency;
        let azdo: Option<Arc<dyn AzureDevOps>> = match &config.azdo {
            Some(settings) => Some(Arc::new(
                AzdoClient::new(settings.clone()).map_err(StartupError::Client)?,
            )),
            None => None,
        };
        let flows = match &azdo {
            Some(azdo) => workflows(config, azdo)?,
            None => Flows::new(),
        };
        Ok(Self {
            flows,
            azdo,
            clock: Clock::system(),
            engine,
            outbound: OutboundSettings {
                channel_gap: Duration::from_secs(1) / config.slack.posts_per_second,
                ..OutboundSettings::default()
            },
            socket: SocketSettings::default(),
        })
    }
}

/// The PR and release flows, with the clients they share and each one's settings.
fn workflows(config: &Config, azdo: &Arc<dyn AzureDevOps>) -> Result<Flows, StartupError> {
    let jira = match &config.jira {
        Some(jira) => Some(JiraSide {
            client: Arc::new(JiraClient::new(jira.settings.clone()).map_err(StartupError::Client)?),
            project: jira.project.clone(),
            issue_type: jira.issue_type.clone(),
            projects: config.jira_projects(),
        }),
        None => None,
    };
    let repos = Arc::new(repos_on_disk(config));
    let pr = PrFlow {
        azdo: azdo.clone(),
        jira: jira.clone(),
        repos: repos.clone(),
        release_branch: config.release.branch.clone(),
        reviewer: Arc::new(ClaudeReviewer::new(config.reviewer.clone())),
        settings: config.pr.clone(),
        repos_config: config.repos_config.clone(),
        known_repos: config.known_repos(),
    };
    let release = ReleaseFlow {
        azdo: azdo.clone(),
        jira,
        repos,
        pr: config.pr.clone(),
        settings: config.release.clone(),
        repos_config: config.repos_config.clone(),
        known_repos: config.known_repos(),
    };
    Ok(Flows::new().with(pr).with(release))
}

/// The repositories under REPOS_BASE_DIR, cloned from Azure DevOps when configured.
pub fn repos_on_disk(config: &Config) -> Repos {
    let remote = config.azdo.as_ref().map(|azdo| {
        let prefix = |project: &str| {
            let mut prefix = azdo.base_url.clone();
            if let Ok(mut path) = prefix.path_segments_mut() {
                path.pop_if_empty().extend([project, "_git"]);
            }
            prefix.to_string()
        };
        Remote {
            prefix: prefix(&azdo.project),
            elsewhere: azdo
                .repo_projects
                .iter()
                .map(|(repo, project)| (repo.clone(), prefix(project)))
                .collect(),
            pat: Some(azdo.pat.clone()),
            proxy_env: config.proxy.env(),
        }
    });
    Repos::new(config.repos_dir.clone(), remote)
}

/// Every repository the bot works with, each with the branch its PRs target.
pub(super) fn repos_with_targets(config: &Config, repos: Vec<RepoName>) -> Vec<(RepoName, String)> {
    repos
        .into_iter()
        .map(|repo| {
            let target = config.target_branch(&repo);
            (repo, target)
        })
        .collect()
}

/// The PR poller, when PR_POLL_ENABLED and Azure DevOps are set up.
pub(super) fn poller(
    config: &Config,
    azdo: Option<Arc<dyn AzureDevOps>>,
    engine: &Engine,
    store: &Store,
    clock: &Clock,
) -> Option<Poller> {
    let (true, Some(azdo)) = (config.pr.poll_enabled, azdo) else {
        return None;
    };
    Some(Poller {
        azdo,
        engine: engine.clone(),
        store: store.clone(),
        clock: clock.clone(),
        repos: repos_with_targets(config, config.watched_repos.clone()),
        interval: config.pr.poll_interval,
    })
}
