//! Placeholders in desired/'s files: `${env}`, `${region}`, `${account_id}` and
//! `${vars.NAME}` (from `[environments.NAME.vars]`), in resource names and string values.
//!
//! They are replaced in the parsed TOML, before any kind reads it, so kinds, plans and
//! diagnostics only ever see resolved values; spans stay those of the written text, so a
//! problem still points at the line that holds the placeholder. A string that is exactly one
//! placeholder takes the variable's TOML type (`threshold = "${vars.cpu}"` is a number when
//! `cpu = 80`); inside a longer string a variable is written as text. `$${` is a literal `${`.
//! `${...}` with a `:` in it (`${aws:username}`), `${*}`, `${?}` and `${$}` are IAM policy
//! variables and stay as written.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Whether a file's text may hold a placeholder (most do not: they are read as written).
pub fn may_hold_placeholders(text: &str) -> bool {
    text.contains("${")
}

use crate::config::Environment;
use crate::source::{Diagnostic, SourceFile};

/// What placeholders resolve to in one environment.
pub struct Placeholders<'a> {
    env: &'a Environment,
    /// The TOML text of each variable that is not a string, parsed where a string is exactly
    /// that placeholder (so the parsed value borrows from here).
    typed: BTreeMap<String, String>,
    /// Bytes the placeholders have added so far: a file may not grow past
    /// [`MAX_GROWTH`] (a large variable used many times could exhaust memory).
    grown: Cell<usize>,
}

/// How much filling in placeholders may add to one environment's files, in all.
pub const MAX_GROWTH: usize = crate::source::MAX_TOML_BYTES as usize;

/// A problem with a placeholder, at an offset of the string it is in.
struct Problem {
    message: String,
}

impl<'a> Placeholders<'a> {
    pub fn of(env: &'a Environment) -> Self {
        let typed = env
            .vars
            .iter()
            .filter(|(_, value)| !value.is_str())
            .map(|(name, value)| (format!("vars.{name}"), value.to_string()))
            .collect();
        Placeholders {
            env,
            typed,
            grown: Cell::new(0),
        }
    }

    /// `text` with its placeholders replaced, as in a string value; `None` when one cannot be
    /// (an unknown variable, say). For readers that report nothing, such as `import`.
    pub fn resolved(&self, text: &str) -> Option<String> {
        match self.resolve_text(text) {
            Ok(resolved) => Some(resolved.unwrap_or_else(|| text.to_string())),
            Err(_) => None,
        }
    }

