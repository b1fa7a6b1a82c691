//! Where the reviewer runs. A PR's author controls everything the reviewer reads, so the CLI is
//! kept away from the bot: with bubblewrap it sees only its worktree (read-only), its own empty
//! `HOME`, the CLI's install directory and the system's programs and certificates, in its own
//! process, mount and IPC namespaces with no capabilities. Without bubblewrap it still gets the
//! empty `HOME` and minimal environment, and a bot running as root starts it through `setpriv`
//! with no capabilities, so it cannot read the (non-dumpable) bot's memory or environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::warn;

/// REVIEWER_SANDBOX: `auto` uses bubblewrap where it works and says so where it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    Auto,
    Bwrap,
    Off,
}

impl SandboxMode {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "bwrap" => Ok(Self::Bwrap),
            "off" => Ok(Self::Off),
            _ => Err(format!("`{text}` is not one of auto, bwrap, off")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Bwrap => "bwrap",
            Self::Off => "off",
        }
    }
}

/// The sandbox in force, found once per process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sandbox {
    Bwrap {
        program: PathBuf,
    },
    /// No sandbox, and why: chosen, or bubblewrap missing or refused by this kernel.
    Off {
        why: String,
        chosen: bool,
    },
    /// REVIEWER_SANDBOX=bwrap and bubblewrap cannot run: reviews refuse to start.
    Broken {
        why: String,
    },
}

impl Sandbox {
    /// One line for `check` and the log.
    pub fn describe(&self) -> String {
        match self {
            Self::Bwrap { program } => format!(
                "bubblewrap ({}): the reviewer sees its worktree read-only, an empty HOME and \
                 the CLI, nothing else of the file system",
                program.display()
            ),
            Self::Off { why, .. } | Self::Broken { why } => why.clone(),
        }
    }
}

/// Finds the sandbox for `mode`: bubblewrap on PATH that can start a trial sandbox.
pub async fn resolve(mode: SandboxMode) -> Sandbox {
    if mode == SandboxMode::Off {
        return Sandbox::Off {
            why: "off (REVIEWER_SANDBOX=off): an empty HOME, a minimal environment and deny \
                  rules only"
                .into(),
            chosen: true,
        };
    }
    let found = match which("bwrap") {
        Some(program) => trial(&program).await.map(|()| program),
        None => Err("bwrap is not installed (install the bubblewrap package)".to_owned()),
    };
    match (found, mode) {
        (Ok(program), _) => Sandbox::Bwrap { program },
        (Err(why), SandboxMode::Bwrap) => Sandbox::Broken {
            why: format!("REVIEWER_SANDBOX=bwrap, but {why}"),
        },
        (Err(why), _) => {
            let why = format!(
                "off: {why}; the reviewer runs without a sandbox, with an empty HOME, a \
                 minimal environment and deny rules only"
            );
            warn!(reason = %why, "the reviewer has no sandbox");
            Sandbox::Off { why, chosen: false }
        }
    }
}

/// Starts `true` in a sandbox built like a review's, so a kernel without user namespaces or a
/// bubblewrap that lacks a flag is found before the first review.
async fn trial(bwrap: &Path) -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
    let (home, tree) = (scratch.path().join("home"), scratch.path().join("tree"));
    for dir in [&home, &tree] {
        std::fs::create_dir(dir).map_err(|e| format!("no temporary directory: {e}"))?;
    }
    let args = bwrap_args(
        &tree,
        &home,
        Path::new("/usr/bin"),
        Path::new("/usr/bin/true"),
        &[],
        &[],
    );
    let run = tokio::process::Command::new(bwrap)
        .args(&args)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(20), run).await {
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => Err(format!(
            "bwrap cannot make a sandbox here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(Err(e)) => Err(format!("bwrap cannot run: {e}")),
        Err(_) => Err("bwrap did not finish a trial run within 20s".into()),
    }
}

/// A program name looked up on PATH, or a path as given; the real file, links followed.
pub(super) fn which(program: &str) -> Option<PathBuf> {
    let found = if program.contains('/') {
        Some(PathBuf::from(program))
    } else {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    };
    found.and_then(|path| path.canonicalize().ok())
}

/// What the system's programs and TLS need, read-only; `-try` because distributions differ.
const SYSTEM: [&str; 13] = [
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/passwd",
];

/// bubblewrap's arguments for running `program` (installed in `install_dir`) in `tree`, with
/// `scratch` (its `HOME` and `TMPDIR`) writable and `files` (a CA bundle, a provider's
/// credentials) readable.
pub(super) fn bwrap_args(
    tree: &Path,
    scratch: &Path,
    install_dir: &Path,
    program: &Path,
    args: &[String],
    files: &[PathBuf],
) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    let mut out: Vec<String> = [
        "--unshare-all",
        "--share-net",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
    ]
    .map(str::to_owned)
    .into();
    for dir in SYSTEM {
        out.extend(["--ro-bind-try".into(), dir.into(), dir.into()]);
    }
    out.extend(["--ro-bind".into(), path(install_dir), path(install_dir)]);
    for file in files {
        out.extend(["--ro-bind-try".into(), path(file), path(file)]);
    }
    out.extend(["--bind".into(), path(scratch), path(scratch)]);
    out.extend(["--ro-bind".into(), path(tree), path(tree)]);
    out.extend(["--chdir".into(), path(tree), "--".into(), path(program)]);
    out.extend(args.iter().cloned());
    out
}

/// A bot running as root starts the unsandboxed reviewer without capabilities: with them, the
/// reviewer could read any process's memory, the bot's included.
pub(super) fn setpriv_args(program: &Path, args: &[String]) -> Vec<String> {
    let mut out: Vec<String> = [
        "--bounding-set",
        "-all",
        "--inh-caps",
        "-all",
        "--no-new-privs",
    ]
    .map(str::to_owned)
    .into();
    out.push("--".into());
    out.push(program.display().to_string());
    out.extend(args.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_is_one_of_three() {
        assert_eq!(SandboxMode::parse("Auto"), Ok(SandboxMode::Auto));
        assert_eq!(SandboxMode::parse("off"), Ok(SandboxMode::Off));
        assert_eq!(
            SandboxMode::parse("docker"),
            Err("`docker` is not one of auto, bwrap, off".into())
        );
    }

    #[test]
    fn the_worktree_is_bound_read_only_and_the_scratch_writable() {
        let args = bwrap_args(
            Path::new("/w/tree"),
            Path::new("/t/home"),
            Path::new("/opt/claude"),
            Path::new("/opt/claude/claude"),
            &["-p".into()],
            &[PathBuf::from("/etc/corp/ca.pem")],
        );
        let joined = args.join(" ");
        assert!(joined.contains("--ro-bind /w/tree /w/tree"), "{joined}");
        assert!(joined.contains("--bind /t/home /t/home"), "{joined}");
        assert!(
            joined.contains("--ro-bind-try /etc/corp/ca.pem /etc/corp/ca.pem"),
            "{joined}"
        );
        assert!(
            joined.contains("--ro-bind /opt/claude /opt/claude"),
            "{joined}"
        );
        assert!(
            joined.ends_with("--chdir /w/tree -- /opt/claude/claude -p"),
            "{joined}"
        );
        assert!(joined.contains("--cap-drop ALL"), "{joined}");
        assert!(
            !joined.contains("--bind / "),
            "nothing else of the file system: {joined}"
        );
    }
}
