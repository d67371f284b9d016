//! What the loader hands a kind: one declaration ([`Entry`]) with the places it was written,
//! and the [`Diagnostic`]s that point back into the files. Knows nothing of the kinds, so they
//! can depend on it and the loader on both.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::DeValue;

use crate::config::Environment;
use crate::suggest;

/// A place in a file, 1-based. The file's path is shared by every origin in it (each of
/// 100,000 declarations has one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: std::sync::Arc<Path>,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub origin: Option<Origin>,
    pub message: String,
}

impl Diagnostic {
    pub fn at(origin: Origin, message: impl Into<String>) -> Self {
        Diagnostic {
            origin: Some(origin),
            message: message.into(),
        }
    }

    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic::at(
            Origin {
                file: file.into(),
                line: 1,
                column: 1,
            },
            message,
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(origin) => write!(f, "{origin}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every problem found in `desired/`. Displayed one per line.
#[derive(Debug, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// A TOML file's text, for turning byte offsets into lines and columns.
pub struct SourceFile {
    pub path: std::sync::Arc<Path>,
    pub text: String,
    /// Byte offset where each line starts: every resource gets an origin, so finding a line
    /// must not rescan the file (10,000 parameters in one file made that quadratic).
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Reads a TOML file of `desired/`: a regular file (not a symlink, a FIFO or a device) of at
    /// most [`MAX_TOML_BYTES`].
    pub fn read(path: &Path) -> Result<SourceFile, Diagnostic> {
        use std::io::Read as _;
        let fail = |message: String| Diagnostic::file(path, message);
        let metadata = std::fs::symlink_metadata(path).map_err(|e| fail(format!("cannot read file: {e}")))?;
        if metadata.file_type().is_symlink() {
            return Err(fail(NO_SYMLINKS.to_string()));
        }
        if !metadata.is_file() {
            return Err(fail("is not a regular file".to_string()));
        }
        if metadata.len() > MAX_TOML_BYTES {
            return Err(fail(format!(
                "is {} bytes; plumb reads at most {MAX_TOML_BYTES}",
                metadata.len()
            )));
        }
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_TOML_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| fail(format!("cannot read file as UTF-8 text: {e}")))?;
        if text.len() as u64 > MAX_TOML_BYTES {
            return Err(fail(format!("is over {MAX_TOML_BYTES} bytes")));
        }
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Ok(SourceFile {
            path: path.into(),
            text,
            line_starts,
        })
    }

    /// The bare key assigned on the line where `offset` is, before it (`period = "300"` at
    /// the value gives `period`).
    fn key_before(&self, offset: usize) -> Option<&str> {
        let offset = offset.min(self.text.len());
        let line_start = self.line_starts[self.line_starts.partition_point(|&s| s <= offset) - 1];
        let before = self.text.get(line_start..offset)?;
        let (key, _) = before.split_once('=')?;
        let key = key.trim();
        let bare = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        bare.then_some(key)
    }

    pub fn origin(&self, offset: usize) -> Origin {
        let mut offset = offset.min(self.text.len());
        // Never inside a character, whatever computed the offset.
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        Origin {
            file: self.path.clone(),
            line,
            column: self.text[line_start..offset].chars().count() + 1,
        }
    }

    pub(crate) fn toml_error(&self, error: &toml::de::Error, context: Option<&str>) -> Diagnostic {
        let message = suggest::readable(&suggest::unknown_field_message(error.message().trim()));
        // A wrong value's message names no field: the key written before it on its line does.
        let key = error.span().and_then(|span| self.key_before(span.start));
        let message = match (context, key) {
            (Some(context), Some(key)) if !message.contains("field `") => {
                format!("{context}.{key}: {message}")
            }
            (Some(context), _) => format!("{context}: {message}"),
            (None, _) => message,
        };
        match error.span() {
            Some(span) => Diagnostic::at(self.origin(span.start), message),
            None => Diagnostic::file(&self.path, message),
        }
    }
}

/// The largest TOML file plumb reads (10,000 parameters take about 1 MB).
pub const MAX_TOML_BYTES: u64 = 16 * 1024 * 1024;

/// Why plumb follows no symlink in desired/.
pub(crate) const NO_SYMLINKS: &str = "is a symlink: plumb follows no symlinks in desired/ (what lies behind one could \
     be outside it, and a change there is invisible to review and to --base)";

/// `path` with `.` and `..` resolved without touching the file system.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if out.file_name().is_some() {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Whether `path` or a folder on the way to it from `from` is a symlink.
fn symlink_on_the_way(from: &Path, path: &Path) -> bool {
    let Ok(rest) = path.strip_prefix(from) else {
        return true;
    };
    let mut at = from.to_path_buf();
    rest.components().any(|part| {
        at.push(part.as_os_str());
        std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink())
    })
}

/// Whether `value_from_env` variables are read (plan, apply) or only named (validate,
/// which runs offline and without secrets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvVars {
    Read,
    Skip,
    /// Fixed values instead of the process environment (tests, fixtures).
    Given(&'static [(&'static str, &'static str)]),
}

/// What looking up an environment variable gave.
pub enum EnvLookup {
    Value(String),
    Unset,
    /// Set, but not UTF-8: AWS stores text.
    NotText,
    NotRead,
}

/// One entry of a resource table, handed to its kind to parse.
pub struct Entry<'a> {
    pub table: &'static str,
    pub name: &'a str,
    pub value: &'a Spanned<DeValue<'a>>,
    pub env: &'a Environment,
    name_span: Range<usize>,
    source: &'a SourceFile,
    env_vars: EnvVars,
    /// The `desired/` folder: files a declaration points at must lie inside it.
    root: &'a Path,
}

