//! Jira issue keys: a project key (a letter, then letters, digits or `_`) and a number.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JiraKey(String);

impl JiraKey {
    /// Accepts `ALLPOST-4028`, also lower-cased as branch names often have it.
    pub fn parse(text: &str) -> Option<Self> {
        let upper = text.trim().to_ascii_uppercase();
        let (project, number) = upper.split_once('-')?;
        let project_ok = project.len() >= 2
            && project.starts_with(|c: char| c.is_ascii_uppercase())
            && project
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        let number_ok =
            !number.is_empty() && number.len() <= 10 && number.bytes().all(|b| b.is_ascii_digit());
        (project_ok && number_ok && !number.starts_with('0')).then_some(Self(upper))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn project(&self) -> &str {
        self.0.split('-').next().unwrap_or_default()
    }
}

/// A Jira key anywhere in a branch name, in any case: `feature/ALLPOST-4028_login`
/// (TICKET_BRANCH_PATTERN's default).
pub const DEFAULT_TICKET_PATTERN: &str = "[A-Za-z]{2}[A-Za-z0-9_]*-[0-9]+";

/// The ticket keys `pattern` finds in `text` (a branch name), upper-cased, each once.
pub fn tickets_in(text: &str, pattern: &regex_lite::Regex) -> Vec<JiraKey> {
    let mut keys: Vec<JiraKey> = Vec::new();
    for found in pattern.find_iter(text) {
        if let Some(key) = JiraKey::parse(found.as_str())
            && !keys.contains(&key)
        {
            keys.push(key);
        }
    }
    keys
}

/// Ticket keys a PR's branch may name at most; more are ignored.
pub const MOST_TICKETS: usize = 5;

/// The keys of `keys` that count: those of `projects` (any project when none is configured),
/// `MOST_TICKETS` at most. The others are returned apart, for the card to name them.
pub fn in_projects(keys: Vec<JiraKey>, projects: &[String]) -> (Vec<JiraKey>, Vec<JiraKey>) {
    let mut kept = Vec::new();
    let mut ignored = Vec::new();
    for key in keys {
        let known = projects.is_empty()
            || projects
                .iter()
                .any(|p| p.eq_ignore_ascii_case(key.project()));
        if known && kept.len() < MOST_TICKETS {
            kept.push(key);
        } else {
            ignored.push(key);
        }
    }
    (kept, ignored)
}

impl TryFrom<String> for JiraKey {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
            .ok_or_else(|| format!("`{value}` is not a Jira issue key like ALLPOST-4028"))
    }
}

impl From<JiraKey> for String {
    fn from(value: JiraKey) -> Self {
        value.0
    }
}

impl fmt::Display for JiraKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_found_in_branch_names() {
        let pattern = regex_lite::Regex::new(DEFAULT_TICKET_PATTERN).unwrap();
        let found = |branch: &str| {
            tickets_in(branch, &pattern)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(found("feature/ALLPOST-4028_login-page"), ["ALLPOST-4028"]);
        assert_eq!(
            found("bugfix/allpost-12-and-ALLPOST-13"),
            ["ALLPOST-12", "ALLPOST-13"]
        );
        assert_eq!(found("hotfix/ALLPOST-12-again-allpost-12"), ["ALLPOST-12"]);
        assert!(found("chore/update-dependencies").is_empty());
        assert!(
            found("release/v1-2").is_empty(),
            "`v1-2` is not a key: project keys start with two letters"
        );
    }

    #[test]
    fn only_keys_of_the_configured_projects_count_five_at_most() {
        let keys: Vec<JiraKey> = ["ALLPOST-1", "OTHER-1", "web-2", "ALLPOST-3", "ALLPOST-4"]
            .iter()
            .chain(&["ALLPOST-5", "ALLPOST-6"])
            .map(|k| JiraKey::parse(k).unwrap())
            .collect();
        let projects = ["ALLPOST".to_owned(), "Web".to_owned()];
        let (kept, ignored) = in_projects(keys.clone(), &projects);
        let names = |keys: &[JiraKey]| {
            keys.iter()
                .map(|k| k.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&kept),
            ["ALLPOST-1", "WEB-2", "ALLPOST-3", "ALLPOST-4", "ALLPOST-5"]
        );
        assert_eq!(names(&ignored), ["OTHER-1", "ALLPOST-6"]);
        let (kept, ignored) = in_projects(keys, &[]);
        assert_eq!(
            (kept.len(), ignored.len()),
            (5, 2),
            "no projects: any, five at most"
        );
    }

    #[test]
    fn keys_are_parsed_and_upper_cased() {
        assert_eq!(
            JiraKey::parse("allpost-4028").unwrap().as_str(),
            "ALLPOST-4028"
        );
        assert_eq!(JiraKey::parse("AB_2-7").unwrap().project(), "AB_2");
        for bad in [
            "ALLPOST",
            "-1",
            "A-1",
            "1AB-2",
            "AB-",
            "AB-01",
            "AB-1x",
            "AB-12345678901",
        ] {
            assert_eq!(JiraKey::parse(bad), None, "{bad}");
        }
    }
}
