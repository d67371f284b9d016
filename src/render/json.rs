//! The JSON plan: the same document `plumb plan --out` saves, with a `format_version`.

use crate::plan::Plan;

pub fn render(plan: &Plan) -> String {
    let mut text = serde_json::to_string_pretty(plan).expect("plan data always serialises");
    text.push('\n');
    text
}