impl<'a> Entry<'a> {
    /// The entry `name` of `table`, whose value is `value`, written in `source`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        table: &'static str,
        name: &'a Spanned<std::borrow::Cow<'a, str>>,
        value: &'a Spanned<DeValue<'a>>,
        env: &'a Environment,
        source: &'a SourceFile,
        env_vars: EnvVars,
        root: &'a Path,
    ) -> Self {
        Entry {
            table,
            name: name.get_ref(),
            value,
            env,
            name_span: name.span(),
            source,
            env_vars,
            root,
        }
    }
}

impl Entry<'_> {
    /// `parameters."/dev/x"`, as the user would write it.
    pub fn path(&self) -> String {
        format!("{}.{}", self.table, toml_key(self.name))
    }

    /// Where the entry's name is written.
    pub fn origin(&self) -> Origin {
        self.source.origin(self.name_span.start)
    }

    /// Where `field` is written, or the entry's name when the field is absent.
    pub fn field_origin(&self, field: &str) -> Origin {
        let span = match self.value.get_ref() {
            DeValue::Table(table) => table
                .iter()
                .find(|(key, _)| key.get_ref() == field)
                .map(|(key, _)| key.span()),
            _ => None,
        };
        self.source.origin(span.unwrap_or(self.name_span.clone()).start)
    }

    /// A problem with `field` of this entry (or with the entry as a whole).
    pub fn error(&self, field: Option<&str>, message: impl fmt::Display) -> Diagnostic {
        match field {
            Some(field) => Diagnostic::at(
                self.field_origin(field),
                format!("{}.{field}: {message}", self.path()),
            ),
            None => Diagnostic::at(self.origin(), format!("{}: {message}", self.path())),
        }
    }

    /// The entry as the kind's typed spec; unknown keys and wrong types are diagnostics
    /// pointing at the offending key or value.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Diagnostic> {
        T::deserialize(self.value.clone().into_deserializer())
            .map_err(|e| self.source.toml_error(&e, Some(&self.path())))
    }

    /// A path written in this entry, relative to the TOML file that holds it.
    pub fn relative_path(&self, path: &str) -> PathBuf {
        let dir = self.source.path.parent().unwrap_or(Path::new("."));
        dir.join(path)
    }

    /// The JSON document in the file `path` (relative to the TOML file) names, for `field`.
    /// The file must lie, through no symlink, in the environment's own folder, be a regular file of at
    /// most `max_bytes`, hold UTF-8 JSON nested at most [`MAX_NESTING`] deep. Its content
    /// ends up in plans and so in PR comments: nothing else may be read.
    pub fn read_json_file(
        &self,
        field: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<serde_json::Value, Diagnostic> {
        let text = self.read_file(field, path, max_bytes)?;
        let shown = self.relative_path(path);
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| self.error(Some(field), format!("`{}` is not JSON: {e}", shown.display())))?;
        if json_depth(&json) > MAX_NESTING {
            let message = format!("`{}` nests more than {MAX_NESTING} levels deep", shown.display());
            return Err(self.error(Some(field), message));
        }
        Ok(json)
    }

    fn read_file(&self, field: &str, path: &str, max_bytes: u64) -> Result<String, Diagnostic> {
        use std::io::Read as _;
        let fail = |message: String| self.error(Some(field), message);
        // A shared declaration's files live in shared/, an environment's in its own folder.
        let shared = lexical(&self.root.join(crate::config::SHARED_FOLDER));
        let (env_folder, whose) = match lexical(&self.source.path).starts_with(&shared) {
            true => (shared, "shared/ (for a shared declaration)"),
            false => (
                lexical(&self.root.join(&self.env.name)),
                "the environment's own folder",
            ),
        };
        if Path::new(path).is_absolute() {
            return Err(fail(format!(
                "`{path}` must be a path relative to the TOML file, inside `{}`",
                env_folder.display()
            )));
        }
        // Inside the environment's own folder (or shared/), so that --base sees a change to it
        // as a change to this environment; and through no symlink, whose target could be
        // anywhere.
        let full = lexical(&self.relative_path(path));
        if !full.starts_with(&env_folder) {
            return Err(fail(format!(
                "`{path}` resolves to `{}`, outside `{}`: only files in {whose} can be referenced",
                full.display(),
                env_folder.display()
            )));
        }
        if symlink_on_the_way(&env_folder, &full) {
            return Err(fail(format!("`{path}` {NO_SYMLINKS}")));
        }
        let resolved = full;
        let metadata =
            std::fs::metadata(&resolved).map_err(|e| fail(format!("cannot read `{path}`: {e}")))?;
        if !metadata.is_file() {
            return Err(fail(format!("`{path}` is not a regular file")));
        }
        if metadata.len() > max_bytes {
            return Err(fail(format!(
                "`{path}` is {} bytes; at most {max_bytes} are accepted here",
                metadata.len()
            )));
        }
        let mut text = String::new();
        std::fs::File::open(&resolved)
            .and_then(|f| f.take(max_bytes + 1).read_to_string(&mut text))
            .map_err(|e| fail(format!("cannot read `{path}` as UTF-8 text: {e}")))?;
        if text.len() as u64 > max_bytes {
            return Err(fail(format!("`{path}` is over {max_bytes} bytes")));
        }
        Ok(text)
    }

    pub fn env_var(&self, name: &str) -> EnvLookup {
        match self.env_vars {
            EnvVars::Skip => EnvLookup::NotRead,
            EnvVars::Read => match std::env::var(name) {
                Ok(value) => EnvLookup::Value(value),
                Err(std::env::VarError::NotUnicode(_)) => EnvLookup::NotText,
                Err(std::env::VarError::NotPresent) => EnvLookup::Unset,
            },
            EnvVars::Given(values) => match values.iter().find(|(n, _)| *n == name) {
                Some((_, value)) => EnvLookup::Value(value.to_string()),
                None => EnvLookup::Unset,
            },
        }
    }
}

