//! Who may press approval buttons: `SLACK_APPROVERS`, a list of Slack user ids and user-group ids.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Approver {
    /// A user id: `U…`, or `W…` on Enterprise Grid.
    User(String),
    /// A user-group id (`S…`); its members are resolved through `usergroups.users.list`.
    Group(String),
}

impl Approver {
    /// The Slack id, of a user or of a user group.
    pub fn id(&self) -> &str {
        match self {
            Self::User(id) | Self::Group(id) => id,
        }
    }
}

/// An empty policy lets anyone in the channel decide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApproverPolicy {
    approvers: Vec<Approver>,
}

impl ApproverPolicy {
    /// Parses ids separated by commas or whitespace. Slack's own mention syntax (`<@U…>`,
    /// `<!subteam^S…|@name>`) is accepted too, since that is what people copy out of Slack.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut approvers = Vec::new();
        for token in text.split([',', ' ', '\t', '\n']).filter(|t| !t.is_empty()) {
            approvers.push(parse_one(token)?);
        }
        Ok(Self { approvers })
    }

    pub fn is_open(&self) -> bool {
        self.approvers.is_empty()
    }

    pub fn names_user(&self, user: &str) -> bool {
        self.approvers
            .iter()
            .any(|a| matches!(a, Approver::User(id) if id == user))
    }

    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.approvers.iter().filter_map(|a| match a {
            Approver::Group(id) => Some(id.as_str()),
            Approver::User(_) => None,
        })
    }

    pub fn approvers(&self) -> &[Approver] {
        &self.approvers
    }
}

fn parse_one(token: &str) -> Result<Approver, String> {
    let id = token
        .strip_prefix("<@")
        .or_else(|| token.strip_prefix("<!subteam^"))
        .map(|rest| rest.trim_end_matches('>').split('|').next().unwrap_or(rest))
        .unwrap_or(token);
    let well_formed = id.len() >= 3
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    match id.as_bytes().first() {
        Some(b'U' | b'W') if well_formed => Ok(Approver::User(id.to_owned())),
        Some(b'S') if well_formed => Ok(Approver::Group(id.to_owned())),
        _ => Err(format!(
            "`{token}` is neither a Slack user id (U…) nor a user-group id (S…)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_parse_from_ids_and_mentions() {
        let policy =
            ApproverPolicy::parse("U123ABC, S0GROUP <@W999> <!subteam^S777|@leads>").unwrap();
        assert_eq!(
            policy.approvers(),
            [
                Approver::User("U123ABC".into()),
                Approver::Group("S0GROUP".into()),
                Approver::User("W999".into()),
                Approver::Group("S777".into()),
            ]
        );
        assert!(policy.names_user("W999"));
        assert!(!policy.names_user("U999"));
        assert_eq!(policy.groups().collect::<Vec<_>>(), ["S0GROUP", "S777"]);
    }

    #[test]
    fn empty_policy_is_open() {
        assert!(ApproverPolicy::parse(" , ").unwrap().is_open());
    }

    #[test]
    fn bad_entries_are_named() {
        let err = ApproverPolicy::parse("U1AB,alice").unwrap_err();
        assert!(err.contains("`alice`"), "{err}");
        assert!(ApproverPolicy::parse("u123").is_err());
        assert!(ApproverPolicy::parse("C0123").is_err());
    }
}
