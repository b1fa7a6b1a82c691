//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "release-agent",
    version,
    about = "A Slack-first release bot for Azure DevOps and Jira"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum CliCommand {
    /// Run the bot (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and check that every configured service answers.
    Check,
    /// Review a branch on this machine and print the review as Markdown. Needs only git and the
    /// reviewer CLI (CLAUDE_CMD). Exits 0 when the reviewer approves, 1 when it asks for changes.
    Review {
        /// The repository's directory.
        #[arg(long)]
        repo: PathBuf,
        /// The branch to review.
        #[arg(long)]
        source: String,
        /// The branch it would merge into.
        #[arg(long)]
        target: String,
    },
}
