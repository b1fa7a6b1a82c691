//! The shapes of the reviewer's answers: the JSON schema the CLI is given, and the same rules
//! checked on what comes back. Serde enforces the fields, their types and the allowed values
//! (`deny_unknown_fields` stands for `"additionalProperties": false`); [`Answer::check`] the
//! lengths and counts. Schema and check read their bounds from the same constants, and a test
//! holds them to the same verdicts.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Finding, ReplyAnswer, ReviewAnswer, TicketDraft};

const SUMMARY_MAX: usize = 4000;
const FINDINGS_MAX: usize = 50;
const FILE_MAX: usize = 400;
const TITLE_MAX: usize = 200;
const BODY_MAX: usize = 4000;
const TICKET_SUMMARY_MAX: usize = 120;
const TICKET_DESCRIPTION_MAX: usize = 8000;
/// An answer in a Slack thread: Slack shows about this much before "Show more".
const REPLY_MAX: usize = 3000;

/// An answer the reviewer is asked for.
pub(super) trait Answer: DeserializeOwned {
    /// The JSON schema given to the CLI with `--json-schema`.
    fn schema() -> Value;
    /// Which of the schema's bounds the decoded answer breaks, if any.
    fn check(&self) -> Result<(), String>;
}

impl Answer for ReviewAnswer {
    fn schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["verdict", "summary", "findings"],
            "properties": {
                "verdict": {"enum": ["approve", "request_changes"]},
                "summary": {"type": "string", "minLength": 1, "maxLength": SUMMARY_MAX},
                "findings": {
                    "type": "array",
                    "maxItems": FINDINGS_MAX,
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["file", "line", "severity", "title", "body"],
                        "properties": {
                            "file": {"type": "string", "minLength": 1, "maxLength": FILE_MAX},
                            "line": {"type": "integer", "minimum": 1},
                            "severity": {"enum": ["critical", "major", "minor", "nit"]},
                            "title": {"type": "string", "minLength": 1, "maxLength": TITLE_MAX},
                            "body": {"type": "string", "maxLength": BODY_MAX}
                        }
                    }
                }
            }
        })
    }

    fn check(&self) -> Result<(), String> {
        length("summary", &self.summary, 1, SUMMARY_MAX)?;
        if self.findings.len() > FINDINGS_MAX {
            return Err(format!(
                "{} findings, at most {FINDINGS_MAX} allowed",
                self.findings.len()
            ));
        }
        for (i, finding) in self.findings.iter().enumerate() {
            check_finding(finding).map_err(|e| format!("{e} at /findings/{i}"))?;
        }
        Ok(())
    }
}

fn check_finding(finding: &Finding) -> Result<(), String> {
    length("file", &finding.file, 1, FILE_MAX)?;
    if finding.line < 1 {
        return Err("line must be at least 1".into());
    }
    length("title", &finding.title, 1, TITLE_MAX)?;
    length("body", &finding.body, 0, BODY_MAX)
}

impl Answer for TicketDraft {
    fn schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["summary", "description"],
            "properties": {
                "summary": {"type": "string", "minLength": 1, "maxLength": TICKET_SUMMARY_MAX},
                "description": {"type": "string", "minLength": 1, "maxLength": TICKET_DESCRIPTION_MAX}
            }
        })
    }

    fn check(&self) -> Result<(), String> {
        length("summary", &self.summary, 1, TICKET_SUMMARY_MAX)?;
        length("description", &self.description, 1, TICKET_DESCRIPTION_MAX)
    }
}

impl Answer for ReplyAnswer {
    fn schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["answer"],
            "properties": {
                "answer": {"type": "string", "minLength": 1, "maxLength": REPLY_MAX}
            }
        })
    }

    fn check(&self) -> Result<(), String> {
        length("answer", &self.answer, 1, REPLY_MAX)
    }
}

