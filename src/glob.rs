//! The `protect` patterns of plumb.toml: `*` matches any run of characters (`/` included, so
//! `/dev/app/database/*` covers everything below it), `?` matches one character.

pub fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches_from(&pattern, &name)
}

fn matches_from(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|skip| matches_from(rest, &name[skip..])),
        Some(('?', rest)) => !name.is_empty() && matches_from(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && matches_from(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn star_spans_path_segments() {
        assert!(matches("/dev/app/database/*", "/dev/app/database/password"));
        assert!(matches("/dev/app/database/*", "/dev/app/database/replica/host"));
        assert!(!matches("/dev/app/database/*", "/dev/app/redis/host"));
        assert!(matches("*-prod", "alarm-prod"));
        assert!(matches("/dev/?", "/dev/x"));
        assert!(!matches("/dev/?", "/dev/xy"));
        assert!(matches("exact", "exact"));
    }
}
