//! The AI reviewer: the Claude Code CLI, run headless and read-only in a PR's worktree.
//!
//! The CLI gets only the Read, Grep and Glob tools, in a permission mode that never prompts, no
//! settings, hooks or MCP servers from the machine or the reviewed repository, deny rules that
//! keep it in its worktree, a fresh empty `HOME` and an environment with nothing of the bot's
//! own; where bubblewrap works it runs in a sandbox (`sandbox.rs`). The prompt goes on stdin; the
//! answer must fit a JSON schema, checked again here (`answer.rs`). Any failure is a failure with
//! its reason, never an approval.
//!
//! Read `prompt.rs`, `answer.rs`, `launch.rs`, `sandbox.rs`, `process.rs`, `output.rs`, then
//! `placement.rs` and `report.rs`.

mod answer;
mod cli_settings;
mod cli_version;
pub mod fingerprint;
mod launch;
mod output;
pub mod passed_env;
mod placement;
mod process;
mod prompt;
pub mod report;
mod rules;
mod sandbox;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use answer::Answer;
pub use cli_version::OLDEST as OLDEST_CLI_VERSION;
pub use output::Usage;
pub use placement::{Placement, place};
pub use prompt::{QuestionInput, ReviewInput, TicketInput, WHOLE_DIFF_FILE};
pub use rules::{RULES_FILE, ReviewRules};
pub use sandbox::{Sandbox, SandboxMode};
use tracing::instrument;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReviewError {
    #[error("cannot start the reviewer `{command}`: {reason} (check CLAUDE_CMD)")]
    CannotStart { command: String, reason: String },
    #[error("the reviewer's sandbox cannot start: {0} (check REVIEWER_SANDBOX)")]
    Sandbox(String),
    #[error("the reviewer did not finish within {seconds}s and was stopped")]
    Timeout { seconds: u64 },
    #[error("the reviewer failed ({kind}): {message}")]
    Failed { kind: String, message: String },
    #[error("the reviewer exited with {} : {stderr}", code.map_or("a signal".to_owned(), |c| format!("code {c}")))]
    Exit { code: Option<i32>, stderr: String },
    #[error("the reviewer's output is not a result: {0}")]
    Garbage(String),
    #[error("the reviewer's answer does not fit the schema: {0}")]
    Schema(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    RequestChanges,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Major,
    Minor,
    Nit,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Self::Critical => "Critical",
            Self::Major => "Major",
            Self::Minor => "Minor",
            Self::Nit => "Nit",
        }
    }
}

/// Unknown fields are refused: the reviewer's schema allows none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub file: String,
    pub line: u32,
    pub severity: Severity,
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub verdict: Verdict,
    pub summary: String,
    pub findings: Vec<Finding>,
    /// What the run cost and took, as the CLI reports it.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub turns: Option<u32>,
    #[serde(default)]
    pub tokens: Option<u64>,
}

/// The model's answer before the usage is attached.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewAnswer {
    verdict: Verdict,
    summary: String,
    findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketDraft {
    pub summary: String,
    pub description: String,
}

/// The model's answer to a question asked in a card's thread.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyAnswer {
    answer: String,
}

/// An answer to a question about a reviewed PR, with what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    pub cost_usd: Option<f64>,
    pub tokens: Option<u64>,
}

/// What the flows need from the reviewer.
#[async_trait]
pub trait Reviewer: Send + Sync {
    /// Reviews the PR checked out in `worktree`.
    async fn review(&self, worktree: &Path, input: &ReviewInput) -> Result<Review, ReviewError>;
    /// Writes a Jira ticket for a PR that has none.
    async fn draft_ticket(
        &self,
        worktree: &Path,
        input: &TicketInput,
    ) -> Result<TicketDraft, ReviewError>;
    /// Answers a question about the PR checked out in `worktree`, with its review as context.
    async fn answer(&self, worktree: &Path, input: &QuestionInput) -> Result<Reply, ReviewError>;
}

