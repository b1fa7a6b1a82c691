//! The command line.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum CliCommand {
    /// Run the bot (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and check that every configured service answers.
    Check,
}
