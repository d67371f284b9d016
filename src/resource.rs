//! The kind-neutral shape of a resource, desired or live.
//!
//! Each kind turns its typed spec (and what AWS returns) into a [`Resource`]: a name plus a
//! map of fields, each already normalised so that two values mean the same thing exactly when
//! they compare equal (sets sorted, decimals canonical, JSON parsed). The plan engine diffs
//! these maps without knowing any kind.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde_json::Value as Json;

use crate::load::Origin;

/// A value that must never be shown: a SecureString, or anything read from `value_from_env`.
///
/// It has no `Display` and no `Serialize`, and `Debug` prints a placeholder, so the only way
/// to reach the text is [`Secret::expose`], which is called where a value is sent to AWS or
/// compared.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value and remembers its text for [`mask`], so that no byte plumb writes
    /// can carry it, whatever path it took (an AWS error echoing a request, say).
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        remember(&value);
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Secrets shorter than this are not masked in free text: masking `on` or `1` would garble
/// every line. plumb's own renderers never print any secret, whatever its length.
pub const MIN_MASKED_LEN: usize = 4;

/// The masked forms of every secret read in this run, longest first.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn remember(value: &str) {
    // The text as it is, each of its lines, and the escaped forms in which an error message
    // or a JSON body would quote it.
    let mut forms: Vec<String> = vec![value.to_string()];
    forms.extend(value.lines().map(str::to_string));
    // JSON-escaped once (a request body in an error) and twice (that error inside JSON).
    let once = json_escaped(value);
    forms.push(json_escaped(&once));
    forms.push(once);
    forms.push(percent_encode(value));
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    for form in forms {
        if form.chars().count() >= MIN_MASKED_LEN && !seen.contains(&form) {
            seen.push(form);
        }
    }
    seen.sort_by_key(|f| std::cmp::Reverse(f.len()));
}

fn json_escaped(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted[1..quoted.len().saturating_sub(1).max(1)].to_string()
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `text` with every secret read in this run replaced by `***`, as GitHub Actions masks its
/// secrets. Every byte plumb writes (terminal, plan file, report, comment) passes through it.
pub fn mask(text: &str) -> String {
    let seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = text.to_string();
    for secret in seen.iter() {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Plain(Json),
    Secret(Secret),
    /// A value from the environment that this run does not read (`validate`, and
    /// `plan --without-secrets`, whose job holds no secrets): shown as sensitive, never
    /// compared, never sent.
    Unread,
}

impl Value {
    pub fn text(s: impl Into<String>) -> Self {
        Value::Plain(Json::String(s.into()))
    }

    pub fn null() -> Self {
        Value::Plain(Json::Null)
    }

    pub fn is_sensitive(&self) -> bool {
        matches!(self, Value::Secret(_) | Value::Unread)
    }

    /// The value as it may be shown, or `None` when it is secret.
    pub fn shown(&self) -> Option<&Json> {
        match self {
            Value::Plain(json) => Some(json),
            Value::Secret(_) | Value::Unread => None,
        }
    }

    /// The underlying text, secret or not; for kinds building AWS requests.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Plain(Json::String(s)) => Some(s),
            Value::Secret(secret) => Some(secret.expose()),
            Value::Plain(_) | Value::Unread => None,
        }
    }

    /// The text AWS stores for this value: a string as it is, secret or not, and a list of
    /// strings joined by commas (as SSM stores a StringList). `None` for anything else.
    pub fn stored_text(&self) -> Option<String> {
        match self {
            Value::Plain(Json::Array(items)) => {
                let texts: Option<Vec<&str>> = items.iter().map(Json::as_str).collect();
                texts.map(|t| t.join(","))
            }
            other => other.as_str().map(str::to_string),
        }
    }

    /// Two values mean the same thing. A secret equals a plain value with the same text:
    /// a String parameter whose desired value comes from the environment is compared with
    /// the plain value AWS returns. A value this run did not read equals anything: it is not
    /// compared.
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Unread, _) | (_, Value::Unread) => true,
            (Value::Plain(a), Value::Plain(b)) => a == b,
            (Value::Secret(a), Value::Secret(b)) => a == b,
            (Value::Secret(s), Value::Plain(Json::String(p)))
            | (Value::Plain(Json::String(p)), Value::Secret(s)) => s.expose() == p,
            // A StringList's items are stored joined by commas; from the environment the
            // value is that text.
            (Value::Secret(s), list @ Value::Plain(Json::Array(_)))
            | (list @ Value::Plain(Json::Array(_)), Value::Secret(s)) => {
                list.stored_text().is_some_and(|t| t == s.expose())
            }
            _ => false,
        }
    }
}

