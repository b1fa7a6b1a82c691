//! Running the git CLI: no prompts, no LFS downloads, a time limit, output captured, an
//! environment without the bot's secrets, and the PAT (for http(s) remotes only) passed as an
//! `http.<remote>.extraHeader` through git's environment configuration.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use super::{GitError, Remote};

const TIMEOUT: Duration = Duration::from_secs(600);

/// Runs `git args…` in `dir`; returns stdout. `url` is the URL the command talks to, so the
/// credentials of `remote` go only where they belong.
pub(super) async fn git(
    dir: &Path,
    args: &[&str],
    remote: Option<&Remote>,
    url: &str,
) -> Result<String, GitError> {
    let mut command = tokio::process::Command::new("git");
    // git and what it runs (credential helpers, LFS, hooks of a clone) see none of the bot's
    // secrets: only what git needs to find its way, its certificates and a proxy.
    command
        .env_clear()
        .envs(std::env::vars_os().filter(|(name, _)| kept(name)))
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_LFS_SKIP_SMUDGE", "1")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(remote) = remote {
        for (key, value) in &remote.proxy_env {
            command.env(key, value.expose_secret());
        }
    }
    for (key, value) in auth_env(url, remote.and_then(|r| r.pat.as_ref())) {
        command.env(key, value);
    }
    let failed = |output: String| GitError::Command {
        dir: dir.to_owned(),
        args: args.join(" "),
        output,
    };
    let output = match tokio::time::timeout(TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(failed(format!("cannot run git: {e}"))),
        Err(_) => return Err(failed(format!("no result within {}s", TIMEOUT.as_secs()))),
    };
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text: String = stderr.trim().chars().take(1000).collect();
    Err(failed(format!("{} ({})", text, output.status)))
}

/// The variables of the bot's environment that git gets.
const KEPT: [&str; 18] = [
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn kept(name: &std::ffi::OsStr) -> bool {
    KEPT.iter().any(|kept| name == *kept)
}

/// Git's environment configuration for an authorization header, for http(s) remotes only, and
/// only for `remote` itself (`http.<url>.extraHeader`): a redirect, a submodule or an LFS
/// endpoint elsewhere does not get it.
fn auth_env(remote: &str, pat: Option<&SecretString>) -> Vec<(&'static str, String)> {
    let Some(pat) = pat else { return Vec::new() };
    if !(remote.starts_with("https://") || remote.starts_with("http://")) {
        return Vec::new();
    }
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!(":{}", pat.expose_secret()));
    vec![
        ("GIT_CONFIG_COUNT", "1".into()),
        ("GIT_CONFIG_KEY_0", format!("http.{remote}.extraHeader")),
        (
            "GIT_CONFIG_VALUE_0",
            format!("Authorization: Basic {token}"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn git_gets_its_way_and_no_secret() {
        for name in ["PATH", "HOME", "SSL_CERT_FILE", "https_proxy", "NO_PROXY"] {
            assert!(kept(OsStr::new(name)), "{name}");
        }
        for name in [
            "SLACK_BOT_TOKEN",
            "AZDO_PAT",
            "JIRA_API_TOKEN",
            "ANTHROPIC_API_KEY",
            "DATABASE_URL",
            "OPERATOR_TOKENS",
            "GIT_CONFIG_COUNT",
            "LD_PRELOAD",
        ] {
            assert!(!kept(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn the_pat_goes_to_http_remotes_as_a_header_and_nowhere_else() {
        let pat = SecretString::from("s3cret");
        let env = auth_env("https://dev.azure.com/o/p/_git/r", Some(&pat));
        assert_eq!(
            env[1],
            (
                "GIT_CONFIG_KEY_0",
                "http.https://dev.azure.com/o/p/_git/r.extraHeader".to_owned()
            ),
            "scoped to the remote"
        );
        assert_eq!(env[2].1, "Authorization: Basic OnMzY3JldA==");
        assert!(auth_env("/srv/mirrors/r", Some(&pat)).is_empty());
        assert!(auth_env("https://x", None).is_empty());
    }
}
