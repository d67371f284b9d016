//! What an environment owns, as rules about names: the one place that says whether a name
//! lies inside a scope setting and whether two environments' scopes overlap.
//!
//! Three shapes of setting, each with its own rule:
//! - **Parameter paths** (`parameter_paths`) are SSM hierarchies and match whole path
//!   segments: `/a` covers `/a` and `/a/x`, never `/ab/y`; `/a/` covers what lies below `/a`.
//! - **The IAM path** (`iam_path`) starts and ends with `/` (AWS's rule), so a plain prefix
//!   test is already segment-exact.
//! - **Name prefixes** (`alarm_prefixes`, `dashboard_prefixes`, `budget_prefixes`) are plain
//!   string prefixes: those names have no hierarchy.
//!
//! A setting that covers a whole service (`/`, or an empty prefix) must be named in
//! `scope.whole_service`: a typo there would otherwise let plumb prune an entire account.

use crate::config::{Environment, Scope};

/// The scope settings, as written in `[environments.NAME.scope]`.
pub const SETTINGS: [&str; 5] = [
    "parameter_paths",
    "iam_path",
    "alarm_prefixes",
    "dashboard_prefixes",
    "budget_prefixes",
];

/// Whether the parameter path `prefix` covers the parameter `name`, segment by segment.
pub fn path_covers(prefix: &str, name: &str) -> bool {
    if prefix.ends_with('/') {
        let folder = prefix.trim_end_matches('/');
        return folder.is_empty() || name.starts_with(&format!("{folder}/"));
    }
    name == prefix || name.starts_with(&format!("{prefix}/"))
}

/// Whether a name prefix setting (alarms, dashboards, budgets) covers `name`.
pub fn prefix_covers(prefixes: &[String], name: &str) -> bool {
    prefixes.iter().any(|p| name.starts_with(p.as_str()))
}

/// Whether some name could lie under both parameter paths.
fn paths_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_end_matches('/'), b.trim_end_matches('/'));
    a.is_empty()
        || b.is_empty()
        || a == b
        || a.starts_with(&format!("{b}/"))
        || b.starts_with(&format!("{a}/"))
}

/// Whether some name could start with both prefixes.
fn prefixes_overlap(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The values of one scope setting.
pub fn values<'a>(scope: &'a Scope, setting: &str) -> Vec<&'a str> {
    match setting {
        "parameter_paths" => scope.parameter_paths.iter().map(String::as_str).collect(),
        "iam_path" => scope.iam_path.iter().map(String::as_str).collect(),
        "alarm_prefixes" => scope.alarm_prefixes.iter().map(String::as_str).collect(),
        "dashboard_prefixes" => scope.dashboard_prefixes.iter().map(String::as_str).collect(),
        "budget_prefixes" => scope.budget_prefixes.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether one value of `setting` covers every object of its service.
pub fn is_whole_service(setting: &str, value: &str) -> bool {
    match setting {
        "parameter_paths" => value.trim_end_matches('/').is_empty(),
        "iam_path" => value == "/",
        _ => value.is_empty(),
    }
}

/// Problems with the scope of one environment, as (field, message) pairs.
pub fn check(scope: &Scope) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    for path in &scope.parameter_paths {
        if !path.starts_with('/') {
            problems.push((
                "scope.parameter_paths",
                format!("`{path}` must start with `/` (SSM hierarchies are absolute)"),
            ));
        }
    }
    if let Some(path) = &scope.iam_path
        && !(path.starts_with('/') && path.ends_with('/'))
    {
        problems.push((
            "scope.iam_path",
            format!("`{path}` must start and end with `/` (AWS's rule for IAM paths)"),
        ));
    }
    for (setting, allowed) in [
        ("parameter_paths", "letters, digits and `_ . - /`"),
        ("iam_path", "printable ASCII without spaces"),
        ("dashboard_prefixes", "letters, digits, `-` and `_`"),
        ("alarm_prefixes", "no control characters"),
        ("budget_prefixes", "no control characters"),
    ] {
        for value in values(scope, setting) {
            if let Some(bad) = value.chars().find(|c| !allowed_in(setting, *c)) {
                problems.push((
                    setting_field(setting),
                    format!(
                        "`{}` has {bad:?}; AWS allows {allowed} here",
                        value.escape_debug()
                    ),
                ));
            }
        }
    }
    for listed in &scope.whole_service {
        if !SETTINGS.contains(&listed.as_str()) {
            problems.push((
                "scope.whole_service",
                format!(
                    "`{listed}` is not a scope setting; use one of `{}`",
                    SETTINGS.join("`, `")
                ),
            ));
        }
    }
    for setting in SETTINGS {
        let opted_in = scope.whole_service.iter().any(|s| s == setting);
        for value in values(scope, setting) {
            if is_whole_service(setting, value) && !opted_in {
                problems.push(("scope", whole_service_message(setting, value)));
            }
        }
    }
    problems
}

