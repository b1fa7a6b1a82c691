//! Reading the CLI's answer. Success is narrow: stdout parses as the result object, `is_error`
//! is false, and `structured_output` is present and fits the schema. Everything else is a
//! failure with its reason, never an approval.

use std::process::ExitStatus;

use serde_json::Value;

use super::ReviewError;
use super::answer::Answer;

/// What the CLI reports about the run itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub cost_usd: Option<f64>,
    pub duration_ms: Option<u64>,
    pub turns: Option<u32>,
    /// Tokens in and out, cached ones included, over every model the run used.
    pub tokens: Option<u64>,
}

/// The structured answer, decoded and checked against its schema's rules, with the run's usage.
pub(super) fn read<T: Answer>(
    status: ExitStatus,
    stdout: &[u8],
    stderr: &[u8],
) -> Result<(T, Usage), ReviewError> {
    let text = String::from_utf8_lossy(stdout);
    let parsed = last_json_object(&text);
    if let Some(result) = &parsed
        && result["is_error"].as_bool() == Some(true)
    {
        return Err(ReviewError::Failed {
            kind: result["subtype"].as_str().unwrap_or("error").to_owned(),
            message: failure_message(result),
        });
    }
    if !status.success() {
        return Err(ReviewError::Exit {
            code: status.code(),
            stderr: tail(&String::from_utf8_lossy(stderr), 500),
        });
    }
    let Some(result) = parsed else {
        let shown = if text.trim().is_empty() {
            "no output at all".to_owned()
        } else {
            tail(&text, 200)
        };
        return Err(ReviewError::Garbage(shown));
    };
    let Some(answer) = result.get("structured_output").filter(|v| !v.is_null()) else {
        return Err(ReviewError::Schema(
            "the result has no structured_output".into(),
        ));
    };
    let decoded = T::deserialize(answer).map_err(|e| ReviewError::Schema(e.to_string()))?;
    decoded.check().map_err(ReviewError::Schema)?;
    let usage = Usage {
        cost_usd: result["total_cost_usd"].as_f64(),
        duration_ms: result["duration_ms"].as_u64(),
        turns: result["num_turns"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok()),
        tokens: tokens(&result),
    };
    Ok((decoded, usage))
}

/// The tokens of `modelUsage` (every model, subagents included), else of `usage` (the main
/// loop only).
fn tokens(result: &Value) -> Option<u64> {
    const MODEL: [&str; 4] = [
        "inputTokens",
        "outputTokens",
        "cacheReadInputTokens",
        "cacheCreationInputTokens",
    ];
    const MAIN: [&str; 4] = [
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    ];
    let sum = |usage: &Value, keys: &[&str]| -> u64 {
        keys.iter().filter_map(|k| usage[*k].as_u64()).sum()
    };
    if let Some(models) = result["modelUsage"].as_object().filter(|m| !m.is_empty()) {
        return Some(models.values().map(|u| sum(u, &MODEL)).sum());
    }
    result["usage"]
        .as_object()
        .map(|_| sum(&result["usage"], &MAIN))
}

/// `--output-format json` prints one object; tolerate stray lines before it.
fn last_json_object(text: &str) -> Option<Value> {
    if let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(text.trim()) {
        return Some(value);
    }
    text.lines()
        .rev()
        .find_map(|line| {
            serde_json::from_str::<Value>(line.trim())
                .ok()
                .filter(Value::is_object)
        })
        .filter(|v| v.get("type").is_some() || v.get("is_error").is_some())
}

fn failure_message(result: &Value) -> String {
    let errors: Vec<&str> = result["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !errors.is_empty() {
        return errors.join("; ");
    }
    for key in ["result", "terminal_reason"] {
        if let Some(text) = result[key].as_str().filter(|t| !t.is_empty()) {
            return tail(text, 300);
        }
    }
    "no reason given".into()
}

fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let count = text.chars().count();
    if count <= max {
        text.to_owned()
    } else {
        format!("…{}", text.chars().skip(count - max).collect::<String>())
    }
}
