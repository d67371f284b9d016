//! `plumb compare`: several environments lined up resource by resource (pure; the command
//! loads or fetches the sides, the renderers in `render::compare` show the result).
//!
//! Resources line up by their name with the environment-specific parts taken out: the
//! `{env}` and `{vars.*}` parts of the table's naming rule, or, without a rule, the
//! environment's name where it stands as a whole segment of the name (`/dev/app/x` and
//! `/prod/app/x` are both `/{env}/app/x`). Values are compared the same way (the
//! environment's name, account and region written as `{env}`, `{account_id}`, `{region}`),
//! so that `dimensions = { Cluster = "app-dev" }` and `"app-prod"` do not differ; a report
//! shows the real values. Secret values are never shown and not compared (environments are
//! expected to hold different ones); comparing live AWS, two environments holding the same
//! secret value is a warning.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value as Json;

use crate::config::{Environment, NamingRule};
use crate::naming;
use crate::resource::{Resource, Value};

/// One environment's side: its settings, its resources, and plumb.toml's naming rules.
pub struct Side<'a> {
    pub env: &'a Environment,
    pub resources: &'a [Resource],
}

#[derive(Debug, Serialize)]
pub struct Comparison {
    pub environments: Vec<String>,
    /// `desired` or `live`.
    pub source: &'static str,
    pub missing: Vec<Missing>,
    pub different: Vec<Different>,
    /// Secrets that two or more environments hold with the same value (live only).
    pub same_secrets: Vec<SameSecret>,
}

/// A resource some environments have and others do not.
#[derive(Debug, Serialize)]
pub struct Missing {
    pub kind: &'static str,
    pub name: String,
    pub present: Vec<String>,
    pub missing: Vec<String>,
}

/// A field whose value differs between environments that all have the resource.
#[derive(Debug, Serialize)]
pub struct Different {
    pub kind: &'static str,
    pub name: String,
    pub field: String,
    /// Each environment's value (`null`: the field is not set there). Where every
    /// environment holds the same text, which differs only in what is environment-specific
    /// (prod's `"dev"` against dev's own name), the generic forms: `"{env}"` and `"dev"`.
    pub values: BTreeMap<String, Json>,
}

#[derive(Debug, Serialize)]
pub struct SameSecret {
    pub kind: &'static str,
    pub name: String,
    pub field: String,
    pub environments: Vec<String>,
}

impl Comparison {
    pub fn differs(&self) -> bool {
        !self.missing.is_empty() || !self.different.is_empty()
    }
}

/// A resource of one side, under its generic name.
struct Lined<'a> {
    env: &'a Environment,
    resource: &'a Resource,
}

