//! `plumb compare`'s report: text for a terminal, Markdown for a PR or a wiki page. (JSON is
//! the [`Comparison`] itself.) Values pass through [`super::inline`], so nothing in a value can
//! break the layout; secrets never reach here (the comparison holds none).

use std::fmt::Write;

use crate::compare::Comparison;

use super::inline;

pub fn text(comparison: &Comparison) -> String {
    let mut out = heading(comparison);
    if !comparison.missing.is_empty() {
        out.push_str("\nMissing:\n");
        for missing in &comparison.missing {
            let _ = writeln!(
                out,
                "  {} {}: in {}; missing in {}",
                missing.kind,
                super::name_shown(&missing.name),
                missing.present.join(", "),
                missing.missing.join(", ")
            );
        }
    }
    if !comparison.different.is_empty() {
        out.push_str("\nDifferent:\n");
        let mut last: Option<(&str, &str)> = None;
        for different in &comparison.different {
            if last != Some((different.kind, different.name.as_str())) {
                let _ = writeln!(out, "  {} {}", different.kind, super::name_shown(&different.name));
                last = Some((different.kind, different.name.as_str()));
            }
            let values: Vec<String> = comparison
                .environments
                .iter()
                .map(|env| {
                    format!(
                        "{env} {}",
                        different.values.get(env).map(inline).unwrap_or_default()
                    )
                })
                .collect();
            let _ = writeln!(out, "      {}: {}", different.field, values.join(" | "));
        }
    }
    for same in &comparison.same_secrets {
        let _ = writeln!(
            out,
            "\nWarning: {} {} has the same secret {} in {} (values not shown).",
            same.kind,
            super::name_shown(&same.name),
            same.field,
            same.environments.join(", ")
        );
    }
    out.push('\n');
    out.push_str(&summary(comparison));
    out
}

pub fn markdown(comparison: &Comparison) -> String {
    let mut out = format!("## {}", heading(comparison));
    if !comparison.missing.is_empty() {
        out.push_str("\n### Missing\n\n| resource | in | missing in |\n|---|---|---|\n");
        for missing in &comparison.missing {
            let _ = writeln!(
                out,
                "| {} {} | {} | {} |",
                missing.kind,
                code(&missing.name),
                missing.present.join(", "),
                missing.missing.join(", ")
            );
        }
    }
    if !comparison.different.is_empty() {
        let _ = write!(
            out,
            "\n### Different\n\n| resource | field | {} |\n|---|---|{}\n",
            comparison.environments.join(" | "),
            "---|".repeat(comparison.environments.len())
        );
        for different in &comparison.different {
            let values: Vec<String> = comparison
                .environments
                .iter()
                .map(|env| code(&different.values.get(env).map(inline).unwrap_or_default()))
                .collect();
            let _ = writeln!(
                out,
                "| {} {} | {} | {} |",
                different.kind,
                code(&different.name),
                code(&different.field),
                values.join(" | ")
            );
        }
    }
    for same in &comparison.same_secrets {
        let _ = writeln!(
            out,
            "\n> **Warning:** {} {} has the same secret {} in {} (values not shown).",
            same.kind,
            code(&same.name),
            same.field,
            same.environments.join(", ")
        );
    }
    out.push('\n');
    out.push_str(&summary(comparison));
    out
}

fn heading(comparison: &Comparison) -> String {
    let source = match comparison.source {
        "live" => "live AWS",
        _ => "desired/",
    };
    format!("Comparing {} ({source})\n", comparison.environments.join(", "))
}

fn summary(comparison: &Comparison) -> String {
    if !comparison.differs() {
        return "No differences.\n".into();
    }
    format!(
        "{} resource(s) missing somewhere, {} field(s) different.\n",
        comparison.missing.len(),
        comparison.different.len()
    )
}

/// A name or value in a Markdown table cell: a code span no value can close (the plan
/// comment's own cells), with `|` escaped and invisible characters shown.
fn code(text: &str) -> String {
    super::markdown::cell(text)
}
