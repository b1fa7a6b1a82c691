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
    /// Ask the running bot (on HTTP_PORT) whether its database and Slack connection are up;
    /// exits 0 only when both are, for a container health check.
    Health,
    /// Import the old agent's JSON release files (staging and archived) into the database
    /// (DATABASE_URL). Safe to run twice: what is there already is left alone.
    ImportJson {
        /// The directory of release files; searched recursively for *.json.
        #[arg(long)]
        source: PathBuf,
        /// Print what would be imported, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
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