/// Lines the sides up. `table_of` gives a kind's table (naming rules are per table).
pub fn compare(
    sides: &[Side],
    rules: &[NamingRule],
    source: &'static str,
    table_of: impl Fn(&str) -> &'static str,
) -> Comparison {
    let environments: Vec<String> = sides.iter().map(|s| s.env.name.clone()).collect();
    let mut lined: BTreeMap<(&'static str, String), Vec<Lined>> = BTreeMap::new();
    for side in sides {
        for resource in side.resources {
            let name = generic_name(resource, side.env, rules, table_of(resource.kind));
            let entry = lined.entry((resource.kind, name)).or_default();
            entry.push(Lined {
                env: side.env,
                resource,
            });
        }
    }
    let mut comparison = Comparison {
        environments: environments.clone(),
        source,
        missing: Vec::new(),
        different: Vec::new(),
        same_secrets: Vec::new(),
    };
    for ((kind, name), found) in &lined {
        let mut present: Vec<String> = found.iter().map(|l| l.env.name.clone()).collect();
        present.dedup();
        if present.len() < sides.len() {
            let missing = environments
                .iter()
                .filter(|e| !present.contains(e))
                .cloned()
                .collect();
            comparison.missing.push(Missing {
                kind,
                name: name.clone(),
                present,
                missing,
            });
            continue;
        }
        compare_fields(kind, name, found, &mut comparison);
    }
    comparison
}

/// Field by field, for a resource every environment has.
fn compare_fields(kind: &'static str, name: &str, found: &[Lined], comparison: &mut Comparison) {
    let mut fields: Vec<&str> = Vec::new();
    for lined in found {
        for (field, value) in &lined.resource.fields {
            if !value.create_only && !fields.contains(&field.as_ref()) {
                fields.push(field);
            }
        }
    }
    for field in fields {
        let values: Vec<(&Environment, Option<&Value>)> =
            found.iter().map(|l| (l.env, l.resource.get(field))).collect();
        if values.iter().any(|(_, v)| v.is_some_and(Value::is_sensitive)) {
            same_secrets(kind, name, field, &values, comparison);
            continue;
        }
        let generic: Vec<Option<Json>> = values
            .iter()
            .map(|(env, v)| v.and_then(Value::shown).map(|json| generic_value(json, env)))
            .collect();
        if generic.windows(2).all(|pair| pair[0] == pair[1]) {
            continue;
        }
        let real: Vec<Json> = values
            .iter()
            .map(|(_, v)| v.and_then(Value::shown).cloned().unwrap_or(Json::Null))
            .collect();
        // The same text in every environment, yet different: `"dev"` is dev's own name and
        // prod's mistake. The generic forms (`"{env}"` against `"dev"`) show why.
        let shown = match real.windows(2).all(|pair| pair[0] == pair[1]) {
            true => generic.into_iter().map(|g| g.unwrap_or(Json::Null)).collect(),
            false => real,
        };
        let shown = values
            .iter()
            .map(|(env, _)| env.name.clone())
            .zip(shown)
            .collect();
        comparison.different.push(Different {
            kind,
            name: name.to_string(),
            field: field.to_string(),
            values: shown,
        });
    }
}

/// Environments whose secret values for this field are equal (only secrets that were read).
fn same_secrets(
    kind: &'static str,
    name: &str,
    field: &str,
    values: &[(&Environment, Option<&Value>)],
    comparison: &mut Comparison,
) {
    let mut groups: Vec<(&Value, Vec<String>)> = Vec::new();
    for (env, value) in values {
        let Some(value @ Value::Secret(_)) = value else {
            continue;
        };
        match groups.iter_mut().find(|(v, _)| v.same_as(value)) {
            Some((_, envs)) => envs.push(env.name.clone()),
            None => groups.push((value, vec![env.name.clone()])),
        }
    }
    for (_, environments) in groups.into_iter().filter(|(_, envs)| envs.len() > 1) {
        comparison.same_secrets.push(SameSecret {
            kind,
            name: name.to_string(),
            field: field.to_string(),
            environments,
        });
    }
}

/// The name with its environment-specific parts written generically.
fn generic_name(resource: &Resource, env: &Environment, rules: &[NamingRule], table: &str) -> String {
    for rule in naming::rules_for(rules, table, env).into_iter().flatten() {
        if let Some(generic) = rule.generic(&resource.name) {
            return generic;
        }
    }
    without_env(&resource.name, env)
}

/// `text` with the environment's name, where it is a whole segment (between `/ - _ . :`, a space, or
/// the ends), written `{env}`; and its account id and region written generically.
fn without_env(text: &str, env: &Environment) -> String {
    let mut out = String::with_capacity(text.len());
    let mut segment = String::new();
    let flush = |segment: &mut String, out: &mut String| {
        if *segment == env.name {
            out.push_str("{env}");
        } else {
            out.push_str(segment);
        }
        segment.clear();
    };
    for c in text.chars() {
        if "/-_.: ".contains(c) {
            flush(&mut segment, &mut out);
            out.push(c);
        } else {
            segment.push(c);
        }
    }
    flush(&mut segment, &mut out);
    if let Some(account) = &env.account_id {
        out = out.replace(account.as_str(), "{account_id}");
    }
    out.replace(env.region.as_str(), "{region}")
}

fn generic_value(value: &Json, env: &Environment) -> Json {
    match value {
        Json::String(text) => Json::String(without_env(text, env)),
        Json::Array(items) => Json::Array(items.iter().map(|v| generic_value(v, env)).collect()),
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (without_env(k, env), generic_value(v, env)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Environment {
        let mut env: Environment =
            toml::from_str("region = \"us-east-1\"\naccount_id = \"111122223333\"").unwrap();
        env.name = name.into();
        env
    }

    /// prod holding dev's name is a difference, shown so that it can be seen: the same text
    /// twice would not say why.
    #[test]
    fn the_same_text_that_differs_is_shown_generically() {
        let (dev, prod) = (env("dev"), env("prod"));
        let pointing_at_dev = |env: &Environment| {
            use crate::kinds::ssm::parameter::{Contents, Parameter, Parameters};
            let spec = Parameter::string(Contents::Managed(Value::text("https://api.dev.example.com/")));
            let name = format!("/{}/app/url", env.name);
            let declared = crate::kinds::Declared::new(spec);
            vec![crate::kinds::contract::declared_resource(
                &Parameters,
                &name,
                declared,
            )]
        };
        let (dev_resources, prod_resources) = (pointing_at_dev(&dev), pointing_at_dev(&prod));
        let sides = [
            Side {
                env: &dev,
                resources: &dev_resources,
            },
            Side {
                env: &prod,
                resources: &prod_resources,
            },
        ];
        let comparison = compare(&sides, &[], "desired", |_| "parameters");
        let value = comparison.different.iter().find(|d| d.field == "value").unwrap();
        assert_eq!(value.values["dev"], "https://api.{env}.example.com/");
        assert_eq!(value.values["prod"], "https://api.dev.example.com/");
    }

    #[test]
    fn the_environment_s_name_is_taken_out_only_as_a_whole_segment() {
        let dev = env("dev");
        assert_eq!(without_env("/dev/app/devices", &dev), "/{env}/app/devices");
        assert_eq!(without_env("app-dev-cpu", &dev), "app-{env}-cpu");
        assert_eq!(
            without_env("arn:aws:sns:us-east-1:111122223333:app-dev-alerts", &dev),
            "arn:aws:sns:{region}:{account_id}:app-{env}-alerts"
        );
    }
}
