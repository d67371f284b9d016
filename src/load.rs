//! Loading `desired/`: `plumb.toml` and every `*.toml` under each environment's folder.
//!
//! Every problem becomes a [`Diagnostic`] that names `file:line:column` and the table and field
//! (`parameters."/dev/x".value`), and loading reports all of them at once, not only the first.
//! Kinds parse their own tables through an [`Entry`], which carries the spans.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::{Config, Environment};
use crate::kinds::{self, DynKind};
use crate::resource::Resource;
use crate::scope;
use crate::suggest;

/// A place in a file, 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
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
                file: file.to_path_buf(),
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
    pub path: PathBuf,
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
            path: path.to_path_buf(),
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
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        Origin {
            file: self.path.clone(),
            line,
            column: self.text[line_start..offset].chars().count() + 1,
        }
    }

    fn toml_error(&self, error: &toml::de::Error, context: Option<&str>) -> Diagnostic {
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
const NO_SYMLINKS: &str = "is a symlink: plumb follows no symlinks in desired/ (what lies behind one could \
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
        let env_folder = lexical(&self.root.join(&self.env.name));
        if Path::new(path).is_absolute() {
            return Err(fail(format!(
                "`{path}` must be a path relative to the TOML file, inside `{}`",
                env_folder.display()
            )));
        }
        // Inside the environment's own folder, so that --base sees a change to it as a change
        // to this environment; and through no symlink, whose target could be anywhere.
        let full = lexical(&self.relative_path(path));
        if !full.starts_with(&env_folder) {
            return Err(fail(format!(
                "`{path}` resolves to `{}`, outside `{}`: only files in the environment's own folder can be referenced",
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
                Err(_) => EnvLookup::Unset,
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
fn check_values(source: &SourceFile, value: &Spanned<DeValue>, depth: usize, problems: &mut Vec<Diagnostic>) {
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

pub struct LoadOptions<'a> {
    pub dir: &'a Path,
    /// Environments to load; empty means all.
    pub environments: &'a [String],
    pub env_vars: EnvVars,
}

/// What `desired/` declares for one environment.
pub struct DesiredEnv {
    pub env: Environment,
    pub resources: Vec<Resource>,
}

pub struct Desired {
    pub config: Config,
    pub environments: Vec<DesiredEnv>,
}

pub fn load(options: &LoadOptions, kinds: &[&dyn DynKind]) -> Result<Desired, Diagnostics> {
    let config_path = options.dir.join("plumb.toml");
    let (config, mut problems) = read_config(&config_path)?;
    problems.extend(check_config(&config, &config_path, options));
    let selected = select_environments(&config, options, &config_path, &mut problems);
    let mut environments = Vec::new();
    for env in selected {
        if !crate::config::is_valid_env_name(&env.name) {
            continue; // reported above; its folder name must not be used
        }
        let resources = load_environment(options, env, kinds, &mut problems);
        environments.push(DesiredEnv {
            env: env.clone(),
            resources,
        });
    }
    if problems.is_empty() {
        Ok(Desired { config, environments })
    } else {
        Err(Diagnostics(problems))
    }
}

/// The desired-state folder: `--dir` when given; else the first of the current folder and its
/// parents that is one (holds plumb.toml) or holds one as `desired/`. Paths stay relative to
/// the current folder, so messages read `../desired/dev/a.toml:3:1`.
pub fn find_desired(explicit: Option<&Path>) -> Result<PathBuf, NotFound> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut up = PathBuf::new();
    for ancestor in cwd.ancestors() {
        if ancestor.join("desired/plumb.toml").is_file() {
            return Ok(up.join("desired"));
        }
        if ancestor.join("plumb.toml").is_file() {
            return Ok(if up.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                up
            });
        }
        up.push("..");
    }
    Err(NotFound(cwd))
}

/// No `desired/plumb.toml` in the current folder or any parent.
#[derive(Debug, thiserror::Error)]
#[error(
    "no desired/plumb.toml in {} or any folder above it: run plumb inside your configuration \
     repository, or name the folder with --dir",
    .0.display()
)]
pub struct NotFound(pub PathBuf);

/// One environment's settings from `dir/plumb.toml`, checked, without loading its files
/// (`unlock` must work even when desired/ has problems).
pub fn environment(dir: &Path, name: &str) -> Result<Environment, Diagnostics> {
    let path = dir.join("plumb.toml");
    let config = load_config(&path)?;
    let options = LoadOptions {
        dir,
        environments: &[name.to_string()],
        env_vars: EnvVars::Skip,
    };
    let mut problems = Vec::new();
    let selected = select_environments(&config, &options, &path, &mut problems);
    match selected.first() {
        Some(env) if problems.is_empty() && crate::config::is_valid_env_name(&env.name) => Ok((*env).clone()),
        _ if problems.is_empty() => Err(Diagnostics(vec![Diagnostic::file(
            &path,
            format!("`{name}` is not a valid environment name"),
        )])),
        _ => Err(Diagnostics(problems)),
    }
}

/// The environments `dir/plumb.toml` declares.
pub fn environment_names(dir: &Path) -> Result<Vec<String>, Diagnostics> {
    let config = load_config(&dir.join("plumb.toml"))?;
    Ok(config.environments.into_keys().collect())
}

/// Reads plumb.toml, each environment on its own, so that every problem in it is reported at
/// once and names its environment.
fn load_config(path: &Path) -> Result<Config, Diagnostics> {
    match read_config(path)? {
        (config, problems) if problems.is_empty() => Ok(config),
        (_, problems) => Err(Diagnostics(problems)),
    }
}

/// plumb.toml's environments that read, and the problems of those that did not; `Err` when
/// the file cannot be read or parsed at all.
fn read_config(path: &Path) -> Result<(Config, Vec<Diagnostic>), Diagnostics> {
    let source = SourceFile::read(path).map_err(|d| Diagnostics(vec![d]))?;
    let document =
        DeTable::parse(&source.text).map_err(|e| Diagnostics(vec![source.toml_error(&e, None)]))?;
    let mut config = Config::default();
    let mut problems = Vec::new();
    for (key, value) in document.get_ref().iter() {
        let here = source.origin(key.span().start);
        if key.get_ref() != "environments" {
            let hint = suggest::closest(key.get_ref(), ["environments"])
                .map(|t| format!("; did you mean `{t}`?"))
                .unwrap_or_default();
            let message = format!("unknown table `{}` in plumb.toml{hint}", key.get_ref());
            problems.push(Diagnostic::at(here, message));
            continue;
        }
        let DeValue::Table(environments) = value.get_ref() else {
            problems.push(Diagnostic::at(
                here,
                "`environments` must be a table of [environments.NAME] tables",
            ));
            continue;
        };
        for (name, table) in environments.iter() {
            let context = format!("environments.{}", toml_key(name.get_ref()));
            match Environment::deserialize(table.clone().into_deserializer()) {
                Ok(mut env) => {
                    env.name = name.get_ref().to_string();
                    env.origin = Some(source.origin(name.span().start));
                    if let DeValue::Table(fields) = table.get_ref() {
                        for (field, _) in fields.iter() {
                            let at = source.origin(field.span().start);
                            env.field_origins.insert(field.get_ref().to_string(), at);
                        }
                    }
                    config.environments.insert(env.name.clone(), env);
                }
                Err(e) => {
                    config.unreadable.push(name.get_ref().to_string());
                    problems.push(source.toml_error(&e, Some(&context)));
                }
            }
        }
    }
    Ok((config, problems))
}

/// A problem with an environment's settings, placed at its table in plumb.toml.
fn env_problem(env: &Environment, path: &Path, message: String) -> Diagnostic {
    match &env.origin {
        Some(origin) => Diagnostic::at(origin.clone(), message),
        None => Diagnostic::file(path, message),
    }
}

fn check_config(config: &Config, path: &Path, options: &LoadOptions) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    if config.environments.is_empty() && config.unreadable.is_empty() {
        problems.push(Diagnostic::file(
            path,
            "no [environments.NAME] table: nothing to manage",
        ));
    }
    for env in config.environments.values() {
        if !crate::config::is_valid_env_name(&env.name) {
            let message = format!(
                "environments.{}: an environment name is letters, digits, `-` and `_`, starting \
                 with a letter or digit (it names a folder under desired/)",
                toml_key(&env.name)
            );
            problems.push(env_problem(env, path, message));
            continue;
        }
        for (field, message) in env.check(&kinds::scope_rules()) {
            let text = format!("environments.{}.{field}: {message}", toml_key(&env.name));
            let top = field.split('.').next().unwrap_or(&field);
            match env.field_origins.get(top) {
                Some(origin) => problems.push(Diagnostic::at(origin.clone(), text)),
                None => problems.push(env_problem(env, path, text)),
            }
        }
    }
    problems.extend(overlapping_environments(config, path));
    // A folder that is not an environment is most likely one that was forgotten in plumb.toml:
    // silently skipping it would leave its resources unmanaged.
    if let Ok(entries) = std::fs::read_dir(options.dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let declared = config.environments.contains_key(&name) || config.unreadable.contains(&name);
            if is_dir && !name.starts_with('.') && !declared {
                let message = format!(
                    "folder `{name}/` is not an environment: add [environments.{}] or move it",
                    toml_key(&name)
                );
                problems.push(Diagnostic::file(path, message));
            }
        }
    }
    problems
}