/// Whether AWS allows `c` in the names a setting covers.
fn allowed_in(setting: &str, c: char) -> bool {
    match setting {
        "parameter_paths" => c.is_ascii_alphanumeric() || "_.-/".contains(c),
        "iam_path" => c.is_ascii_graphic(),
        "dashboard_prefixes" => c.is_ascii_alphanumeric() || c == '-' || c == '_',
        _ => !c.is_control(),
    }
}

fn setting_field(setting: &str) -> &'static str {
    match setting {
        "parameter_paths" => "scope.parameter_paths",
        "iam_path" => "scope.iam_path",
        "dashboard_prefixes" => "scope.dashboard_prefixes",
        "alarm_prefixes" => "scope.alarm_prefixes",
        _ => "scope.budget_prefixes",
    }
}

fn whole_service_message(setting: &str, value: &str) -> String {
    format!(
        "{setting} `{value}` covers every object of its kind in the account and region, so plumb \
         would delete everything there that desired/ does not declare; if that is meant, add \
         whole_service = [\"{setting}\"] to the scope"
    )
}

/// Whether a setting's objects are account-wide (IAM, Budgets, CloudWatch dashboards), so
/// that two environments in one account overlap there whatever their regions.
pub fn is_account_wide(setting: &str) -> bool {
    matches!(setting, "iam_path" | "budget_prefixes" | "dashboard_prefixes")
}

/// Where two scopes of one account overlap: (setting, one value, the other value) for each
/// overlapping pair; only the account-wide settings when the regions differ.
pub fn overlaps(a: &Scope, b: &Scope, same_region: bool) -> Vec<(&'static str, String, String)> {
    let mut found = Vec::new();
    for setting in SETTINGS.into_iter().filter(|s| same_region || is_account_wide(s)) {
        for x in values(a, setting) {
            for y in values(b, setting) {
                let overlap = match setting {
                    "parameter_paths" => paths_overlap(x, y),
                    _ => prefixes_overlap(x, y),
                };
                if overlap {
                    found.push((setting, x.to_string(), y.to_string()));
                }
            }
        }
    }
    found
}

/// The message for two environments of one account and region whose scopes overlap.
pub fn overlap_message(a: &Environment, b: &Environment, overlaps: &[(&str, String, String)]) -> String {
    let pairs: Vec<String> = overlaps
        .iter()
        .map(|(setting, x, y)| format!("{setting} `{x}` and `{y}`"))
        .collect();
    let place = if a.region == b.region {
        format!("account and region {}", a.region)
    } else {
        "an account (IAM, Budgets and dashboards are account-wide)".to_string()
    };
    format!(
        "environments `{}` and `{}` share {place} but their scopes overlap ({}): each would \
         delete the other's objects; give them disjoint scopes",
        a.name,
        b.name,
        pairs.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::{path_covers, paths_overlap, prefixes_overlap};

    #[test]
    fn parameter_paths_match_whole_segments() {
        assert!(path_covers("/a", "/a"));
        assert!(path_covers("/a", "/a/x"));
        assert!(!path_covers("/a", "/ab/y"));
        assert!(!path_covers("/a", "/ab"));
        assert!(path_covers("/a/", "/a/x/y"));
        assert!(!path_covers("/a/", "/a"));
        assert!(!path_covers("/a/", "/ab/x"));
        assert!(path_covers("/", "/anything"));
        assert!(!path_covers("/dev/app/", "/dev/application/x"));
    }

    #[test]
    fn overlap_is_symmetric_and_segment_exact() {
        assert!(paths_overlap("/app/", "/app/b/"));
        assert!(paths_overlap("/app/b/", "/app/"));
        assert!(!paths_overlap("/app/", "/apps/"));
        assert!(!paths_overlap("/dev/", "/prod/"));
        assert!(paths_overlap("/", "/prod/"));
        assert!(prefixes_overlap("app-", "app-dev-"));
        assert!(!prefixes_overlap("app-dev-", "app-prod-"));
        assert!(prefixes_overlap("/mono/", "/mono/"));
    }
}
