//! Amazon SNS: alert topics and their subscriptions, and references to them by name.
//!
//! An alarm's actions and a budget notification's `sns_topics` may name a topic declared in
//! the same environment as `"topic:<name>"`: the loader checks that it is declared, and the
//! plan shows and compares the topic's ARN in the environment's account and region.

pub mod topic;

use crate::resource::Reference;

/// What a reference to a declared topic starts with.
pub const PREFIX: &str = "topic:";

/// The topic a value names, if it is a reference (`"topic:alerts"`).
pub fn referenced(value: &str) -> Option<&str> {
    value.strip_prefix(PREFIX)
}

/// The references among `values`, for the loader to check (`field` names where they are).
pub fn references(values: &[String], field: &'static str) -> Vec<Reference> {
    values
        .iter()
        .filter_map(|v| referenced(v))
        .map(|name| Reference {
            kind: "topic",
            name: name.to_string(),
            field,
            hint: "declare it in a [topics.NAME] table in this environment, or give the topic's ARN",
        })
        .collect()
}

/// Replaces references with the topics' ARNs in `region` and `account`.
pub fn resolve(values: &mut [String], region: &str, account: &str) {
    for value in values.iter_mut() {
        if let Some(name) = referenced(value) {
            *value = topic_arn(region, account, name);
        }
    }
}

/// A topic's ARN, in the region's partition (`aws-cn` in China, `aws-us-gov` in GovCloud).
pub fn topic_arn(region: &str, account: &str, name: &str) -> String {
    let partition = match region {
        r if r.starts_with("cn-") => "aws-cn",
        r if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    };
    format!("arn:{partition}:sns:{region}:{account}:{name}")
}

/// Whether any of `values` is a reference.
pub fn any_reference(values: &[String]) -> bool {
    values.iter().any(|v| referenced(v).is_some())
}
