//! Running the reviewer CLI under supervision: in its own process group, with a clean
//! environment, the prompt on stdin, stdout and stderr drained at once (a full pipe would stall
//! the child) and capped, and a hard time limit after which the whole group is stopped: SIGTERM,
//! then SIGKILL a second later, so the tools it started die with it.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;
use tracing::warn;

const STDOUT_CAP: usize = 16 * 1024 * 1024;
const STDERR_CAP: usize = 64 * 1024;
const KILL_GRACE: Duration = Duration::from_secs(1);

/// How a supervised run ended.
#[derive(Debug)]
pub(super) enum Ended {
    Exited {
        status: ExitStatus,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
    TimedOut,
    CannotStart(String),
}

/// One invocation.
pub(super) struct Invocation<'a> {
    pub program: &'a Path,
    pub args: Vec<String>,
    pub cwd: &'a Path,
    pub env: Vec<(String, String)>,
    pub stdin: String,
    pub timeout: Duration,
}

pub(super) async fn run(invocation: Invocation<'_>) -> Ended {
    let mut command = tokio::process::Command::new(invocation.program);
    command
        .args(&invocation.args)
        .current_dir(invocation.cwd)
        .env_clear()
        .envs(invocation.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Ended::CannotStart(e.to_string()),
    };
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Ended::CannotStart("the child's pipes are missing".into());
    };
    let prompt = invocation.stdin;
    let feed = async move {
        // A child that exits without reading its input is not an error here.
        let _ = stdin.write_all(prompt.as_bytes()).await;
        let _ = stdin.shutdown().await;
    };
    let work = async {
        let ((), out, err, status) = tokio::join!(
            feed,
            read_capped(stdout, STDOUT_CAP),
            read_capped(stderr, STDERR_CAP),
            child.wait()
        );
        (out, err, status)
    };
    match tokio::time::timeout(invocation.timeout, work).await {
        Ok((stdout, stderr, Ok(status))) => Ended::Exited {
            status,
            stdout,
            stderr,
        },
        Ok((_, _, Err(e))) => Ended::CannotStart(e.to_string()),
        Err(_) => {
            stop_group(&mut child, group).await;
            Ended::TimedOut
        }
    }
}

/// SIGTERM to the group, then SIGKILL if anything is left after the grace period.
async fn stop_group(child: &mut Child, group: Option<Pid>) {
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGTERM);
    }
    if tokio::time::timeout(KILL_GRACE, child.wait())
        .await
        .is_err()
    {
        warn!("the reviewer ignored SIGTERM; killing it");
    }
    if let Some(group) = group {
        // The leader may be gone while tools it started still run in the group.
        let _ = killpg(group, Signal::SIGKILL);
    }
    let _ = child.kill().await;
}

/// Reads everything (so the writer never blocks) and keeps the first `cap` bytes.
async fn read_capped(mut reader: impl AsyncRead + Unpin, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buffer = vec![0u8; 8192];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..n.min(room)]);
            }
        }
    }
}
