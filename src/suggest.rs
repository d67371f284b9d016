//! "Did you mean …?" for misspelt keys.

/// The candidate closest to `input`, if it is close enough to be a likely typo: at most one
/// edit in three characters (a swap of neighbours counts as one edit: `dve` → `dev`).
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (input.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (strsim::osa_distance(input, candidate), candidate))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// serde's type names said as a user would: `expected i64` is "expected a whole number".
pub fn readable(message: &str) -> String {
    if message == "data did not match any variant of untagged enum Literal" {
        return "expected a string (or, for a StringList, a list of strings)".to_string();
    }
    let mut out = message.to_string();
    for (rust, said) in [
        ("expected usize", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ] {
        if let Some(rest) = out.strip_suffix(rust) {
            out = format!("{rest}{said}");
        }
    }
    out
}

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" into a shorter message with a
/// suggestion. serde's wording has been stable for years; anything else passes through.
pub fn unknown_field_message(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match closest(field, candidates.iter().copied()) {
        Some(best) => format!("unknown field `{field}`; did you mean `{best}`?"),
        None if candidates.is_empty() => format!("unknown field `{field}`"),
        None => format!(
            "unknown field `{field}`; expected one of {}",
            candidates
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{closest, unknown_field_message};

    #[test]
    fn suggests_the_closest_candidate() {
        assert_eq!(closest("valeu", ["value", "type", "tier"]), Some("value"));
        assert_eq!(closest("zzz", ["value", "type"]), None);
        assert_eq!(closest("dve", ["dev", "prod"]), Some("dev"));
        assert_eq!(closest("paramters", ["parameters", "groups"]), Some("parameters"));
    }

    #[test]
    fn rewrites_serde_unknown_field_errors() {
        let serde = "unknown field `descripton`, expected one of `value`, `description`";
        assert_eq!(
            unknown_field_message(serde),
            "unknown field `descripton`; did you mean `description`?"
        );
        let far = "unknown field `qqq`, expected `value`";
        assert_eq!(
            unknown_field_message(far),
            "unknown field `qqq`; expected one of `value`"
        );
        assert_eq!(unknown_field_message("invalid type"), "invalid type");
    }
}
