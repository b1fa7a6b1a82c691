//! `/review` and `/release`: parsing the text after the command, and the help texts. Pure, so every
//! answer a user can get is tested without Slack.

use std::fmt;

use crate::domain::{PrRef, PrRefError, RepoName, Version};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    ReviewHelp,
    Review(PrRef),
    ReleaseHelp,
    /// A release of the staging version, or of the version given.
    Release(RepoName, Option<Version>),
    ReleaseStatus(Option<RepoName>),
    ReleaseHistory(RepoName),
    /// Who did what in a release: the version given, or the latest.
    ReleaseAudit(RepoName, Option<Version>),
    /// Stops the repository's merges and release starts, for a reason.
    Freeze(RepoName, String),
    Unfreeze(RepoName),
    /// Deploys an archived version again: the version given, or the one before the deployed one.
    Rollback(RepoName, Option<Version>),
    /// Opens a hotfix lane off the release branch.
    Hotfix(RepoName),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    UnknownCommand(String),
    Empty(&'static str),
    BadPullRequest(PrRefError),
    OnePullRequest,
    NoRepos,
    UnknownRepo {
        name: String,
        known: Vec<String>,
    },
    UnknownSubcommand {
        word: String,
        known: Vec<String>,
    },
    MissingRepo(&'static str),
    /// `/release freeze <repo>` without a reason.
    MissingReason,
    TooManyArguments {
        command: &'static str,
        extra: String,
    },
    BadVersion(String),
}

pub fn parse(command: &str, text: &str, repos: &[RepoName]) -> Result<Command, CommandError> {
    match command {
        "/review" => parse_review(text.trim(), repos),
        "/release" => parse_release(text, repos),
        other => Err(CommandError::UnknownCommand(other.to_owned())),
    }
}

fn parse_review(text: &str, repos: &[RepoName]) -> Result<Command, CommandError> {
    if text.is_empty() {
        return Err(CommandError::Empty("/review"));
    }
    if text.eq_ignore_ascii_case("help") {
        return Ok(Command::ReviewHelp);
    }
    // A pasted link arrives as `<url|label>`, and the label may contain spaces.
    let single = (text.starts_with('<') && text.ends_with('>') && text.matches('>').count() == 1)
        || !text.contains(char::is_whitespace);
    if !single {
        return Err(CommandError::OnePullRequest);
    }
    let mut pr = PrRef::parse(text).map_err(CommandError::BadPullRequest)?;
    if let Some(repo) = &pr.repo {
        pr.repo = Some(known_repo(repo.as_str(), repos)?);
    }
    Ok(Command::Review(pr))
}

fn parse_release(text: &str, repos: &[RepoName]) -> Result<Command, CommandError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let extra = |from: usize| CommandError::TooManyArguments {
        command: "/release",
        extra: words[from..].join(" "),
    };
    match words.as_slice() {
        [] => Err(CommandError::Empty("/release")),
        [help] if help.eq_ignore_ascii_case("help") => Ok(Command::ReleaseHelp),
        [status, rest @ ..] if status.eq_ignore_ascii_case("status") => match rest {
            [] => Ok(Command::ReleaseStatus(None)),
            [repo] => Ok(Command::ReleaseStatus(Some(known_repo(repo, repos)?))),
            _ => Err(extra(2)),
        },
        [history, rest @ ..] if history.eq_ignore_ascii_case("history") => match rest {
            [] => Err(CommandError::MissingRepo("/release history")),
            [repo] => Ok(Command::ReleaseHistory(known_repo(repo, repos)?)),
            _ => Err(extra(2)),
        },
        [audit, rest @ ..] if audit.eq_ignore_ascii_case("audit") => {
            let (repo, version) = repo_and_version("/release audit", rest, repos)?;
            Ok(Command::ReleaseAudit(repo, version))
        }
        [hotfix, rest @ ..] if hotfix.eq_ignore_ascii_case("hotfix") => match rest {
            [] => Err(CommandError::MissingRepo("/release hotfix")),
            [repo] => Ok(Command::Hotfix(known_repo(repo, repos)?)),
            _ => Err(extra(2)),
        },
        [rollback, rest @ ..] if rollback.eq_ignore_ascii_case("rollback") => {
            let (repo, version) = repo_and_version("/release rollback", rest, repos)?;
            Ok(Command::Rollback(repo, version))
        }
        [freeze, rest @ ..] if freeze.eq_ignore_ascii_case("freeze") => match rest {
            [] => Err(CommandError::MissingRepo("/release freeze")),
            [_] => Err(CommandError::MissingReason),
            [repo, reason @ ..] => Ok(Command::Freeze(known_repo(repo, repos)?, reason.join(" "))),
        },
        [unfreeze, rest @ ..] if unfreeze.eq_ignore_ascii_case("unfreeze") => match rest {
            [] => Err(CommandError::MissingRepo("/release unfreeze")),
            [repo] => Ok(Command::Unfreeze(known_repo(repo, repos)?)),
            _ => Err(extra(2)),
        },
        [word, rest @ ..] => {
            let repo = repo_or_subcommand(word, repos)?;
            match rest {
                [] => Ok(Command::Release(repo, None)),
                [version, more @ ..] => {
                    let version = version_in(version)?;
                    if more.is_empty() {
                        Ok(Command::Release(repo, Some(version)))
                    } else {
                        Err(extra(2))
                    }
                }
            }
        }
    }
}

