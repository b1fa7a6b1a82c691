//! Per-repository semantic versions (`major.minor.patch`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    pub fn next_patch(self) -> Self {
        Self {
            patch: self.patch + 1,
            ..self
        }
    }
}

impl FromStr for Version {
    type Err = String;

    /// Accepts `1.4.3` and `v1.4.3`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{text}` is not a version like 1.4.3");
        let digits = text.trim().strip_prefix('v').unwrap_or(text.trim());
        let mut parts = digits.split('.').map(|p| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u32>().ok())
                .flatten()
        });
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Some(major)), Some(Some(minor)), Some(Some(patch)), None) => {
                Ok(Self::new(major, minor, patch))
            }
            _ => Err(bad()),
        }
    }
}

impl TryFrom<String> for Version {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Version> for String {
    fn from(value: Version) -> Self {
        value.to_string()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_print_and_bump() {
        let v: Version = "v1.4.2".parse().unwrap();
        assert_eq!(v.next_patch().to_string(), "1.4.3");
        assert!("1.4".parse::<Version>().is_err());
        assert!("1.4.x".parse::<Version>().is_err());
        assert!("1.4.3.1".parse::<Version>().is_err());
        assert!("1.+4.3".parse::<Version>().is_err());
        assert!(Version::new(1, 10, 0) > Version::new(1, 9, 9));
    }
}