/// `text` has `min..=max` characters, counted as JSON Schema counts them (code points).
fn length(field: &str, text: &str, min: usize, max: usize) -> Result<(), String> {
    let count = text.chars().count();
    if count < min {
        Err(format!("{field} is empty"))
    } else if count > max {
        Err(format!(
            "{field} has {count} characters, at most {max} allowed"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the CLI's own schema check says of `value`, and what ours says.
    fn verdicts<T: Answer>(value: &Value) -> (bool, bool) {
        let schema = jsonschema::validator_for(&T::schema()).unwrap();
        let ours = serde_json::from_value::<T>(value.clone())
            .map_err(|e| e.to_string())
            .and_then(|answer| answer.check());
        (schema.is_valid(value), ours.is_ok())
    }

    fn finding(change: impl FnOnce(&mut Value)) -> Value {
        let mut finding =
            json!({"file": "src/a.rs", "line": 3, "severity": "major", "title": "Bug", "body": ""});
        change(&mut finding);
        json!({"verdict": "request_changes", "summary": "One bug.", "findings": [finding]})
    }

    #[test]
    fn the_review_check_agrees_with_its_schema() {
        let long = |n: usize| Value::String("é".repeat(n));
        let many: Vec<Value> = (0..=FINDINGS_MAX)
            .map(|_| finding(|_| {})["findings"][0].clone())
            .collect();
        let cases = [
            (finding(|_| {}), true),
            (
                json!({"verdict": "approve", "summary": "Fine.", "findings": []}),
                true,
            ),
            (
                json!({"verdict": "lgtm", "summary": "Fine.", "findings": []}),
                false,
            ),
            (
                json!({"verdict": "approve", "summary": "", "findings": []}),
                false,
            ),
            (
                json!({"verdict": "approve", "summary": long(SUMMARY_MAX), "findings": []}),
                true,
            ),
            (
                json!({"verdict": "approve", "summary": long(SUMMARY_MAX + 1), "findings": []}),
                false,
            ),
            (json!({"verdict": "approve", "summary": "Fine."}), false),
            (
                json!({"verdict": "approve", "summary": "Fine.", "findings": [], "extra": 1}),
                false,
            ),
            (
                json!({"verdict": "approve", "summary": "Fine.", "findings": many[1..]}),
                true,
            ),
            (
                json!({"verdict": "approve", "summary": "Fine.", "findings": many}),
                false,
            ),
            (finding(|f| f["line"] = json!(0)), false),
            (finding(|f| f["line"] = json!(-2)), false),
            (finding(|f| f["line"] = json!(1.5)), false),
            (finding(|f| f["file"] = json!("")), false),
            (finding(|f| f["file"] = long(FILE_MAX + 1)), false),
            (finding(|f| f["title"] = long(TITLE_MAX)), true),
            (finding(|f| f["title"] = long(TITLE_MAX + 1)), false),
            (finding(|f| f["body"] = long(BODY_MAX + 1)), false),
            (finding(|f| f["severity"] = json!("blocker")), false),
            (finding(|f| f["why"] = json!("x")), false),
            (finding(|f| f["body"] = json!(null)), false),
        ];
        for (value, valid) in cases {
            assert_eq!(verdicts::<ReviewAnswer>(&value), (valid, valid), "{value}");
        }
    }

    #[test]
    fn the_ticket_check_agrees_with_its_schema() {
        let draft = |summary: Value, description: Value| json!({"summary": summary, "description": description});
        let long = |n: usize| Value::String("x".repeat(n));
        let cases = [
            (draft(json!("Update deps"), json!("Bumps serde.")), true),
            (draft(long(TICKET_SUMMARY_MAX), json!("d")), true),
            (draft(long(TICKET_SUMMARY_MAX + 1), json!("d")), false),
            (draft(json!(""), json!("d")), false),
            (draft(json!("s"), json!("")), false),
            (draft(json!("s"), long(TICKET_DESCRIPTION_MAX + 1)), false),
            (json!({"summary": "s"}), false),
        ];
        for (value, valid) in cases {
            assert_eq!(verdicts::<TicketDraft>(&value), (valid, valid), "{value}");
        }
    }

    #[test]
    fn the_reply_check_agrees_with_its_schema() {
        let cases = [
            (json!({"answer": "Because of the `!` in its title."}), true),
            (json!({"answer": ""}), false),
            (json!({"answer": "é".repeat(REPLY_MAX)}), true),
            (json!({"answer": "é".repeat(REPLY_MAX + 1)}), false),
            (json!({"answer": "Yes.", "verdict": "approve"}), false),
            (json!({}), false),
        ];
        for (value, valid) in cases {
            assert_eq!(verdicts::<ReplyAnswer>(&value), (valid, valid), "{value}");
        }
    }

    #[test]
    fn a_broken_bound_is_named_with_its_place() {
        let answer: ReviewAnswer =
            serde_json::from_value(finding(|f| f["title"] = json!(""))).unwrap();
        assert_eq!(answer.check().unwrap_err(), "title is empty at /findings/0");
    }
}
