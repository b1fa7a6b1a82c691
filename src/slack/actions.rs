//! Approval buttons: what a button carries and how a click is read back. The value names the
//! approval and the option; the action id only has to be unique within the card's button row.

use crate::domain::{ApprovalId, OptionName};

const PREFIX: &str = "decide:";

pub fn action_id(option: &OptionName) -> String {
    format!("{PREFIX}{option}")
}

pub fn value(approval: ApprovalId, option: &OptionName) -> String {
    format!("{approval}:{option}")
}

/// Reads a click on one of our approval buttons; anything else is `None`. The option in the
/// value must agree with the action id, so a tampered value cannot pick another option.
pub fn parse(action_id: &str, value: Option<&str>) -> Option<(ApprovalId, OptionName)> {
    let option = OptionName::parse(action_id.strip_prefix(PREFIX)?)?;
    let (approval, value_option) = value?.split_once(':')?;
    (value_option == option.as_str()).then_some(())?;
    Some((ApprovalId::parse(approval)?, option))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_round_trip() {
        let approval = ApprovalId::new();
        let option = OptionName::parse("merge").unwrap();
        let parsed = parse(&action_id(&option), Some(&value(approval, &option)));
        assert_eq!(parsed, Some((approval, option)));
    }

    #[test]
    fn foreign_or_inconsistent_clicks_are_ignored() {
        let approval = ApprovalId::new();
        assert_eq!(parse("something_else", Some("x")), None);
        assert_eq!(parse("decide:merge", None), None);
        assert_eq!(
            parse("decide:merge", Some(&format!("{approval}:cancel"))),
            None
        );
        assert_eq!(parse("decide:merge", Some("not-a-uuid:merge")), None);
        assert_eq!(
            parse("decide:Merge!", Some(&format!("{approval}:Merge!"))),
            None
        );
    }
}