#[derive(Debug, Clone)]
pub struct ReviewerSettings {
    /// CLAUDE_CMD: a program name looked up on PATH, or a path.
    pub command: PathBuf,
    pub timeout: Duration,
    pub model: Option<String>,
    pub max_turns: u32,
    pub max_budget_usd: Option<f64>,
    /// Reviewer processes that run at once (REVIEW_CONCURRENCY); more reviews wait their turn.
    pub concurrency: usize,
    /// The variables the CLI gets from the bot's environment (`passed_env.rs`): a proxy, CAs,
    /// and a Claude provider's credentials. Each review's HOME is fresh and empty, so a login
    /// stored in the bot's HOME is not seen.
    pub passed_env: Vec<(String, SecretString)>,
    /// REVIEWER_SANDBOX: whether the CLI runs inside bubblewrap.
    pub sandbox: SandboxMode,
}

impl ReviewerSettings {
    pub fn new(command: impl Into<PathBuf>, timeout: Duration) -> Self {
        Self {
            command: command.into(),
            timeout,
            model: None,
            max_turns: 30,
            max_budget_usd: None,
            concurrency: 2,
            passed_env: Vec::new(),
            sandbox: SandboxMode::Auto,
        }
    }
}

pub struct ClaudeReviewer {
    settings: ReviewerSettings,
    /// One permit per reviewer process that may run: reviews cost money and memory.
    slots: tokio::sync::Semaphore,
    /// Found at the first review (it starts a trial sandbox), then kept.
    sandbox: tokio::sync::OnceCell<Sandbox>,
}

impl ClaudeReviewer {
    pub fn new(settings: ReviewerSettings) -> Self {
        let slots = tokio::sync::Semaphore::new(settings.concurrency.max(1));
        Self {
            settings,
            slots,
            sandbox: tokio::sync::OnceCell::new(),
        }
    }

    /// The sandbox reviews run in, for `check` and the log.
    pub async fn sandbox(&self) -> &Sandbox {
        let mode = self.settings.sandbox;
        self.sandbox.get_or_init(|| sandbox::resolve(mode)).await
    }

    /// Starts the CLI with `args` in `tree`, inside the sandbox, and waits for it.
    async fn start(
        &self,
        tree: &Path,
        args: impl FnOnce(&Path) -> Vec<String>,
        stdin: String,
        timeout: Duration,
    ) -> Result<process::Ended, ReviewError> {
        let launch = launch::prepare(&self.settings, self.sandbox().await, tree, args)?;
        Ok(process::run(process::Invocation {
            program: &launch.program,
            args: launch.args.clone(),
            cwd: &launch.cwd,
            env: launch.env.clone(),
            stdin,
            timeout,
        })
        .await)
    }

    /// What `claude --version` says, for `check`.
    #[instrument(level = "debug", skip_all)]
    pub async fn version(&self) -> Result<String, ReviewError> {
        let scratch = tempfile::tempdir().map_err(|e| self.cannot_start(e.to_string()))?;
        let args = |_: &Path| vec!["--version".to_owned()];
        let ended = self
            .start(scratch.path(), args, String::new(), Duration::from_secs(30))
            .await?;
        match ended {
            process::Ended::Exited { status, stdout, .. } if status.success() => {
                Ok(String::from_utf8_lossy(&stdout).trim().to_owned())
            }
            process::Ended::Exited { status, stderr, .. } => Err(ReviewError::Exit {
                code: status.code(),
                stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
            }),
            process::Ended::TimedOut => Err(ReviewError::Timeout { seconds: 30 }),
            process::Ended::CannotStart(reason) => Err(self.cannot_start(reason)),
        }
    }

    /// The CLI's version, or why it cannot do reviews: not found, not starting, or older than
    /// the flags the bot uses (`cli_version.rs`).
    pub async fn version_check(&self) -> Result<String, String> {
        let version = self.version().await.map_err(|e| e.to_string())?;
        cli_version::judge(&version)
    }

    fn cannot_start(&self, reason: String) -> ReviewError {
        ReviewError::CannotStart {
            command: self.settings.command.display().to_string(),
            reason,
        }
    }

