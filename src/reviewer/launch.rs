//! What one reviewer process is started with: the CLI's flags, a fresh empty `HOME` and `TMPDIR`
//! that are deleted afterwards, an environment with nothing of the bot's own, and the sandbox
//! around it.

use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;
use serde_json::Value;
use tempfile::TempDir;
use tracing::warn;

use super::sandbox::{self, Sandbox};
use super::{ReviewError, ReviewerSettings, cli_settings, passed_env};

/// A prepared start. Keep it until the process has ended: dropping it deletes `HOME` and `TMPDIR`.
pub(super) struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    _scratch: TempDir,
}

/// The start of the CLI in `tree`, inside `sandbox`, with the flags `cli_args` makes for the
/// resolved worktree path.
pub(super) fn prepare(
    settings: &ReviewerSettings,
    sandbox: &Sandbox,
    tree: &Path,
    cli_args: impl FnOnce(&Path) -> Vec<String>,
) -> Result<Launch, ReviewError> {
    let cannot = |reason: String| ReviewError::CannotStart {
        command: settings.command.display().to_string(),
        reason,
    };
    if let Sandbox::Broken { why } = sandbox {
        return Err(ReviewError::Sandbox(why.clone()));
    }
    let cli = sandbox::which(&settings.command.to_string_lossy())
        .ok_or_else(|| cannot("not found (a path, or a program on PATH)".into()))?;
    let tree = tree
        .canonicalize()
        .map_err(|e| cannot(format!("the worktree {} is gone: {e}", tree.display())))?;
    let scratch = tempfile::Builder::new()
        .prefix("release-agent-review-")
        .tempdir()
        .map_err(|e| cannot(format!("no temporary HOME: {e}")))?;
    let (home, tmp) = (scratch.path().join("home"), scratch.path().join("tmp"));
    for dir in [&home, &tmp] {
        std::fs::create_dir(dir).map_err(|e| cannot(format!("no temporary HOME: {e}")))?;
    }
    let env = environment(settings, &home, &tmp);
    let cli_args = cli_args(&tree);
    let (program, args) = match sandbox {
        Sandbox::Bwrap { program } => {
            let install_dir = cli.parent().unwrap_or(Path::new("/"));
            let files = passed_env::files(&settings.passed_env);
            let args =
                sandbox::bwrap_args(&tree, scratch.path(), install_dir, &cli, &cli_args, &files);
            (program.clone(), args)
        }
        Sandbox::Off { .. } if nix::unistd::geteuid().is_root() => {
            match sandbox::which("setpriv") {
                Some(setpriv) => (setpriv, sandbox::setpriv_args(&cli, &cli_args)),
                None => {
                    warn!(
                        "the bot runs as root and setpriv is missing: the reviewer keeps root's capabilities"
                    );
                    (cli, cli_args)
                }
            }
        }
        Sandbox::Off { .. } | Sandbox::Broken { .. } => (cli, cli_args),
    };
    Ok(Launch {
        program,
        args,
        env,
        cwd: tree,
        _scratch: scratch,
    })
}

/// Only what the CLI needs (`passed_env.rs`); the bot's own secrets and `HOME` stay out.
fn environment(settings: &ReviewerSettings, home: &Path, tmp: &Path) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = ["PATH", "LANG", "LC_ALL"]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_owned(), v)))
        .collect();
    env.push(("HOME".into(), home.display().to_string()));
    env.push(("TMPDIR".into(), tmp.display().to_string()));
    env.extend(
        settings
            .passed_env
            .iter()
            .map(|(name, value)| (name.clone(), value.expose_secret().to_owned())),
    );
    env.push(("DISABLE_AUTOUPDATER".into(), "1".into()));
    env.push((
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
        "1".into(),
    ));
    env
}

/// The flags of a headless, read-only review answering `schema`, kept to `tree` (resolved).
pub(super) fn review_args(
    settings: &ReviewerSettings,
    schema: &Value,
    rules: &str,
    tree: &Path,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "-p",
        "--output-format",
        "json",
        "--json-schema",
        &schema.to_string(),
        "--tools",
        "Read,Grep,Glob",
        "--permission-mode",
        "dontAsk",
        "--max-turns",
        &settings.max_turns.to_string(),
        "--no-session-persistence",
        "--strict-mcp-config",
        "--setting-sources",
        "",
        "--settings",
        &cli_settings::settings(tree).to_string(),
        "--append-system-prompt",
        rules,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    if let Some(model) = &settings.model {
        args.extend(["--model".to_owned(), model.clone()]);
    }
    if let Some(budget) = settings.max_budget_usd {
        args.extend(["--max-budget-usd".to_owned(), budget.to_string()]);
    }
    args
}