/// Environments that name the same account must not own the same objects (in one region, or
/// account-wide ones in any): each would prune the other's. (Where `account_id` is not set on
/// both, `plan` asks STS.)
fn overlapping_environments(config: &Config, path: &Path) -> Vec<Diagnostic> {
    let envs: Vec<&Environment> = config.environments.values().collect();
    let rules = &kinds::scope_rules();
    let mut problems = Vec::new();
    for (i, a) in envs.iter().enumerate() {
        for b in &envs[i + 1..] {
            let same_account = a.account_id.is_some() && a.account_id == b.account_id;
            let found = scope::overlaps(&a.scope, &b.scope, a.region == b.region, rules);
            if same_account && !found.is_empty() {
                problems.push(env_problem(b, path, scope::overlap_message(a, b, &found)));
            }
        }
    }
    problems
}

fn select_environments<'c>(
    config: &'c Config,
    options: &LoadOptions,
    path: &Path,
    problems: &mut Vec<Diagnostic>,
) -> Vec<&'c Environment> {
    if options.environments.is_empty() {
        return config.environments.values().collect();
    }
    let mut selected: Vec<&Environment> = Vec::new();
    // Each environment once, in name order: so that apply never plans one twice or takes
    // its own lock twice, and two applies take their locks in the same order.
    let names: BTreeSet<&String> = options.environments.iter().collect();
    for name in names {
        match config.environments.get(name) {
            Some(env) => selected.push(env),
            None => {
                let names = config.environments.keys().map(String::as_str);
                let hint = suggest::closest(name, names)
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
                let message = format!(
                    "no environment `{name}` in {}{hint} (it declares: {})",
                    path.display(),
                    known.join(", ")
                );
                problems.push(Diagnostic {
                    origin: None,
                    message,
                });
            }
        }
    }
    selected
}