    async fn ask<T: Answer>(
        &self,
        cwd: &Path,
        prompt: String,
        rules: &str,
    ) -> Result<(T, Usage), ReviewError> {
        // The semaphore is never closed, so a permit always comes.
        let _slot = self.slots.acquire().await.ok();
        let schema = T::schema();
        let args = |tree: &Path| launch::review_args(&self.settings, &schema, rules, tree);
        let ended = self.start(cwd, args, prompt, self.settings.timeout).await?;
        match ended {
            process::Ended::Exited {
                status,
                stdout,
                stderr,
            } => output::read(status, &stdout, &stderr),
            process::Ended::TimedOut => Err(ReviewError::Timeout {
                seconds: self.settings.timeout.as_secs(),
            }),
            process::Ended::CannotStart(reason) => Err(self.cannot_start(reason)),
        }
    }
}

/// The verdict the bot acts on: the model's, except that a critical or major finding always
/// asks for changes. This is code, not only the prompt, because a PR's own text reaches the
/// model and could talk it into approving over its own finding. The summary then says so.
fn settle(said: Verdict, summary: String, findings: &[Finding]) -> (Verdict, String) {
    let blocking = findings
        .iter()
        .filter(|f| f.severity <= Severity::Major)
        .count();
    if said == Verdict::Approve && blocking > 0 {
        let note = format!(
            "The model answered approve, but it reported {blocking} critical or major \
             finding(s), so the verdict is request changes. "
        );
        (Verdict::RequestChanges, note + &summary)
    } else {
        (said, summary)
    }
}

#[async_trait]
impl Reviewer for ClaudeReviewer {
    #[instrument(level = "debug", skip_all, fields(worktree = %worktree.display()))]
    async fn review(&self, worktree: &Path, input: &ReviewInput) -> Result<Review, ReviewError> {
        let (answer, usage): (ReviewAnswer, Usage) = self
            .ask(worktree, input.prompt(), prompt::REVIEW_RULES)
            .await?;
        let (verdict, summary) = settle(answer.verdict, answer.summary, &answer.findings);
        Ok(Review {
            verdict,
            summary,
            findings: answer.findings,
            cost_usd: usage.cost_usd,
            duration_ms: usage.duration_ms,
            turns: usage.turns,
            tokens: usage.tokens,
        })
    }

    #[instrument(level = "debug", skip_all, fields(worktree = %worktree.display()))]
    async fn draft_ticket(
        &self,
        worktree: &Path,
        input: &TicketInput,
    ) -> Result<TicketDraft, ReviewError> {
        let (draft, _): (TicketDraft, Usage) = self
            .ask(worktree, input.prompt(), prompt::TICKET_RULES)
            .await?;
        Ok(draft)
    }

    #[instrument(level = "debug", skip_all, fields(worktree = %worktree.display()))]
    async fn answer(&self, worktree: &Path, input: &QuestionInput) -> Result<Reply, ReviewError> {
        let (reply, usage): (ReplyAnswer, Usage) = self
            .ask(worktree, input.prompt(), prompt::QUESTION_RULES)
            .await?;
        Ok(Reply {
            text: reply.answer,
            cost_usd: usage.cost_usd,
            tokens: usage.tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity) -> Finding {
        Finding {
            file: "src/a.rs".into(),
            line: 1,
            severity,
            title: "t".into(),
            body: String::new(),
        }
    }

    #[test]
    fn a_critical_or_major_finding_overrules_an_approval() {
        for severity in [Severity::Critical, Severity::Major] {
            let (verdict, summary) = settle(Verdict::Approve, "Fine.".into(), &[finding(severity)]);
            assert_eq!(verdict, Verdict::RequestChanges);
            assert!(summary.starts_with(
                "The model answered approve, but it reported 1 critical or major finding(s)"
            ));
            assert!(summary.ends_with("Fine."));
        }
        let minor = [finding(Severity::Minor), finding(Severity::Nit)];
        assert_eq!(
            settle(Verdict::Approve, "Fine.".into(), &minor),
            (Verdict::Approve, "Fine.".into())
        );
        let asked = settle(Verdict::RequestChanges, "No.".into(), &[]);
        assert_eq!(asked, (Verdict::RequestChanges, "No.".into()));
    }
}
