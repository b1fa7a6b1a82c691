//! Who may press approval buttons: Slack user ids and user-group ids, or explicitly anyone; for
//! a stage whose approvers come from Azure DevOps, the people it lists, by email.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Approver {
    /// A user id: `U…`, or `W…` on Enterprise Grid.
    User(String),
    /// A user-group id (`S…`); its members are resolved through `usergroups.users.list`.
    Group(String),
    /// A person Azure DevOps lists as an approver: matched by the email of the Slack user who
    /// clicks. Never read from configuration.
    Email { email: String, name: String },
}

impl Approver {
    /// The Slack id of a user or a user group; for a person from Azure DevOps, their name.
    pub fn id(&self) -> &str {
        match self {
            Self::User(id) | Self::Group(id) => id,
            Self::Email { name, .. } => name,
        }
    }
}

/// Who may decide one kind of approval: anyone in the workspace, or the listed users and the
/// members of the listed user groups. "Anyone" is only ever the result of saying so.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub enum Deciders {
    Anyone,
    Only(Vec<Approver>),
}

/// The word that opens a decision to everybody.
pub const ANYONE: &str = "anyone";

impl Deciders {
    /// Parses ids separated by commas or whitespace, or the word `anyone`; blank text is `None`
    /// (nobody configured). Slack's own mention syntax (`<@U…>`, `<!subteam^S…|@name>`) is
    /// accepted too, since that is what people copy out of Slack.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let tokens: Vec<String> = text
            .split([',', ' ', '\t', '\n'])
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        if tokens.is_empty() {
            return Ok(None);
        }
        Self::try_from(tokens).map(Some)
    }

    pub fn names_user(&self, user: &str) -> bool {
        match self {
            Self::Anyone => true,
            Self::Only(list) => list
                .iter()
                .any(|a| matches!(a, Approver::User(id) if id == user)),
        }
    }

    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.approvers().iter().filter_map(|a| match a {
            Approver::Group(id) => Some(id.as_str()),
            _ => None,
        })
    }

    /// Whether `email` is one of the people from Azure DevOps, ignoring case.
    pub fn names_email(&self, email: &str) -> bool {
        self.approvers()
            .iter()
            .any(|a| matches!(a, Approver::Email { email: listed, .. } if listed.eq_ignore_ascii_case(email)))
    }

    /// Whether anyone is named by email, so the clicker's email must be known.
    pub fn has_emails(&self) -> bool {
        self.approvers()
            .iter()
            .any(|a| matches!(a, Approver::Email { .. }))
    }

    /// The listed users and groups; none for `anyone`.
    pub fn approvers(&self) -> &[Approver] {
        match self {
            Self::Anyone => &[],
            Self::Only(list) => list,
        }
    }

    /// `anyone`, or the ids separated by commas.
    pub fn describe(&self) -> String {
        match self {
            Self::Anyone => ANYONE.to_owned(),
            Self::Only(list) => list.iter().map(Approver::id).collect::<Vec<_>>().join(", "),
        }
    }
}

impl TryFrom<Vec<String>> for Deciders {
    type Error = String;

    fn try_from(tokens: Vec<String>) -> Result<Self, String> {
        let anyone = tokens.iter().any(|t| t.eq_ignore_ascii_case(ANYONE));
        match (anyone, tokens.len()) {
            (true, 1) => Ok(Self::Anyone),
            (true, _) => Err(format!(
                "`{ANYONE}` stands alone: it already includes {}",
                tokens.join(", ")
            )),
            (false, 0) => Err(format!(
                "the list is empty: name user ids (U…), user-group ids (S…) or `{ANYONE}`"
            )),
            (false, _) => tokens
                .iter()
                .map(|t| parse_one(t))
                .collect::<Result<_, _>>()
                .map(Self::Only),
        }
    }
}

/// A Slack user id (`U…`, `W…`, or a mention of one), or why `text` is not one.
pub fn parse_user(text: &str) -> Result<String, String> {
    match parse_one(text)? {
        Approver::User(id) => Ok(id),
        other => Err(format!(
            "{} is a user group; name one person's user id (U…)",
            other.id()
        )),
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

    fn only(text: &str) -> Deciders {
        Deciders::parse(text).unwrap().unwrap()
    }

    #[test]
    fn users_and_groups_parse_from_ids_and_mentions() {
        let deciders = only("U123ABC, S0GROUP <@W999> <!subteam^S777|@leads>");
        assert_eq!(
            deciders.approvers(),
            [
                Approver::User("U123ABC".into()),
                Approver::Group("S0GROUP".into()),
                Approver::User("W999".into()),
                Approver::Group("S777".into()),
            ]
        );
        assert!(deciders.names_user("W999"));
        assert!(!deciders.names_user("U999"));
        assert_eq!(deciders.groups().collect::<Vec<_>>(), ["S0GROUP", "S777"]);
    }

    #[test]
    fn blank_is_nobody_and_anyone_must_be_said() {
        assert_eq!(Deciders::parse(" , ").unwrap(), None);
        let anyone = only("Anyone");
        assert_eq!(anyone, Deciders::Anyone);
        assert!(anyone.names_user("U999"));
        let mixed = Deciders::parse("anyone U1AB").unwrap_err();
        assert!(mixed.contains("stands alone"), "{mixed}");
        let empty = Deciders::try_from(Vec::new()).unwrap_err();
        assert!(empty.contains("the list is empty"), "{empty}");
    }

    #[test]
    fn bad_entries_are_named() {
        let err = Deciders::parse("U1AB,alice").unwrap_err();
        assert!(err.contains("`alice`"), "{err}");
        assert!(Deciders::parse("u123").is_err());
        assert!(Deciders::parse("C0123").is_err());
    }
}
