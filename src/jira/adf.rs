//! Atlassian Document Format: Jira v3 wants rich text (descriptions, comments) as ADF documents.
//! Built from plain text and links here; text nodes are never empty, as Jira requires.

use serde_json::{Value, json};

/// A piece of a paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    Text(String),
    Code(String),
    Link { text: String, url: String },
}

/// A document of paragraphs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    paragraphs: Vec<Vec<Inline>>,
}

impl Document {
    /// Paragraphs at blank lines; single line breaks stay line breaks.
    pub fn from_text(text: &str) -> Self {
        let paragraphs = text
            .replace("\r\n", "\n")
            .split("\n\n")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| vec![Inline::Text(p.to_owned())])
            .collect();
        Self { paragraphs }
    }

    pub fn paragraph(mut self, inlines: Vec<Inline>) -> Self {
        self.paragraphs.push(inlines);
        self
    }

    pub fn to_json(&self) -> Value {
        let content: Vec<Value> = self
            .paragraphs
            .iter()
            .map(|inlines| {
                let nodes: Vec<Value> = inlines.iter().flat_map(inline_nodes).collect();
                if nodes.is_empty() {
                    json!({"type": "paragraph"})
                } else {
                    json!({"type": "paragraph", "content": nodes})
                }
            })
            .collect();
        json!({"type": "doc", "version": 1, "content": content})
    }
}

fn inline_nodes(inline: &Inline) -> Vec<Value> {
    let (text, marks) = match inline {
        Inline::Text(text) => (text.as_str(), None),
        Inline::Code(text) => (text.as_str(), Some(json!([{"type": "code"}]))),
        Inline::Link { text, url } => (
            text.as_str(),
            Some(json!([{"type": "link", "attrs": {"href": url}}])),
        ),
    };
    let mut nodes = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            nodes.push(json!({"type": "hardBreak"}));
        }
        if line.is_empty() {
            continue;
        }
        let mut node = json!({"type": "text", "text": line});
        if let Some(marks) = &marks {
            node["marks"] = marks.clone();
        }
        nodes.push(node);
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_paragraphs_with_line_breaks_and_no_empty_text_nodes() {
        let doc = Document::from_text("First line\nsecond line\n\n\nNext paragraph\n").to_json();
        assert_eq!(
            doc,
            json!({"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [
                    {"type": "text", "text": "First line"}, {"type": "hardBreak"}, {"type": "text", "text": "second line"}]},
                {"type": "paragraph", "content": [{"type": "text", "text": "Next paragraph"}]}
            ]})
        );
        assert_eq!(
            Document::from_text("  \n\n ").to_json()["content"],
            json!([])
        );
    }

    #[test]
    fn links_and_code_carry_marks() {
        let doc = Document::default()
            .paragraph(vec![
                Inline::Text("PR ".into()),
                Inline::Link {
                    text: "Billo.Api#12".into(),
                    url: "https://dev.azure.com/x".into(),
                },
                Inline::Code(String::new()),
            ])
            .to_json();
        assert_eq!(
            doc["content"][0]["content"],
            json!([{"type": "text", "text": "PR "},
                   {"type": "text", "text": "Billo.Api#12", "marks": [{"type": "link", "attrs": {"href": "https://dev.azure.com/x"}}]}])
        );
    }
}
