//! Turning rich text into Slack mrkdwn safely. Slack's only escapes are `&`, `<` and `>`; with
//! those escaped, untrusted text cannot form links, mentions or `<!channel>` pings.

use std::fmt::Write;

use crate::domain::{Line, Span};

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// At most `max` characters; a cut string ends with `…`.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

pub fn line(line: &Line) -> String {
    let mut out = String::new();
    for span in &line.0 {
        match span {
            Span::Plain(text) => out.push_str(&escape(text)),
            Span::Bold(text) => emphasis(&mut out, '*', text),
            Span::Code(text) => emphasis(&mut out, '`', text),
            Span::Link { url, label } => link(&mut out, url, label),
            Span::User(id) if is_user_id(id) => {
                let _ = write!(out, "<@{id}>");
            }
            Span::User(name) => out.push_str(&escape(name)),
            Span::Channel(id) if is_channel_id(id) => {
                let _ = write!(out, "<#{id}>");
            }
            Span::Channel(name) => out.push_str(&escape(name)),
            Span::Date(at) => {
                let fallback = at.format("%Y-%m-%d %H:%M UTC");
                let _ = write!(
                    out,
                    "<!date^{}^{{date_short_pretty}} at {{time}}|{fallback}>",
                    at.timestamp()
                );
            }
        }
    }
    out
}

pub fn lines(lines: &[Line]) -> String {
    lines.iter().map(line).collect::<Vec<_>>().join("\n")
}

/// Plain text for notifications and screen readers: the spans without markup.
pub fn plain(line: &Line) -> String {
    line.0
        .iter()
        .map(|span| match span {
            Span::Plain(t) | Span::Bold(t) | Span::Code(t) => t.clone(),
            Span::Link { label, .. } => label.clone(),
            Span::User(id) => format!("@{id}"),
            Span::Channel(id) => format!("#{id}"),
            Span::Date(at) => at.format("%Y-%m-%d %H:%M UTC").to_string(),
        })
        .collect()
}

/// `*bold*` or `` `code` ``; the marker itself is dropped from the text so it cannot end the
/// emphasis early, and empty text gets no markers.
fn emphasis(out: &mut String, marker: char, text: &str) {
    let inner = escape(&text.replace(marker, ""));
    if inner.trim().is_empty() {
        out.push_str(&inner);
    } else {
        let _ = write!(out, "{marker}{inner}{marker}");
    }
}

/// `<url|label>`, only for http(s) URLs without characters that would break out of the link.
fn link(out: &mut String, url: &str, label: &str) {
    let safe = (url.starts_with("https://") || url.starts_with("http://"))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '|'));
    let label = escape(&label.replace('|', "¦"));
    if safe {
        let _ = write!(out, "<{}|{label}>", url.replace('&', "&amp;"));
    } else {
        out.push_str(&label);
    }
}

fn is_user_id(id: &str) -> bool {
    is_slack_id(id, &['U', 'W'])
}

/// Public and private channels, and direct messages.
fn is_channel_id(id: &str) -> bool {
    is_slack_id(id, &['C', 'G', 'D'])
}

/// Only a well-formed id is turned into a mention, so text cannot pass as one.
fn is_slack_id(id: &str, prefixes: &[char]) -> bool {
    id.len() >= 3
        && id.starts_with(prefixes)
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn untrusted_text_cannot_ping_or_link() {
        let hostile = "<!channel> <@U123> <https://evil|click> & co";
        let out = line(&Line::new().plain(hostile));
        assert_eq!(
            out,
            "&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil|click&gt; &amp; co"
        );
        assert!(!out.contains('<'));
    }

    #[test]
    fn spans_render_as_mrkdwn() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        let out = line(
            &Line::new()
                .bold("Merge")
                .plain(" by ")
                .user("U1ABC")
                .plain(" on ")
                .date(at)
                .plain(" in ")
                .link("https://dev.azure.com/o/p?a=1&b=2", "PR <5>")
                .plain(" ")
                .code("a`b")
                .plain(" in ")
                .channel("C0RELEASES"),
        );
        assert_eq!(
            out,
            "*Merge* by <@U1ABC> on <!date^1795428000^{date_short_pretty} at {time}|2026-11-23 10:00 UTC> \
             in <https://dev.azure.com/o/p?a=1&amp;b=2|PR &lt;5&gt;> `ab` in <#C0RELEASES>"
        );
    }

    #[test]
    fn suspicious_links_and_user_names_fall_back_to_text() {
        let out = line(
            &Line::new()
                .link("javascript:alert(1)", "x")
                .plain(" ")
                .link("https://a|b>", "y"),
        );
        assert_eq!(out, "x y");
        assert_eq!(line(&Line::new().user("operator")), "operator");
        assert_eq!(line(&Line::new().channel("#general>")), "#general&gt;");
        assert_eq!(line(&Line::new().bold("*")), "");
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
    }
}
