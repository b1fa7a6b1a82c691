//! Choosing the way to a status. Jira shows a caller only the transitions from an issue's
//! current status (the whole workflow needs Jira admin: JRACLOUD-81786), so a status two hops
//! away is reached by walking: take a transition to the target when one is offered; otherwise
//! step forward into an "in progress" status the issue has not been in (never back to the "new"
//! category, never into another "done" status, which would close the issue under another name)
//! and look again, for at most [`MAX_HOPS`] transitions. Pure.

use serde::Deserialize;

/// The most transitions one move takes.
pub const MAX_HOPS: usize = 4;

/// Jira's status categories, in the order work goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    New,
    Indeterminate,
    Done,
    #[serde(other)]
    Undefined,
}

/// A transition Jira offers from the current status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    pub id: String,
    pub name: String,
    /// The status it leads to.
    pub to: String,
    pub category: Category,
    /// Its screen requires a Resolution, from these values (empty: any).
    pub resolution: Option<Vec<String>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Hop<'a> {
    /// This transition reaches the target.
    Arrive(&'a Offered),
    /// No transition reaches it; this one goes forward.
    Toward(&'a Offered),
    Stuck,
}

/// The next transition toward `target` among `offered`, avoiding the statuses in `been` (where
/// the issue has been, and the current one).
pub fn next_hop<'a>(offered: &'a [Offered], target: &str, been: &[String]) -> Hop<'a> {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    if let Some(arrive) = offered
        .iter()
        .find(|t| same(&t.to, target))
        .or_else(|| offered.iter().find(|t| same(&t.name, target)))
    {
        return Hop::Arrive(arrive);
    }
    // A status whose category Jira did not name is not a step forward anyone can vouch for.
    let forward = offered
        .iter()
        .find(|t| t.category == Category::Indeterminate && !been.iter().any(|b| same(b, &t.to)));
    forward.map_or(Hop::Stuck, Hop::Toward)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(to: &str, category: Category) -> Offered {
        Offered {
            id: format!("id-{to}"),
            name: format!("to {to}"),
            to: to.into(),
            category,
            resolution: None,
        }
    }

    #[test]
    fn the_target_wins_then_a_step_forward_then_nothing() {
        let from_qa = [
            offered("In Progress", Category::Indeterminate),
            offered("Won't Do", Category::Done),
            offered("QA Passed", Category::Indeterminate),
            offered("Backlog", Category::New),
        ];
        let been = ["In Progress".to_owned(), "Ready for QA".to_owned()];
        assert_eq!(next_hop(&from_qa, "done", &been), Hop::Toward(&from_qa[2]));
        assert_eq!(
            next_hop(&from_qa, "won't do", &been),
            Hop::Arrive(&from_qa[1])
        );
        let by_name = [Offered {
            name: "Done".into(),
            ..offered("Closed", Category::Done)
        }];
        assert_eq!(next_hop(&by_name, "Done", &[]), Hop::Arrive(&by_name[0]));
        assert_eq!(
            next_hop(&from_qa[..2], "Done", &been),
            Hop::Stuck,
            "only back or closed"
        );
        assert_eq!(next_hop(&[], "Done", &[]), Hop::Stuck);
    }
}