/// Rules for every value, whatever its table: numbers are finite (AWS takes no NaN or
/// infinity, and JSON cannot carry them), and nesting stops at [`MAX_NESTING`].
pub(crate) fn check_values(
    source: &SourceFile,
    value: &Spanned<DeValue>,
    depth: usize,
    problems: &mut Vec<Diagnostic>,
) {
    let here = || source.origin(value.span().start);
    if depth > MAX_NESTING {
        problems.push(Diagnostic::at(
            here(),
            format!("values nest more than {MAX_NESTING} levels deep"),
        ));
        return;
    }
    match value.get_ref() {
        DeValue::Float(float) if !float.as_str().parse::<f64>().is_ok_and(f64::is_finite) => {
            let message = format!(
                "`{}` is not a finite number; only finite numbers are accepted",
                float.as_str()
            );
            problems.push(Diagnostic::at(here(), message));
        }
        DeValue::Array(items) => {
            for item in items.iter() {
                check_values(source, item, depth + 1, problems);
            }
        }
        DeValue::Table(table) => {
            for (_, item) in table.iter() {
                check_values(source, item, depth + 1, problems);
            }
        }
        _ => {}
    }
}

/// How deeply a JSON value nests (a scalar is 0).
pub fn json_depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A name as a TOML key: bare when it can be, quoted otherwise.
pub fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// How deep values may nest, in TOML and in the JSON documents it points at. Everything plumb
/// reads ends up in a plan file that it must read back (serde_json stops at 128 levels), and
/// no AWS document needs more.
pub const MAX_NESTING: usize = 32;
