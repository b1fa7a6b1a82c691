//! Identifiers. Each is built by parsing, so later code never re-checks the shape of a string.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A newtype over a random UUID: unique across replicas, unguessable, printable and parsable.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            pub fn parse(text: &str) -> Option<Self> {
                Uuid::parse_str(text).ok().map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// Identifies one durable run.
    RunId
);

uuid_id!(
    /// Identifies one approval (one wait point of one run). It travels in button values, so it
    /// is random and unguessable; the database still decides whether a click counts.
    ApprovalId
);

/// The name of an option offered by an approval (`merge`, `cancel`, …): lowercase letters,
/// digits, `-` and `_`, at most 32 characters, so it fits in button values and action ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OptionName(String);

impl OptionName {
    pub fn parse(text: &str) -> Option<Self> {
        let ok = !text.is_empty()
            && text.len() <= 32
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        ok.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OptionName {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or_else(|| format!("invalid option name {value:?}"))
    }
}

impl From<OptionName> for String {
    fn from(value: OptionName) -> Self {
        value.0
    }
}

impl fmt::Display for OptionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Azure DevOps repository name, as Azure DevOps allows it: 1 to 64 characters, none of
/// `\ / : * ? " < > | ; # $ { } , + = [ ]`, no control characters, not starting with `_` or `.`.
/// Azure DevOps compares names case-insensitively, and so does [`RepoName::same_as`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName(String);

impl RepoName {
    const FORBIDDEN: &'static str = "\\/:*?\"<>|;#${},+=[]";

    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("a repository name cannot be empty".into());
        }
        if text.chars().count() > 64 {
            return Err(format!(
                "repository name {text:?} is longer than 64 characters"
            ));
        }
        if text.starts_with(['_', '.']) {
            return Err(format!(
                "repository name {text:?} cannot start with `_` or `.`"
            ));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| c.is_control() || Self::FORBIDDEN.contains(*c))
        {
            return Err(format!("repository name {text:?} contains {bad:?}"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn same_as(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl TryFrom<String> for RepoName {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RepoName> for String {
    fn from(value: RepoName) -> Self {
        value.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names_follow_azure_devops_rules() {
        assert!(RepoName::parse("Billo.Platform.Payment").is_ok());
        assert!(RepoName::parse("My Repo-2_x").is_ok());
        assert!(RepoName::parse("").is_err());
        assert!(RepoName::parse(".hidden").is_err());
        assert!(RepoName::parse("a/b").is_err());
        assert!(RepoName::parse("a#1").is_err());
        assert!(RepoName::parse(&"x".repeat(65)).is_err());
        assert!(RepoName::parse("bad\u{7}bell").is_err());
    }

    #[test]
    fn repo_names_compare_case_insensitively() {
        let repo = RepoName::parse("Billo.API").unwrap();
        assert!(repo.same_as("billo.api"));
        assert!(!repo.same_as("billo.apis"));
    }

    #[test]
    fn option_names_are_short_lowercase_words() {
        assert!(OptionName::parse("merge").is_some());
        assert!(OptionName::parse("re-review_2").is_some());
        assert!(OptionName::parse("Merge").is_none());
        assert!(OptionName::parse("").is_none());
        assert!(OptionName::parse("a:b").is_none());
        assert!(OptionName::parse(&"a".repeat(33)).is_none());
    }

    #[test]
    fn ids_round_trip_through_text() {
        let run = RunId::new();
        assert_eq!(RunId::parse(&run.to_string()), Some(run));
        assert_eq!(ApprovalId::parse("not-a-uuid"), None);
    }
}
