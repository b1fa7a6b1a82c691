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
