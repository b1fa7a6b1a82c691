//! Whether a click on an approval counts. Pure: the store's compare-and-set makes the final call
//! under concurrency, this decides what to try and how to explain a refusal.

use chrono::{DateTime, Utc};

use crate::domain::{ApprovalStatus, Approver, Line, Message, OptionName};
use crate::store::ApprovalRecord;

/// Why a click changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Unknown,
    AlreadyDecided {
        option: String,
        by: String,
        at: DateTime<Utc>,
    },
    Expired {
        at: DateTime<Utc>,
    },
    Superseded,
    NotOffered {
        option: String,
        offered: Vec<String>,
    },
    NotAllowed {
        approvers: Vec<Approver>,
    },
    /// Group membership could not be checked (Slack unreachable, nothing cached).
    Unverifiable {
        reason: String,
    },
    /// The run may not go on while another run of its kind holds its repository.
    Blocked,
}

/// Who asks, and what the approver check said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    Allowed,
    Denied(Vec<Approver>),
    Unknown(String),
}

/// Judges a click on `approval` (if it exists) choosing `option`. The state of the approval is
/// checked before the permission, so a late click learns what happened rather than who may act.
pub fn judge(
    approval: Option<&ApprovalRecord>,
    option: &OptionName,
    permission: &Permission,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    let approval = approval.ok_or(Rejection::Unknown)?;
    match approval.status {
        ApprovalStatus::Decided => {
            return Err(Rejection::AlreadyDecided {
                option: approval.decided_option.clone().unwrap_or_default(),
                by: approval.decided_by.clone().unwrap_or_default(),
                at: approval.decided_at.unwrap_or(approval.created_at),
            });
        }
        ApprovalStatus::Expired => {
            return Err(Rejection::Expired {
                at: approval.expires_at,
            });
        }
        ApprovalStatus::Superseded => return Err(Rejection::Superseded),
        ApprovalStatus::Pending if approval.expires_at <= now => {
            return Err(Rejection::Expired {
                at: approval.expires_at,
            });
        }
        ApprovalStatus::Pending => {}
    }
    if !approval.options.iter().any(|o| &o.name == option) {
        return Err(Rejection::NotOffered {
            option: option.to_string(),
            offered: approval
                .options
                .iter()
                .map(|o| o.name.to_string())
                .collect(),
        });
    }
    match permission {
        Permission::Allowed => Ok(()),
        Permission::Denied(approvers) => Err(Rejection::NotAllowed {
            approvers: approvers.clone(),
        }),
        Permission::Unknown(reason) => Err(Rejection::Unverifiable {
            reason: reason.clone(),
        }),
    }
}

impl Rejection {
    /// A short name for the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unknown => "unknown_approval",
            Self::AlreadyDecided { .. } => "already_decided",
            Self::Expired { .. } => "expired",
            Self::Superseded => "superseded",
            Self::NotOffered { .. } => "option_not_offered",
            Self::NotAllowed { .. } => "not_allowed",
            Self::Unverifiable { .. } => "unverifiable",
            Self::Blocked => "blocked",
        }
    }

    /// What the user who clicked is told.
    pub fn explain(&self) -> Message {
        let line = match self {
            Self::Unknown => {
                Line::from("That button belongs to no approval I know; nothing changed.")
            }
            Self::AlreadyDecided { option, by, at } => Line::new()
                .plain("Already decided: ")
                .user(by.clone())
                .plain(" chose ")
                .bold(option.clone())
                .plain(" on ")
                .date(*at)
                .plain(". Your click changed nothing."),
            Self::Expired { at } => Line::new()
                .plain("This approval expired on ")
                .date(*at)
                .plain("; nothing changed."),
            Self::Superseded => Line::from(
                "This approval no longer applies: its run was replaced or cancelled. Nothing changed.",
            ),
            Self::NotOffered { option, offered } => Line::new()
                .plain("The option ")
                .code(option.clone())
                .plain(" is not offered here (offered: ")
                .plain(offered.join(", "))
                .plain("). Nothing changed."),
            Self::NotAllowed { approvers } => approvers_line(approvers),
            Self::Blocked => Line::from(
                "This run cannot go on while another one is under way for the same repository \
                 (one release at a time). Finish or cancel that one first; nothing changed.",
            ),
            Self::Unverifiable { reason } => Line::new()
                .plain("I could not check whether you may decide this (")
                .plain(reason.clone())
                .plain("). Nothing changed; please try again in a minute."),
        };
        Message::new([line])
    }
}

