//! Whether a click on an approval counts. Pure: the store's compare-and-set makes the final call
//! under concurrency, this decides what to try and how to explain a refusal.

use chrono::{DateTime, Utc};

use crate::domain::{ApprovalStatus, Approver, Deciders, Line, Message, OptionName};
use crate::store::{ApprovalRecord, Freeze};
use crate::workflow::freeze;

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
    /// Not one of the people who may decide `what` (`None`: nobody is configured to).
    NotAllowed {
        what: String,
        deciders: Option<Deciders>,
    },
    /// The four-eyes rule: the person's own run or PR; `deciders` may decide it instead.
    OwnWork {
        own: Own,
        deciders: Option<Deciders>,
    },
    /// Group membership could not be checked (Slack unreachable, nothing cached).
    Unverifiable {
        reason: String,
    },
    /// The run may not go on while another run of its kind holds its repository.
    Blocked,
    /// The button was not on the run's card in `channel` nor in the bot's Home tab.
    NotOnCard {
        channel: String,
    },
    /// A Merge in a repository frozen with `/release freeze`.
    Frozen(Box<Freeze>),
}

/// Why a click is someone's own work under the four-eyes rule (`ALLOW_SELF_APPROVAL=false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Own {
    /// They asked for the run (its slash command, or the operator API).
    Requested,
    /// They wrote the PR.
    Authored,
}

/// Whether the person who clicked may decide, or why not.
pub type Permission = Result<(), Rejection>;

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
    permission.clone()
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
            Self::OwnWork {
                own: Own::Requested,
                ..
            } => "own_request",
            Self::OwnWork {
                own: Own::Authored, ..
            } => "own_pr",
            Self::Unverifiable { .. } => "unverifiable",
            Self::Blocked => "blocked",
            Self::NotOnCard { .. } => "not_on_card",
            Self::Frozen(_) => "frozen",
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
            Self::NotAllowed {
                what,
                deciders: None,
            } => Line::new().plain(format!(
                "Nobody may decide {what} here: no approvers are configured for it (SLACK_APPROVERS, \
                 or `approvers` in REPOS_CONFIG). Nothing changed."
            )),
            Self::NotAllowed {
                what,
                deciders: Some(deciders),
            } => who_may(
                Line::new().plain(format!("You are not one of the approvers for {what} (")),
                deciders,
            )
            .plain("), so nothing changed. Ask one of them."),
            Self::OwnWork { own, deciders } => own_work_line(*own, deciders.as_ref()),
            Self::Blocked => Line::from(
                "This run cannot go on while another one is under way for the same repository \
                 (one release at a time). Finish or cancel that one first; nothing changed.",
            ),
            Self::NotOnCard { channel } => Line::new()
                .plain("That button is not on the run's card, so it does not count. Nothing changed. Use the buttons on its card in ")
                .channel(channel.clone())
                .plain(", or in my Home tab."),
            Self::Unverifiable { reason } => Line::new()
                .plain("I could not check whether you may decide this (")
                .plain(reason.clone())
                .plain("). Nothing changed; please try again in a minute."),
            Self::Frozen(freeze) => freeze::refusal(freeze),
        };
        Message::new([line])
    }
}

impl Rejection {
    /// Why a viewer of the Home tab gets no buttons for an approval, and who decides it.
    pub fn read_only(&self) -> Line {
        let line = Line::new().plain("Read-only for you: ");
        match self {
            Self::NotAllowed {
                what,
                deciders: Some(deciders),
            } => who_may(line.plain(format!("{what} is decided by ")), deciders).plain("."),
            Self::NotAllowed {
                what,
                deciders: None,
            } => line.plain(format!(
                "nobody is configured to decide {what} (SLACK_APPROVERS, or `approvers` in REPOS_CONFIG)."
            )),
            Self::OwnWork { own, deciders } => who_can(
                line.plain(format!(
                    "{}, so someone else decides it (four eyes). Who can: ",
                    own.yours()
                )),
                deciders.as_ref(),
            ),
            Self::Unverifiable { reason } => line.plain(format!(
                "I could not check whether you may decide this ({reason})."
            )),
            other => other.explain().lines.into_iter().next().unwrap_or_default(),
        }
    }
}

impl Own {
    fn yours(self) -> &'static str {
        match self {
            Self::Requested => "You asked for this run",
            Self::Authored => "You wrote this PR",
        }
    }
}

fn own_work_line(own: Own, deciders: Option<&Deciders>) -> Line {
    let line = Line::new().plain(format!(
        "{}, so someone else decides it (four eyes: ALLOW_SELF_APPROVAL is off). \
         Nothing changed. Who can: ",
        own.yours()
    ));
    who_can(line, deciders)
}

/// `line` followed by who may decide instead, or that nobody is configured.
fn who_can(line: Line, deciders: Option<&Deciders>) -> Line {
    match deciders {
        Some(deciders) => who_may(line, deciders).plain("."),
        None => line.plain("nobody is configured (SLACK_APPROVERS)."),
    }
}

/// The deciders named in `line`: mentions of users, group ids, or "anyone else".
fn who_may(mut line: Line, deciders: &Deciders) -> Line {
    if *deciders == Deciders::Anyone {
        return line.plain("anyone else in the workspace");
    }
    let approvers = deciders.approvers();
    if approvers.is_empty() {
        return line
            .plain("nobody Slack can recognise (Azure DevOps lists no approver with an email)");
    }
    for (i, approver) in approvers.iter().take(NAMED_MAX).enumerate() {
        if i > 0 {
            line = line.plain(", ");
        }
        line = match approver {
            Approver::User(id) => line.user(id.clone()),
            Approver::Group(id) => line.code(id.clone()),
            Approver::Email { name, .. } => line.plain(name.clone()),
        };
    }
    match approvers.len().checked_sub(NAMED_MAX) {
        Some(more) if more > 0 => line.plain(format!(" and {more} more")),
        _ => line,
    }
}

/// Deciders named in one message at most.
const NAMED_MAX: usize = 12;

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
            decides: crate::domain::Decides::Merge,
            author: None,
            deciders: None,
            required: 1,
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
            judge(Some(&pending), &option("merge"), &Ok(()), now),
            Ok(())
        );
    }

    #[test]
    fn the_state_of_the_approval_is_explained_before_permissions() {
        let now = Utc::now();
        let denied = Err(Rejection::NotAllowed {
            what: "merging PRs".into(),
            deciders: Some(Deciders::Only(vec![Approver::User("U9".into())])),
        });
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
            judge(Some(&pending), &option("merge"), &Ok(()), later),
            Err(Rejection::Expired { .. })
        ));
    }

    #[test]
    fn options_that_were_not_offered_and_strangers_are_refused() {
        let now = Utc::now();
        let pending = approval(ApprovalStatus::Pending, now);
        let refused = judge(Some(&pending), &option("deploy"), &Ok(()), now).unwrap_err();
        assert_eq!(refused.code(), "option_not_offered");
        let denied = Err(Rejection::NotAllowed {
            what: "merging PRs".into(),
            deciders: Some(Deciders::Only(vec![Approver::Group("S1".into())])),
        });
        let refused = judge(Some(&pending), &option("merge"), &denied, now).unwrap_err();
        assert_eq!(refused.code(), "not_allowed");
        assert!(format!("{:?}", refused.explain()).contains("S1"));
    }
}
