//! Renderers: plan data in, text out. They never print and never see a secret (the plan
//! carries none).

pub mod compare;
pub mod json;
pub mod markdown;
pub mod text;

use serde_json::Value as Json;
use similar::TextDiff;

use crate::plan::{Action, FieldChange};

/// How one field's change reads.
pub enum FieldView {
    /// `before -> after` (or just one side), each a short one-line value.
    Inline {
        before: Option<String>,
        after: Option<String>,
    },
    /// A unified diff of the pretty-printed values, for documents and long text.
    Diff(String),
    /// A secret: no value, only whether it changes.
    Sensitive,
}

/// Values longer than this, or spanning lines, are shown as a diff of their lines.
const INLINE_WIDTH: usize = 72;

pub fn field_view(change: &FieldChange) -> FieldView {
    if change.sensitive {
        return FieldView::Sensitive;
    }
    let before = change.before.as_ref().map(inline);
    let after = change.after.as_ref().map(inline);
    let long = |v: &Option<String>| v.as_ref().is_some_and(|s| s.len() > INLINE_WIDTH);
    let documents =
        change.before.as_ref().is_some_and(is_document) || change.after.as_ref().is_some_and(is_document);
    if documents || long(&before) || long(&after) {
        let old = change.before.as_ref().map(multiline).unwrap_or_default();
        let new = change.after.as_ref().map(multiline).unwrap_or_default();
        return FieldView::Diff(unified_diff(&old, &new));
    }
    FieldView::Inline { before, after }
}

/// A value on one line: JSON, so strings are quoted and control characters escaped; and
/// the characters JSON leaves alone that could still mislead a reader escaped too.
pub fn inline(value: &Json) -> String {
    visible(&value.to_string())
}

/// Text whose ends a reader cannot see, marked: each trailing space of a line as `␠`, and a
/// final newline as `↵`, so `"v1\n"` and `"v1"` never render alike. (Carriage returns and tabs
/// are already escaped by [`visible`].)
fn with_invisible_ends(text: &str) -> String {
    let (body, final_newline) = match text.strip_suffix('\n') {
        Some(body) => (body, true),
        None => (text, false),
    };
    let lines: Vec<String> = body
        .split('\n')
        .map(|line| {
            let kept = line.trim_end_matches(' ');
            format!("{kept}{}", "␠".repeat(line.len() - kept.len()))
        })
        .collect();
    let mut out = lines.join("\n");
    if final_newline {
        out.push('↵');
    }
    out
}

/// A resource name on one line, made visible: a name cannot start a line of its own.
pub fn name_shown(name: &str) -> String {
    visible(&name.replace('\n', "\\n"))
}

/// `text` with everything that could hide or fake what a reviewer reads made visible:
/// control characters other than newlines (ESC could move the cursor over earlier lines,
/// `\r` overwrite a line) and the Unicode bidirectional controls that reorder text, each as
/// its escape (`\u{1b}`, `\u{202e}`).
pub fn visible(text: &str) -> String {
    let hidden = |c: char| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    };
    if !text.chars().any(hidden) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if hidden(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn is_document(value: &Json) -> bool {
    match value {
        Json::Object(map) => map.values().any(|v| v.is_object() || v.is_array()),
        Json::String(s) => s.contains('\n'),
        _ => false,
    }
}

/// A document in one line: `(document: 42 lines, sha256:1f2e3d4c5b6a)`, the lines of its
/// pretty-printed form and a hash of its canonical JSON, to tell two apart.
pub fn document_summary(value: &Json) -> String {
    use sha2::{Digest, Sha256};
    let lines = multiline(value).lines().count();
    let hash = format!("{:x}", Sha256::digest(value.to_string().as_bytes()));
    format!("(document: {lines} lines, sha256:{})", &hash[..12])
}

/// A value as lines for a diff: text as it is, anything else pretty-printed JSON.
fn multiline(value: &Json) -> String {
    let mut text = match value {
        Json::String(s) => with_invisible_ends(&visible(s)),
        other => visible(&serde_json::to_string_pretty(other).unwrap_or_default()),
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn unified_diff(old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .to_string()
        .lines()
        .filter(|l| !l.starts_with("@@"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// How a secret field reads: whether it changes, never what it is.
pub fn sensitive_label(action: Action) -> &'static str {
    match action {
        Action::Update | Action::Replace => "(sensitive value changed)",
        Action::Create | Action::Delete => "(sensitive value)",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{inline, visible};

    #[test]
    fn nothing_that_moves_the_cursor_or_reorders_text_is_printed_raw() {
        let value = "real\n\u{1b}[1A\u{1b}[2K fake\rOVER\u{8}\u{202e}esrever";
        let shown = visible(value);
        assert!(!shown.chars().any(|c| c.is_control() && c != '\n'), "{shown:?}");
        assert!(
            shown.contains("\\u{1b}[1A") && shown.contains("\\u{202e}esrever"),
            "{shown}"
        );
        assert_eq!(inline(&json!("a\u{2066}b")), "\"a\\u{2066}b\"");
        assert_eq!(visible("plain text"), "plain text");
    }
}

#[cfg(test)]
mod invisible {
    use serde_json::json;

    use super::{FieldView, field_view};
    use crate::plan::FieldChange;

    fn diff(before: &str, after: &str) -> String {
        let change = FieldChange {
            field: "value".into(),
            before: Some(json!(before)),
            after: Some(json!(after)),
            sensitive: false,
        };
        match field_view(&change) {
            FieldView::Diff(diff) => diff,
            FieldView::Inline { before, after } => format!("{before:?} -> {after:?}"),
            FieldView::Sensitive => unreachable!(),
        }
    }

    #[test]
    fn every_planned_difference_is_visible() {
        let trailing_newline = diff("v1\n", "v1");
        assert!(
            trailing_newline.contains("-v1↵") && trailing_newline.contains("+v1"),
            "{trailing_newline}"
        );
        let crlf = diff("line one\r\nline two", "line one\nline two");
        assert!(crlf.contains("-line one\\u{d}"), "{crlf}");
        let spaces = diff("a  \nb", "a\nb");
        assert!(spaces.contains("-a␠␠"), "{spaces}");
    }
}