/// `<repo> [version]` after a subcommand.
fn repo_and_version(
    command: &'static str,
    rest: &[&str],
    repos: &[RepoName],
) -> Result<(RepoName, Option<Version>), CommandError> {
    match rest {
        [] => Err(CommandError::MissingRepo(command)),
        [repo] => Ok((known_repo(repo, repos)?, None)),
        [repo, version] => Ok((known_repo(repo, repos)?, Some(version_in(version)?))),
        [_, _, more @ ..] => Err(CommandError::TooManyArguments {
            command: "/release",
            extra: more.join(" "),
        }),
    }
}

fn version_in(word: &str) -> Result<Version, CommandError> {
    word.trim_start_matches(['v', 'V'])
        .parse()
        .map_err(|_| CommandError::BadVersion(word.to_owned()))
}

/// The first word of `/release` is a subcommand or a repository; a word that is neither gets an
/// answer that lists both.
fn repo_or_subcommand(word: &str, repos: &[RepoName]) -> Result<RepoName, CommandError> {
    match known_repo(word, repos) {
        Err(CommandError::UnknownRepo { name, known }) if !known.is_empty() => {
            Err(CommandError::UnknownSubcommand { word: name, known })
        }
        other => other,
    }
}

fn known_repo(name: &str, repos: &[RepoName]) -> Result<RepoName, CommandError> {
    if repos.is_empty() {
        return Err(CommandError::NoRepos);
    }
    repos
        .iter()
        .find(|r| r.same_as(name))
        .cloned()
        .ok_or_else(|| CommandError::UnknownRepo {
            name: name.to_owned(),
            known: repos.iter().map(ToString::to_string).collect(),
        })
}

pub const REVIEW_USAGE: &str = "`/review <PR link | Repo#123 | 123>` · `/review help`";
pub const RELEASE_USAGE: &str = "`/release <repo> [version]` · `/release status [repo]` · \
     `/release history <repo>` · `/release audit <repo> [version]` · \
     `/release freeze <repo> <reason>` · `/release unfreeze <repo>` · \
     `/release hotfix <repo>` · `/release rollback <repo> [version]` · `/release help`";

impl fmt::Display for CommandError {
    /// Slack mrkdwn; user text is escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use super::mrkdwn::escape;
        match self {
            Self::UnknownCommand(c) => write!(f, "I don't handle `{}`.", escape(c)),
            Self::Empty("/review") => write!(f, "Which pull request? Usage: {REVIEW_USAGE}"),
            Self::Empty(_) => write!(f, "Which repository? Usage: {RELEASE_USAGE}"),
            Self::BadPullRequest(e) => write!(f, "{}. Usage: {REVIEW_USAGE}", escape(&e.to_string())),
            Self::OnePullRequest => write!(f, "One pull request at a time, please. Usage: {REVIEW_USAGE}"),
            Self::NoRepos => f.write_str(
                "No repositories are configured yet. An admin sets them in `WATCHED_REPOS` (comma-separated).",
            ),
            Self::UnknownRepo { name, known } => write!(
                f,
                "I don't know the repository `{}`. Known repositories: {}.",
                escape(name),
                escape(&known.join(", "))
            ),
            Self::UnknownSubcommand { word, known } => write!(
                f,
                "`{}` is neither a subcommand (status, history, audit, freeze, unfreeze, hotfix, rollback, help) nor a known repository ({}). Usage: {RELEASE_USAGE}",
                escape(word),
                escape(&known.join(", "))
            ),
            Self::MissingReason => write!(
                f,
                "`/release freeze` needs a reason, which everyone refused sees: `/release freeze <repo> <reason>`."
            ),
            Self::MissingRepo(command) => write!(f, "`{command}` needs a repository. Usage: {RELEASE_USAGE}"),
            Self::TooManyArguments { command, extra } => write!(
                f,
                "`{command}` did not expect `{}`. Usage: {}",
                escape(extra),
                if *command == "/review" { REVIEW_USAGE } else { RELEASE_USAGE }
            ),
            Self::BadVersion(word) => write!(
                f,
                "`{}` is not a version: write it as 1.4.3. Usage: {RELEASE_USAGE}",
                escape(word)
            ),
        }
    }
}

#[cfg(test)]
#[path = "commands_tests.rs"]
mod tests;
