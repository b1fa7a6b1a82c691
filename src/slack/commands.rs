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
     `/release rollback <repo> [version]` · `/release help`";

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
                "`{}` is neither a subcommand (status, history, audit, freeze, unfreeze, rollback, help) nor a known repository ({}). Usage: {RELEASE_USAGE}",
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
mod tests {
    use super::*;

    fn repos() -> Vec<RepoName> {
        ["Billo.Api", "Billo.Web"]
            .map(|r| RepoName::parse(r).unwrap())
            .to_vec()
    }

    fn review(text: &str) -> Result<Command, CommandError> {
        parse("/review", text, &repos())
    }

    fn release(text: &str) -> Result<Command, CommandError> {
        parse("/release", text, &repos())
    }

    #[test]
    fn review_takes_links_hash_refs_and_numbers() {
        let Ok(Command::Review(pr)) = review("billo.api#12") else {
            panic!()
        };
        assert_eq!((pr.repo.unwrap().as_str(), pr.id), ("Billo.Api", 12));
        assert!(matches!(
            review(" 12 "),
            Ok(Command::Review(PrRef { repo: None, id: 12 }))
        ));
        let link = "<https://dev.azure.com/o/p/_git/Billo.Web/pullrequest/7|PR 7 fix login>";
        assert!(matches!(
            review(link),
            Ok(Command::Review(PrRef { id: 7, .. }))
        ));
        assert_eq!(review("HELP"), Ok(Command::ReviewHelp));
    }

    #[test]
    fn review_explains_bad_input() {
        assert_eq!(review(""), Err(CommandError::Empty("/review")));
        assert!(matches!(
            review("twelve"),
            Err(CommandError::BadPullRequest(_))
        ));
        assert_eq!(review("12 13"), Err(CommandError::OnePullRequest));
        let unknown = review("Other#3").unwrap_err();
        assert!(
            unknown
                .to_string()
                .contains("I don't know the repository `Other`"),
            "{unknown}"
        );
        assert!(
            unknown.to_string().contains("Billo.Api, Billo.Web"),
            "{unknown}"
        );
    }

    #[test]
    fn release_has_subcommands_and_repos() {
        assert_eq!(release("help"), Ok(Command::ReleaseHelp));
        assert_eq!(
            release("billo.web"),
            Ok(Command::Release(repos()[1].clone(), None))
        );
        assert_eq!(
            release("Billo.Api v2.0.0"),
            Ok(Command::Release(
                repos()[0].clone(),
                Some(Version::new(2, 0, 0))
            ))
        );
        assert_eq!(release("status"), Ok(Command::ReleaseStatus(None)));
        assert_eq!(
            release("status Billo.Api"),
            Ok(Command::ReleaseStatus(Some(repos()[0].clone())))
        );
        assert_eq!(
            release("history Billo.Api"),
            Ok(Command::ReleaseHistory(repos()[0].clone()))
        );
        assert_eq!(
            release("audit billo.api"),
            Ok(Command::ReleaseAudit(repos()[0].clone(), None))
        );
        assert_eq!(
            release("AUDIT Billo.Api v1.4.3"),
            Ok(Command::ReleaseAudit(
                repos()[0].clone(),
                Some(Version::new(1, 4, 3))
            ))
        );
    }

    #[test]
    fn release_explains_bad_input() {
        assert_eq!(release("  "), Err(CommandError::Empty("/release")));
        assert_eq!(
            release("history"),
            Err(CommandError::MissingRepo("/release history"))
        );
        let unknown = release("statsu").unwrap_err().to_string();
        assert!(
            unknown.contains("`statsu` is neither a subcommand"),
            "{unknown}"
        );
        assert_eq!(
            release("audit"),
            Err(CommandError::MissingRepo("/release audit"))
        );
        let version = release("audit Billo.Api 1.4").unwrap_err().to_string();
        assert!(
            version.starts_with("`1.4` is not a version: write it as 1.4.3."),
            "{version}"
        );
        let extra = release("Billo.Api 2.0.0 please").unwrap_err().to_string();
        assert!(extra.contains("did not expect `please`"), "{extra}");
        let words = release("Billo.Api now please").unwrap_err().to_string();
        assert!(words.starts_with("`now` is not a version"), "{words}");
        assert_eq!(
            parse("/release", "Billo.Api", &[]),
            Err(CommandError::NoRepos)
        );
    }

    #[test]
    fn freezes_need_a_repository_and_a_reason() {
        assert_eq!(
            release("freeze billo.api  payment  outage"),
            Ok(Command::Freeze(repos()[0].clone(), "payment outage".into()))
        );
        assert_eq!(
            release("rollback billo.api"),
            Ok(Command::Rollback(repos()[0].clone(), None))
        );
        assert_eq!(
            release("rollback Billo.Web v1.4.2"),
            Ok(Command::Rollback(
                repos()[1].clone(),
                Some(Version::new(1, 4, 2))
            ))
        );
        assert_eq!(
            release("rollback"),
            Err(CommandError::MissingRepo("/release rollback"))
        );
        assert_eq!(
            release("UNFREEZE Billo.Api"),
            Ok(Command::Unfreeze(repos()[0].clone()))
        );
        assert_eq!(
            release("freeze Billo.Api"),
            Err(CommandError::MissingReason)
        );
        assert_eq!(
            release("freeze"),
            Err(CommandError::MissingRepo("/release freeze"))
        );
        let extra = release("unfreeze Billo.Api now").unwrap_err().to_string();
        assert!(extra.contains("did not expect `now`"), "{extra}");
    }

    #[test]
    fn errors_escape_what_the_user_typed() {
        let text = release("<!channel>").unwrap_err().to_string();
        assert!(
            text.contains("&lt;!channel&gt;") && !text.contains("<!channel>"),
            "{text}"
        );
    }
}