    /// A table key (a resource's name, or a key inside its value) with its placeholders
    /// replaced; problems are added to `problems`.
    pub fn resolve_key<'s>(
        &'s self,
        key: Spanned<Cow<'s, str>>,
        source: &SourceFile,
        problems: &mut Vec<Diagnostic>,
    ) -> Spanned<Cow<'s, str>> {
        let span = key.span();
        match self.resolve_text(key.get_ref()) {
            Ok(Some(text)) => Spanned::new(span, Cow::Owned(text)),
            Ok(None) => key,
            Err(problem) => {
                problems.push(self.diagnostic(source, span.start, problem));
                key
            }
        }
    }

    fn resolve_table<'s>(
        &'s self,
        table: DeTable<'s>,
        source: &SourceFile,
        problems: &mut Vec<Diagnostic>,
    ) -> DeTable<'s> {
        let mut out = DeTable::new();
        for (key, value) in table {
            let written = key.span();
            let key = self.resolve_key(key, source, problems);
            if let Some((first, _)) = out.get_key_value(key.get_ref().as_ref()) {
                let message = format!(
                    "key `{}` is written twice once placeholders are filled in (also at {})",
                    key.get_ref(),
                    source.origin(first.span().start)
                );
                problems.push(Diagnostic::at(source.origin(written.start), message));
                continue;
            }
            out.insert(key, self.resolve_value(value, source, problems));
        }
        out
    }

    /// A value with its placeholders replaced; problems are added to `problems`.
    pub fn resolve_value<'s>(
        &'s self,
        value: Spanned<DeValue<'s>>,
        source: &SourceFile,
        problems: &mut Vec<Diagnostic>,
    ) -> Spanned<DeValue<'s>> {
        let span = value.span();
        let resolved = match value.into_inner() {
            DeValue::String(text) => match self.resolve_string(&text, span.clone()) {
                Ok(Some(value)) => value,
                Ok(None) => DeValue::String(text),
                Err(problem) => {
                    problems.push(self.diagnostic(source, span.start, problem));
                    DeValue::String(text)
                }
            },
            DeValue::Array(items) => {
                let mut out = toml::de::DeArray::new();
                for item in items {
                    out.push(self.resolve_value(item, source, problems));
                }
                DeValue::Array(out)
            }
            DeValue::Table(table) => DeValue::Table(self.resolve_table(table, source, problems)),
            other => other,
        };
        Spanned::new(span, resolved)
    }

    /// A string value: `None` when it holds no placeholder; a typed value when it is exactly
    /// one placeholder naming a variable that is not a string.
    fn resolve_string<'s>(&'s self, text: &str, at: Range<usize>) -> Result<Option<DeValue<'s>>, Problem> {
        if let Some(name) = whole_placeholder(text) {
            self.value_of(name)?;
            if let Some(typed) = self.typed.get(name)
                && let Ok(value) = DeValue::parse(typed)
            {
                self.grow(typed.len())?;
                // Parsed from the variable's own text: every part of it is placed at the
                // placeholder, never at offsets of that text.
                return Ok(Some(respan(value.into_inner(), &at)));
            }
        }
        Ok(self
            .resolve_text(text)?
            .map(|text| DeValue::String(Cow::Owned(text))))
    }

    /// A string with every placeholder written as text; `None` when there is none.
    fn resolve_text(&self, text: &str) -> Result<Option<String>, Problem> {
        if !text.contains("${") {
            return Ok(None);
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            if rest[..at].ends_with('$') {
                // `$${`: a literal `${`.
                out.push_str(&rest[..at - 1]);
                out.push_str("${");
                rest = &rest[at + 2..];
                continue;
            }
            out.push_str(&rest[..at]);
            let Some(end) = rest[at..].find('}') else {
                return Err(Problem {
                    message: format!(
                        "`{}` has no closing `}}` (write `$${{` for a literal `${{`)",
                        &rest[at..]
                    ),
                });
            };
            let name = &rest[at + 2..at + end];
            if !name.contains(['$', '{']) && is_foreign(name) {
                // Not plumb's: an IAM policy variable (`${aws:username}`), kept as written.
                out.push_str(&rest[at..at + end + 1]);
                rest = &rest[at + end + 1..];
                continue;
            }
            if let Some(cut) = name.find(|c: char| c.is_whitespace() || c == '$' || c == '{') {
                // The `}` found closes something later: this one is never closed.
                return Err(Problem {
                    message: format!(
                        "`${{{}` has no closing `}}` (write `$${{` for a literal `${{`)",
                        &name[..cut]
                    ),
                });
            }
            let text = as_text(name, &self.value_of(name)?)?;
            self.grow(text.len())?;
            out.push_str(&text);
            rest = &rest[at + end + 1..];
        }
        out.push_str(rest);
        Ok(Some(out))
    }

    fn grow(&self, bytes: usize) -> Result<(), Problem> {
        let grown = self.grown.get() + bytes;
        self.grown.set(grown);
        if grown > MAX_GROWTH {
            return Err(Problem {
                message: format!(
                    "placeholders add more than {MAX_GROWTH} bytes to environment `{}`'s files: \
                     use large values once, not many times",
                    self.env.name
                ),
            });
        }
        Ok(())
    }

    fn value_of(&self, name: &str) -> Result<toml::Value, Problem> {
        let env = self.env;
        match name {
            "env" => Ok(toml::Value::String(env.name.clone())),
            "region" => Ok(toml::Value::String(env.region.clone())),
            "account_id" => env.account_id.clone().map(toml::Value::String).ok_or_else(|| Problem {
                message: format!(
                    "`${{account_id}}`: environment `{}` sets no `account_id` in plumb.toml",
                    env.name
                ),
            }),
            _ => match name.strip_prefix("vars.") {
                Some(var) => env.vars.get(var).cloned().ok_or_else(|| {
                    let hint = crate::suggest::closest(var, env.vars.keys().map(String::as_str))
                        .map(|v| format!("; did you mean `{v}`?"))
                        .unwrap_or_default();
                    Problem {
                        message: format!(
                            "unknown variable `${{vars.{var}}}` in environment `{}` (set it in [environments.{}.vars]{hint})",
                            env.name, env.name
                        ),
                    }
                }),
                None => Err(Problem {
                    message: format!(
                        "unknown placeholder `${{{name}}}`: use ${{env}}, ${{region}}, ${{account_id}} or ${{vars.NAME}} (`$${{` is a literal `${{`)"
                    ),
                }),
            },
        }
    }

    fn diagnostic(&self, source: &SourceFile, offset: usize, problem: Problem) -> Diagnostic {
        Diagnostic::at(source.origin(offset), problem.message)
    }
}

/// The placeholder a string consists of, if it is exactly one of plumb's.
fn whole_placeholder(text: &str) -> Option<&str> {
    let name = text.strip_prefix("${")?.strip_suffix('}')?;
    (!name.contains(['{', '}', '$']) && !is_foreign(name)).then_some(name)
}

/// `${...}` that belongs to someone else and stays as written: IAM policy variables
/// (`${aws:username}`, `${saml:sub}`, `${*}`, `${?}`, `${$}`). plumb's own names have no `:`.
fn is_foreign(name: &str) -> bool {
    name.contains(':') || matches!(name, "*" | "?" | "$")
}

/// A parsed value with every span set to `at` (see `resolve_string`).
fn respan<'s>(value: DeValue<'s>, at: &Range<usize>) -> DeValue<'s> {
    match value {
        DeValue::Array(items) => {
            let mut out = toml::de::DeArray::new();
            for item in items {
                out.push(Spanned::new(at.clone(), respan(item.into_inner(), at)));
            }
            DeValue::Array(out)
        }
        DeValue::Table(table) => {
            let mut out = DeTable::new();
            for (key, item) in table {
                let key = Spanned::new(at.clone(), key.into_inner());
                out.insert(key, Spanned::new(at.clone(), respan(item.into_inner(), at)));
            }
            DeValue::Table(out)
        }
        other => other,
    }
}

/// A variable written inside a longer string.
fn as_text(name: &str, value: &toml::Value) -> Result<String, Problem> {
    match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(_)
        | toml::Value::Float(_)
        | toml::Value::Boolean(_)
        | toml::Value::Datetime(_) => Ok(value.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => Err(Problem {
            message: format!(
                "`${{{name}}}` is a {} and can only be a whole value (`field = \"${{{name}}}\"`), not part of a string",
                value.type_str()
            ),
        }),
    }
}
