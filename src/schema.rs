//! JSON Schemas of desired/'s files, for editors (`plumb schema`). They are generated from the
//! types the loader reads (each kind's `Declaration`, `config::Environment`, the kinds' scope
//! rules), so an editor and `plumb validate` agree on which fields exist; `validate` still
//! checks what a schema cannot say (AWS's rules, references, scope).
//!
//! Draft 7: the draft editors' TOML tooling (taplo, Even Better TOML) reads.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::cli::SchemaOf;
use crate::config::Environment;
use crate::kinds;
use crate::scope::Shape;

/// The schema, pretty-printed.
pub fn render(of: SchemaOf) -> String {
    let schema = match of {
        SchemaOf::Resources => resources(),
        SchemaOf::Config => config(),
    };
    let mut schema = schema;
    join_lines(&mut schema);
    if of == SchemaOf::Resources {
        allow_placeholders(&mut schema);
    }
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

/// A string that is exactly one placeholder (`"${vars.cpu}"`) stands for a value of any type.
const PLACEHOLDER: &str = r"^\$\{(env|region|account_id|vars\.[A-Za-z0-9_-]+)\}$";

/// Lets every field that is not free text also be written as one placeholder, which the
/// loader replaces by the variable's value (of the variable's type) before checking it.
fn allow_placeholders(value: &mut Value) {
    let Value::Object(map) = value else { return };
    for key in ["properties", "patternProperties"] {
        if let Some(Value::Object(properties)) = map.get_mut(key) {
            for property in properties.values_mut() {
                allow_placeholders(property);
                or_placeholder(property);
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = map.get_mut(key) {
            allow_placeholders(inner);
            if key == "items" {
                or_placeholder(inner);
            }
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = map.get_mut(key) {
            options.iter_mut().for_each(allow_placeholders);
        }
    }
}

/// `schema`, or a string that is one placeholder. Written as if/then/else rather than
/// anyOf, so that a wrong value still gets the field's own message ("not one of ...").
/// Tables are left alone: a placeholder stands for a value, not for a table's fields.
fn or_placeholder(schema: &mut Value) {
    let types = schema.get("type").cloned();
    let is = |t: &str| types == Some(json!(t)) || types == Some(json!([t, "null"]));
    let free_text = is("string") && schema.get("enum").is_none() && schema.get("pattern").is_none();
    if free_text || is("object") || !schema.is_object() {
        return;
    }
    let description = schema.as_object_mut().and_then(|m| m.remove("description"));
    let original = std::mem::take(schema);
    let mut wrapped = json!({
        "if": { "type": "string", "pattern": PLACEHOLDER },
        "then": { "type": "string" },
        "else": original,
    });
    if let (Some(description), Some(map)) = (description, wrapped.as_object_mut()) {
        map.insert("description".into(), description);
    }
    *schema = wrapped;
}

/// Descriptions come from doc comments, wrapped at 100 columns; an editor wraps them itself.
fn join_lines(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match inner {
                    Value::String(text) if key == "description" => *text = text.replace('\n', " "),
                    other => join_lines(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(join_lines),
        _ => {}
    }
}

/// Each declaration's schema written out where it is used: a reader of the schema (or of an
/// editor's hover text) sees a table's fields in place, not `#/definitions/Declaration3`.
fn generator() -> SchemaGenerator {
    SchemaSettings::draft07()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator()
}

/// An environment's files: any mix of the kinds' tables, each a table of declarations by name.
pub fn resources() -> Value {
    let mut generator = generator();
    let mut tables = Map::new();
    for kind in kinds::registry() {
        let declaration = kind.declaration_schema(&mut generator);
        let table = json!({
            "type": "object",
            "description": format!("{}, by name: [{}.\"NAME\"]", kind.table(), kind.table()),
            "additionalProperties": declaration,
        });
        tables.insert(kind.table().to_string(), table);
    }
    document(
        "plumb: one environment's desired state (any *.toml under desired/<env>/)",
        json!({"type": "object", "properties": tables, "additionalProperties": false}),
        generator,
    )
}

/// plumb.toml: `[environments.NAME]` tables, with the scope settings the kinds declare.
pub fn config() -> Value {
    let mut generator = generator();
    let mut environment = Environment::json_schema(&mut generator).to_value();
    if let Some(properties) = environment.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert("scope".into(), scope());
    }
    let shared = crate::config::Shared::json_schema(&mut generator).to_value();
    let tables: Vec<&str> = kinds::registry().iter().map(|k| k.table()).collect();
    let naming: Map<String, Value> = tables
        .iter()
        .map(|table| {
            let rule = json!({
                "type": "string",
                "description": format!("The names {table} must have: text with {{env}}, {{vars.NAME}}, * (no /) and ** (anything)."),
            });
            (table.to_string(), rule)
        })
        .collect();
    let root = json!({
        "type": "object",
        "properties": {
            "environments": {
                "type": "object",
                "description": "The environments plumb manages, by name; each has a folder of that name next to plumb.toml.",
                "additionalProperties": environment,
            },
            "shared": shared,
            "naming": {
                "type": "object",
                "description": "Naming rules, one per table: validate reports declared names that break them, plan and drift live ones.",
                "properties": naming,
                "additionalProperties": false,
            },
        },
        "additionalProperties": false,
    });
    document("plumb: desired/plumb.toml", root, generator)
}

/// `[environments.NAME.scope]`: one setting per scope rule, and `whole_service`.
fn scope() -> Value {
    let mut settings = Map::new();
    for rule in kinds::scope_rules() {
        let names = format!("characters allowed: {}", rule.allowed);
        let setting = match rule.shape {
            Shape::IamPath => json!({
                "type": "string",
                "description": format!("The IAM path whose objects plumb owns, e.g. \"/team/\" ({names})."),
            }),
            Shape::Paths => json!({
                "type": "array", "items": {"type": "string"},
                "description": format!("SSM hierarchies plumb owns, matched segment by segment, e.g. [\"/dev/app/\"] ({names})."),
            }),
            Shape::Prefixes => json!({
                "type": "array", "items": {"type": "string"},
                "description": format!("Name prefixes plumb owns, e.g. [\"app-dev-\"] ({names})."),
            }),
        };
        settings.insert(rule.setting.to_string(), setting);
    }
    settings.insert(
        "whole_service".into(),
        json!({
            "type": "array", "items": {"type": "string"},
            "description": "Settings allowed to cover a whole service (\"/\" or an empty prefix): everything of that kind in the account is then plumb's to prune.",
        }),
    );
    json!({
        "type": "object",
        "description": "What plumb owns in this environment: live objects outside it are never read, changed or deleted. A setting left out owns nothing.",
        "properties": settings,
        "additionalProperties": false,
    })
}

fn document(title: &str, root: Value, mut generator: SchemaGenerator) -> Value {
    let mut document = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": title,
    });
    if let (Some(target), Some(root)) = (document.as_object_mut(), root.as_object()) {
        target.extend(root.clone());
        let definitions = generator.take_definitions(true);
        if !definitions.is_empty() {
            target.insert("definitions".into(), Value::Object(definitions));
        }
    }
    document
}