/// A field of a resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub value: Value,
    /// Sent when the resource is created, never compared afterwards
    /// (`initial_value_from_env`: plumb seeds the value and then leaves it to people).
    pub create_only: bool,
}

/// A field's name: a kind's own names are `&'static str`, so the 200,000 resources of a
/// 100,000-parameter plan do not each carry a copy of them.
pub type FieldName = std::borrow::Cow<'static, str>;

/// A resource of some kind, as declared in `desired/` or as read from AWS.
#[derive(Clone, Debug, Default)]
pub struct Resource {
    /// The kind's name, e.g. `parameter`.
    pub kind: &'static str,
    pub name: String,
    /// Only the fields plumb manages for this resource, in the order the kind shows them. A
    /// field the desired side leaves out (tags not declared, say) is not compared.
    pub fields: Vec<(FieldName, Field)>,
    /// `protect = true` in the resource's table.
    pub protect: bool,
    /// Where it is declared (desired side only).
    pub origin: Option<Origin>,
    /// What a plan computed against this live object depends on (e.g. `version 3`); a
    /// different value at apply time makes a saved plan stale.
    pub version: Option<String>,
    /// What few resources have, boxed so that the many without it stay small (a
    /// 100,000-parameter plan holds 200,000 resources).
    pub rare: Option<Box<Rare>>,
    /// The kind's typed spec these fields were made from: what apply builds AWS requests
    /// from, so that nothing is decoded back from the fields.
    pub payload: Option<Payload>,
}

/// The parts of a [`Resource`] that few resources have.
#[derive(Clone, Debug, Default)]
pub struct Rare {
    /// Why a declared resource that does not exist yet must not be created now
    /// (e.g. its `initial_value_from_env` variable is not set). Shown as a note.
    pub skip_create: Option<String>,
    /// Other declared resources this one needs (a user's groups); the loader checks that they
    /// are declared.
    pub references: Vec<Reference>,
    /// What deleting this live object also deletes (a user's access keys), for the plan.
    pub delete_note: Option<String>,
    /// The live object this declaration takes over under a new name (`renamed_from`, for
    /// kinds AWS cannot rename): planned as one replacement, the old one deleted.
    pub renamed_from: Option<String>,
}

impl Rare {
    fn is_empty(&self) -> bool {
        self.skip_create.is_none()
            && self.references.is_empty()
            && self.delete_note.is_none()
            && self.renamed_from.is_none()
    }
}

/// A kind's typed spec behind a [`Resource`] (see `kinds::contract`).
#[derive(Clone)]
pub struct Payload(Arc<dyn Any + Send + Sync>);

impl Payload {
    pub fn new<T: Any + Send + Sync>(spec: T) -> Self {
        Payload(Arc::new(spec))
    }

    /// The spec, when it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Payload(..)")
    }
}

/// A declared resource's reference to another declared resource.
#[derive(Clone, Debug)]
pub struct Reference {
    pub kind: &'static str,
    pub name: String,
    /// The referring field, for the message.
    pub field: &'static str,
    /// What to do when the referenced resource is not declared.
    pub hint: &'static str,
}

impl Resource {
    pub fn new(kind: &'static str, name: impl Into<String>) -> Self {
        Resource {
            kind,
            name: name.into(),
            ..Resource::default()
        }
    }

    /// Sets the rare parts; none at all leaves the resource small.
    pub fn set_rare(&mut self, rare: Rare) {
        self.rare = (!rare.is_empty()).then(|| Box::new(rare));
    }

    pub fn skip_create(&self) -> Option<&str> {
        self.rare.as_ref()?.skip_create.as_deref()
    }

    pub fn references(&self) -> &[Reference] {
        self.rare.as_ref().map_or(&[], |rare| &rare.references)
    }

    pub fn delete_note(&self) -> Option<&str> {
        self.rare.as_ref()?.delete_note.as_deref()
    }

    pub fn renamed_from(&self) -> Option<&str> {
        self.rare.as_ref()?.renamed_from.as_deref()
    }

    /// Replaces the value of a field it has (the generic code hides values that the base
    /// revision declares secret; kinds set fields through their specs).
    pub fn set(&mut self, field: &str, value: Value) {
        if let Some((_, existing)) = self.fields.iter_mut().find(|(n, _)| n == field) {
            existing.value = value;
        }
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(n, _)| n == field)
            .map(|(_, f)| &f.value)
    }
}
