//! What start-up checks and tidies before the bot takes work: the Slack tokens, and review
//! worktrees a killed process left.

use tracing::{info, warn};

use super::StartupError;
use super::parts::repos_on_disk;
use crate::config::Config;
use crate::slack::web::SlackApi;
use crate::slack::workspace::Workspace;

/// Review worktrees an earlier process left (it was killed mid-review) are removed.
pub(super) async fn prune_worktrees(config: &Config) {
    match repos_on_disk(config).prune_stale().await {
        Ok(0) => {}
        Ok(pruned) => info!(
            pruned,
            "removed review worktrees left by an earlier process"
        ),
        Err(e) => warn!(error = %e, "cannot prune stale review worktrees"),
    }
}

/// Fails start-up when Slack rejects a token; a Slack outage only warns, since Socket Mode keeps
/// trying to connect on its own. The bot's workspace, when Slack answered.
pub(super) async fn verify_tokens(
    api: &SlackApi,
    socket_mode: bool,
) -> Result<Option<Workspace>, StartupError> {
    let me = api.auth_test().await;
    let socket = if socket_mode {
        api.connections_open().await.map(drop)
    } else {
        Ok(())
    };
    let workspace = me.as_ref().ok().map(|me| me.workspace.clone());
    let checks = [
        ("SLACK_BOT_TOKEN", me.map(drop)),
        ("SLACK_APP_TOKEN", socket),
    ];
    for (var, result) in checks {
        match result {
            Ok(()) => {}
            Err(source) if source.is_auth() => {
                return Err(StartupError::SlackToken { var, source });
            }
            Err(e) => warn!(var, error = %e, "cannot verify a Slack token now; going on"),
        }
    }
    Ok(workspace)
}