fn load_environment(
    options: &LoadOptions,
    env: &Environment,
    kinds: &[&dyn DynKind],
    problems: &mut Vec<Diagnostic>,
) -> Vec<Resource> {
    let folder = options.dir.join(&env.name);
    if std::fs::symlink_metadata(&folder).is_ok_and(|m| m.file_type().is_symlink()) {
        problems.push(Diagnostic::file(
            &folder,
            format!("`{}` {NO_SYMLINKS}", folder.display()),
        ));
        return Vec::new();
    }
    if !folder.is_dir() {
        // An absent folder would mean "delete everything in scope": make that explicit.
        let message = format!(
            "environment `{}` has no folder `{}`: create it (an empty folder prunes everything in scope)",
            env.name,
            folder.display()
        );
        problems.push(Diagnostic::file(&options.dir.join("plumb.toml"), message));
        return Vec::new();
    }
    let mut files = Vec::new();
    collect_toml_files(&folder, &mut files, problems);
    files.sort();

    let mut declared: BTreeMap<(&'static str, String), Origin> = BTreeMap::new();
    let mut broken = BTreeSet::new();
    let mut resources = Vec::new();
    for path in files {
        let source = match SourceFile::read(&path) {
            Ok(source) => source,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let file_resources = parse_file(&source, env, kinds, options, &mut broken, problems);
        for resource in file_resources {
            let origin = resource.origin.clone().expect("desired resources have an origin");
            let key = (resource.kind, resource.name.clone());
            if let Some(first) = declared.get(&key) {
                let message = format!(
                    "{} `{}` is declared twice: here and at {first}",
                    resource.kind, resource.name
                );
                problems.push(Diagnostic::at(origin, message));
                continue;
            }
            declared.insert(key, origin);
            resources.push(resource);
        }
    }
    problems.extend(check_references(&resources, &declared, &broken, kinds));
    resources
}

/// Every reference names a declared resource. A declaration that has problems of its own
/// counts as declared: its problems are reported, not a second, false one here.
fn check_references(
    resources: &[Resource],
    declared: &BTreeMap<(&'static str, String), Origin>,
    broken: &BTreeSet<(&'static str, String)>,
    kinds: &[&dyn DynKind],
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for resource in resources {
        for reference in &resource.references {
            let key = (reference.kind, reference.name.clone());
            if declared.contains_key(&key) || broken.contains(&key) {
                continue;
            }
            let Some(origin) = resource.origin.clone() else {
                continue;
            };
            let table = kinds
                .iter()
                .find(|k| k.name() == resource.kind)
                .map_or(resource.kind, |k| k.table());
            let message = format!(
                "{table}.{}.{}: {} `{}` is not declared: {}",
                toml_key(&resource.name),
                reference.field,
                reference.kind,
                reference.name,
                reference.hint
            );
            problems.push(Diagnostic::at(origin, message));
        }
    }
    problems
}

fn collect_toml_files(dir: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(Diagnostic::file(dir, format!("cannot read folder: {e}")));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // The entry's own type: a symlink is reported, never followed.
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_symlink() && (path.extension().is_some_and(|ext| ext == "toml") || path.is_dir()) {
            problems.push(Diagnostic::file(&path, NO_SYMLINKS));
        } else if kind.is_dir() {
            collect_toml_files(&path, files, problems);
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            files.push(path);
        }
    }
}

/// How deep values may nest, in TOML and in the JSON documents it points at. Everything plumb
/// reads ends up in a plan file that it must read back (serde_json stops at 128 levels), and
/// no AWS document needs more.
pub const MAX_NESTING: usize = 32;

fn parse_file(
    source: &SourceFile,
    env: &Environment,
    kinds: &[&dyn DynKind],
    options: &LoadOptions,
    broken: &mut BTreeSet<(&'static str, String)>,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Resource> {
    let (env_vars, root) = (options.env_vars, options.dir);
    let document = match DeTable::parse(&source.text) {
        Ok(document) => document,
        Err(e) => {
            problems.push(source.toml_error(&e, None));
            return Vec::new();
        }
    };
    let before = problems.len();
    for (_, value) in document.get_ref().iter() {
        check_values(source, value, 1, problems);
    }
    if problems.len() > before {
        return Vec::new();
    }
    let mut resources = Vec::new();
    for (table_key, table_value) in document.get_ref().iter() {
        let table_name: &str = table_key.get_ref();
        let Some(kind) = kinds.iter().find(|k| k.table() == table_name) else {
            let hint = suggest::closest(table_name, kinds.iter().map(|k| k.table()))
                .map(|t| format!("; did you mean `{t}`?"))
                .unwrap_or_default();
            let message = format!("unknown table `{table_name}`{hint}");
            problems.push(Diagnostic::at(source.origin(table_key.span().start), message));
            continue;
        };
        let DeValue::Table(entries) = table_value.get_ref() else {
            let message = format!("`{table_name}` must be a table of named {}s", kind.name());
            problems.push(Diagnostic::at(source.origin(table_key.span().start), message));
            continue;
        };
        for (name, value) in entries.iter() {
            let entry = Entry {
                table: kind.table(),
                name: name.get_ref(),
                value,
                env,
                name_span: name.span(),
                source,
                env_vars,
                root,
            };
            match kind.parse(&entry) {
                Ok(mut resource) => {
                    resource.origin = Some(entry.origin());
                    resources.push(resource);
                }
                Err(found) => {
                    broken.insert((kind.name(), entry.name.to_string()));
                    problems.extend(found);
                }
            }
        }
    }
    resources
}