fn approvers_line(approvers: &[Approver]) -> Line {
    let mut line = Line::new().plain("You are not one of the approvers for this (");
    for (i, approver) in approvers.iter().enumerate() {
        if i > 0 {
            line = line.plain(", ");
        }
        line = match approver {
            Approver::User(id) => line.user(id.clone()),
            Approver::Group(id) => line.code(id.clone()),
        };
    }
    line.plain("), so nothing changed. Ask one of them.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ApprovalId, ApprovalOption, OptionStyle, RunId};
    use chrono::TimeDelta;

    fn option(name: &str) -> OptionName {
        OptionName::parse(name).unwrap()
    }

    fn approval(status: ApprovalStatus, now: DateTime<Utc>) -> ApprovalRecord {
        ApprovalRecord {
            id: ApprovalId::new(),
            run_id: RunId::new(),
            point: "merge".into(),
            prompt: "Merge?".into(),
            options: ["merge", "cancel"]
                .map(|n| ApprovalOption {
                    name: option(n),
                    label: n.into(),
                    style: OptionStyle::Plain,
                })
                .to_vec(),
            status,
            decided_option: Some("merge".into()),
            decided_by: Some("U1".into()),
            decided_at: Some(now),
            expires_at: now + TimeDelta::hours(1),
            created_at: now,
        }
    }

    #[test]
    fn a_pending_offered_allowed_click_counts() {
        let now = Utc::now();
        let pending = approval(ApprovalStatus::Pending, now);
        assert_eq!(
            judge(Some(&pending), &option("merge"), &Permission::Allowed, now),
            Ok(())
        );
    }

    #[test]
    fn the_state_of_the_approval_is_explained_before_permissions() {
        let now = Utc::now();
        let denied = Permission::Denied(vec![Approver::User("U9".into())]);
        let decided = approval(ApprovalStatus::Decided, now);
        assert!(matches!(
            judge(Some(&decided), &option("cancel"), &denied, now),
            Err(Rejection::AlreadyDecided { ref by, .. }) if by == "U1"
        ));
        let superseded = approval(ApprovalStatus::Superseded, now);
        assert_eq!(
            judge(Some(&superseded), &option("merge"), &denied, now),
            Err(Rejection::Superseded)
        );
        assert_eq!(
            judge(None, &option("merge"), &denied, now),
            Err(Rejection::Unknown)
        );
    }

    #[test]
    fn a_pending_approval_past_its_expiry_counts_as_expired() {
        let now = Utc::now();
        let pending = approval(ApprovalStatus::Pending, now);
        let later = now + TimeDelta::hours(2);
        assert!(matches!(
            judge(
                Some(&pending),
                &option("merge"),
                &Permission::Allowed,
                later
            ),
            Err(Rejection::Expired { .. })
        ));
    }

    #[test]
    fn options_that_were_not_offered_and_strangers_are_refused() {
        let now = Utc::now();
        let pending = approval(ApprovalStatus::Pending, now);
        let refused =
            judge(Some(&pending), &option("deploy"), &Permission::Allowed, now).unwrap_err();
        assert_eq!(refused.code(), "option_not_offered");
        let denied = Permission::Denied(vec![Approver::Group("S1".into())]);
        let refused = judge(Some(&pending), &option("merge"), &denied, now).unwrap_err();
        assert_eq!(refused.code(), "not_allowed");
        assert!(format!("{:?}", refused.explain()).contains("S1"));
    }
}
