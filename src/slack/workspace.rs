//! Whose envelopes the bot acts on: its own workspace (and Enterprise Grid organisation, if any)
//! and its own app. Every payload names where it comes from; an app installed in a second
//! workspace, or one org-wide, would otherwise take another team's clicks as ours. Pure.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The bot's own workspace, from `auth.test` before the first connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub team: String,
    /// The Enterprise Grid organisation, when the workspace is part of one.
    pub enterprise: Option<String>,
}

/// Where a payload says it comes from, and who sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub team: Option<String>,
    pub enterprise: Option<String>,
    pub app: Option<String>,
    pub user: Option<String>,
}

/// Slash commands name these fields flat; clicks nest them (`team.id`, `enterprise.id`,
/// `user.id`); Events API callbacks carry `team_id` and `api_app_id`.
#[derive(Deserialize)]
struct Fields {
    team_id: Option<String>,
    team: Option<Named>,
    enterprise_id: Option<String>,
    enterprise: Option<Named>,
    api_app_id: Option<String>,
    user_id: Option<String>,
    user: Option<Named>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Named {
    Object {
        id: String,
    },
    /// Any other shape names no id.
    Other(serde::de::IgnoredAny),
}

impl Named {
    fn id(self) -> Option<String> {
        match self {
            Self::Object { id } => Some(id),
            Self::Other(_) => None,
        }
    }
}

impl Origin {
    /// Reads the origin of `payload`; a payload that names none has an empty origin, and so is
    /// nobody's.
    pub fn of(payload: Option<&RawValue>) -> Self {
        let Some(fields) = payload.and_then(|p| serde_json::from_str::<Fields>(p.get()).ok())
        else {
            return Self::default();
        };
        Self {
            team: fields.team_id.or_else(|| fields.team.and_then(Named::id)),
            enterprise: fields
                .enterprise_id
                .or_else(|| fields.enterprise.and_then(Named::id)),
            app: fields.api_app_id,
            user: fields.user_id.or_else(|| fields.user.and_then(Named::id)),
        }
    }
}

impl Workspace {
    /// Why an envelope with `origin` is not ours, if it is not: another workspace or
    /// organisation, or another app than the one this connection's hello named (`app`).
    pub fn stranger(&self, app: Option<&str>, origin: &Origin) -> Option<String> {
        let named = |value: &Option<String>| value.as_deref().unwrap_or("none").to_owned();
        if origin.team.as_deref() != Some(self.team.as_str()) {
            return Some(format!(
                "workspace {} is not the bot's ({})",
                named(&origin.team),
                self.team
            ));
        }
        if origin.enterprise.is_some() && origin.enterprise != self.enterprise {
            return Some(format!(
                "organisation {} is not the bot's ({})",
                named(&origin.enterprise),
                named(&self.enterprise)
            ));
        }
        match app {
            Some(app) if origin.app.as_deref() != Some(app) => Some(format!(
                "app {} is not the bot's ({app})",
                named(&origin.app)
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(json: &str) -> Origin {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        Origin::of(Some(&raw))
    }

    fn ours() -> Workspace {
        Workspace {
            team: "T1".into(),
            enterprise: None,
        }
    }

    #[test]
    fn each_payload_shape_names_its_origin() {
        let command = origin(
            r#"{"team_id":"T1","enterprise_id":"E1","api_app_id":"A1","user_id":"U1","text":"x"}"#,
        );
        let click = origin(
            r#"{"team":{"id":"T1","domain":"d"},"enterprise":{"id":"E1","name":"n"},"api_app_id":"A1","user":{"id":"U1","team_id":"T1"}}"#,
        );
        let expected = Origin {
            team: Some("T1".into()),
            enterprise: Some("E1".into()),
            app: Some("A1".into()),
            user: Some("U1".into()),
        };
        assert_eq!(command, expected);
        assert_eq!(click, expected);
        let event = origin(r#"{"team_id":"T1","api_app_id":"A1","enterprise":null,"event":{}}"#);
        assert_eq!(event.team.as_deref(), Some("T1"));
        assert_eq!(event.enterprise, None);
        assert_eq!(Origin::of(None), Origin::default());
        assert_eq!(origin(r#"{"team":"weird"}"#).team, None);
    }

    #[test]
    fn only_our_workspace_organisation_and_app_are_ours() {
        let from = |team: &str, app: &str| Origin {
            team: Some(team.into()),
            app: Some(app.into()),
            ..Origin::default()
        };
        assert_eq!(ours().stranger(Some("A1"), &from("T1", "A1")), None);
        assert_eq!(ours().stranger(None, &from("T1", "A9")), None);
        assert_eq!(
            ours().stranger(Some("A1"), &from("T2", "A1")).as_deref(),
            Some("workspace T2 is not the bot's (T1)")
        );
        assert_eq!(
            ours().stranger(Some("A1"), &from("T1", "A2")).as_deref(),
            Some("app A2 is not the bot's (A1)")
        );
        assert!(ours().stranger(None, &Origin::default()).is_some());
        let grid = Workspace {
            team: "T1".into(),
            enterprise: Some("E1".into()),
        };
        let mut other_org = from("T1", "A1");
        other_org.enterprise = Some("E2".into());
        assert_eq!(
            grid.stranger(Some("A1"), &other_org).as_deref(),
            Some("organisation E2 is not the bot's (E1)")
        );
        assert!(ours().stranger(Some("A1"), &other_org).is_some());
        other_org.enterprise = Some("E1".into());
        assert_eq!(grid.stranger(Some("A1"), &other_org), None);
    }
}
