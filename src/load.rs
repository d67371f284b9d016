//! Loading `desired/`: `plumb.toml` and every `*.toml` under each environment's folder.
//!
//! Every problem becomes a [`Diagnostic`] that names `file:line:column` and the table and field
//! (`parameters."/dev/x".value`), and loading reports all of them at once, not only the first.
//! Kinds parse their own tables through an [`Entry`], which carries the spans.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IntoDeserializer;
use toml::de::{DeTable, DeValue};

pub use crate::source::{
    Diagnostic, Diagnostics, Entry, EnvLookup, EnvVars, MAX_NESTING, MAX_TOML_BYTES, Origin, SourceFile,
    json_depth, toml_key,
};
use crate::source::{NO_SYMLINKS, check_values};

use crate::config::{Config, Environment};
use crate::engine::ProtectedDeclaration;
use crate::kinds::{self, DynKind};
use crate::resource::Resource;
use crate::scope;
use crate::suggest;

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
    /// plumb.toml's `[naming]` rules (plan notes live objects that break them).
    pub naming: Vec<crate::config::NamingRule>,
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
    let rules = kinds::scope_rules();
    for env in selected {
        if !crate::config::is_valid_env_name(&env.name) {
            continue; // reported above; its folder name must not be used
        }
        if env.scope.is_malformed(&rules) {
            continue; // reported above; every declaration would be "outside the scope"
        }
        let resources = load_environment(options, &config, env, kinds, &mut problems);
        environments.push(DesiredEnv {
            env: env.clone(),
            resources,
            naming: config.naming.clone(),
        });
    }
    if problems.is_empty() {
        Ok(Desired { config, environments })
    } else {
        Err(Diagnostics(merge_shared_problems(problems)))
    }
}

/// The declarations with `protect = true` of plumb.toml's environments other than `planned`,
/// read offline and without secrets, and the names of those whose files do not load (their
/// own runs report why; the caller says that their protections were not seen).
pub fn protected_declarations(
    dir: &Path,
    planned: &[&str],
    kinds: &[&dyn DynKind],
) -> (Vec<ProtectedDeclaration>, Vec<String>) {
    let names = environment_names(dir).unwrap_or_default();
    let (mut protected, mut unloaded) = (Vec::new(), Vec::new());
    for name in names.into_iter().filter(|n| !planned.contains(&n.as_str())) {
        let names = [name.clone()];
        let options = LoadOptions {
            dir,
            environments: &names,
            env_vars: EnvVars::Skip,
        };
        match load(&options, kinds) {
            Ok(desired) => protected.extend(
                desired
                    .environments
                    .iter()
                    .flat_map(|e| ProtectedDeclaration::declared(&e.env, &e.resources)),
            ),
            Err(_) => unloaded.push(name),
        }
    }
    (protected, unloaded)
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
    // A scope plumb cannot read is no scope to unlock in.
    let rules = kinds::scope_rules();
    if let Some(env) = selected.first()
        && env.scope.is_malformed(&rules)
    {
        problems.extend(
            scope::check(&env.scope, &rules)
                .into_iter()
                .map(|(field, message)| {
                    let text = format!("environments.{}.{field}: {message}", toml_key(&env.name));
                    env_problem(env, &path, text)
                }),
        );
    }
    match selected.first() {
        Some(env) if problems.is_empty() && crate::config::is_valid_env_name(&env.name) => Ok((*env).clone()),
        _ if problems.is_empty() => Err(Diagnostics(vec![Diagnostic::file(
            &path,
            format!("`{name}` is not a valid environment name"),
        )])),
        _ => Err(Diagnostics(problems)),
    }
}

/// The environments of `dir/plumb.toml` named in `names` (all of them when `names` is empty),
/// checked and selected as plan selects them, without loading their files.
pub fn environments(dir: &Path, names: &[String]) -> Result<Vec<Environment>, Diagnostics> {
    let path = dir.join("plumb.toml");
    let config = load_config(&path)?;
    let options = LoadOptions {
        dir,
        environments: names,
        env_vars: EnvVars::Skip,
    };
    // Checked as validate checks plumb.toml: a name printed here becomes a CI job's
    // environment and artifact name, so a malformed one must never get through.
    let mut problems = check_config(&config, &path, &options);
    let selected = select_environments(&config, &options, &path, &mut problems);
    match problems.is_empty() {
        true => Ok(selected.into_iter().cloned().collect()),
        false => Err(Diagnostics(problems)),
    }
}

/// The environments that declare the files of `dir/shared/` (`[shared] environments`).
pub fn shared_environments(dir: &Path) -> Result<Vec<String>, Diagnostics> {
    Ok(load_config(&dir.join("plumb.toml"))?.shared_environments())
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
        match key.get_ref().as_ref() {
            "environments" => {}
            "shared" => {
                match crate::config::Shared::deserialize(value.clone().into_deserializer()) {
                    Ok(shared) => config.shared = shared,
                    Err(e) => problems.push(source.toml_error(&e, Some("shared"))),
                }
                config.shared_origin = Some(here);
                continue;
            }
            "naming" => {
                read_naming(&source, value, &mut config, &mut problems);
                continue;
            }
            other => {
                let hint = suggest::closest(other, ["environments", "shared", "naming"])
                    .map(|t| format!("; did you mean `{t}`?"))
                    .unwrap_or_default();
                let message = format!("unknown table `{other}` in plumb.toml{hint}");
                problems.push(Diagnostic::at(here, message));
                continue;
            }
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

/// `[naming]`: a pattern (a string) per table that a kind declares.
fn read_naming(
    source: &SourceFile,
    value: &toml::Spanned<DeValue>,
    config: &mut Config,
    problems: &mut Vec<Diagnostic>,
) {
    let DeValue::Table(rules) = value.get_ref() else {
        let message = "`naming` must be a table: `[naming]` with `parameters = \"/{env}/**\"`, ...";
        problems.push(Diagnostic::at(source.origin(value.span().start), message));
        return;
    };
    let tables: Vec<&str> = kinds::registry().iter().map(|k| k.table()).collect();
    for (table, pattern) in rules.iter() {
        let here = source.origin(table.span().start);
        let table = table.get_ref().to_string();
        if !tables.contains(&table.as_str()) {
            let hint = suggest::closest(&table, tables.iter().copied())
                .map(|t| format!("; did you mean `{t}`?"))
                .unwrap_or_default();
            problems.push(Diagnostic::at(
                here,
                format!("naming.{table}: unknown table{hint}"),
            ));
            continue;
        }
        let DeValue::String(pattern) = pattern.get_ref() else {
            problems.push(Diagnostic::at(
                here,
                format!("naming.{table}: a naming rule is a string"),
            ));
            continue;
        };
        if let Err(message) = crate::naming::check_pattern(pattern) {
            problems.push(Diagnostic::at(here, format!("naming.{table}: {message}")));
            continue;
        }
        config.naming.push(crate::config::NamingRule {
            table,
            pattern: pattern.to_string(),
            origin: here,
        });
    }
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
                 with a letter or digit (it names a folder under desired/), and not `shared` in any case",
                toml_key(&env.name)
            );
            problems.push(env_problem(env, path, message));
            continue;
        }
        for var in env.vars.keys().filter(|v| !crate::naming::is_variable_name(v)) {
            let message = format!(
                "environments.{}.vars.{}: a variable name is letters, digits, `-` and `_`",
                toml_key(&env.name),
                toml_key(var)
            );
            problems.push(env_problem(env, path, message));
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
    problems.extend(names_alike_but_for_case(config, path));
    for name in config.shared.environments.iter().flatten() {
        if !config.environments.contains_key(name) && !config.unreadable.contains(name) {
            let message = format!("shared.environments: no environment `{name}` in plumb.toml");
            match &config.shared_origin {
                Some(origin) => problems.push(Diagnostic::at(origin.clone(), message)),
                None => problems.push(Diagnostic::file(path, message)),
            }
        }
    }
    // A folder that is not an environment is most likely one that was forgotten in plumb.toml:
    // silently skipping it would leave its resources unmanaged.
    if let Ok(entries) = std::fs::read_dir(options.dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let declared = config.environments.contains_key(&name)
                || config.unreadable.contains(&name)
                || name == crate::config::SHARED_FOLDER;
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

/// Two environments whose names differ only in case (`dev`, `Dev`) would share one folder on
/// macOS and Windows, whose file systems ignore case: each would declare the other's files.
fn names_alike_but_for_case(config: &Config, path: &Path) -> Vec<Diagnostic> {
    let envs: Vec<&Environment> = config.environments.values().collect();
    let mut problems = Vec::new();
    for (i, a) in envs.iter().enumerate() {
        for b in envs[i + 1..]
            .iter()
            .filter(|b| b.name.eq_ignore_ascii_case(&a.name))
        {
            let message = format!(
                "environments `{}` and `{}` differ only in case: on macOS and Windows their \
                 folders under desired/ are one folder; rename one",
                a.name, b.name
            );
            problems.push(env_problem(b, path, message));
        }
    }
    problems
}

/// Environments that name the same account must not own the same objects (in one region, or
/// account-wide ones in any): each would prune the other's. (Where `account_id` is not set on
/// both, `plan` asks STS.)
fn overlapping_environments(config: &Config, path: &Path) -> Vec<Diagnostic> {
    // Replica regions own their copies as the environment owns its parameters: another
    // environment in that account and region must not own the same paths.
    let replicas: Vec<Environment> = config
        .environments
        .values()
        .flat_map(|env| env.replica_regions.iter().map(|region| env.replica(region)))
        .collect();
    let envs: Vec<&Environment> = config.environments.values().chain(&replicas).collect();
    let rules = &kinds::scope_rules();
    let mut problems = Vec::new();
    for (i, a) in envs.iter().enumerate() {
        for b in envs[i + 1..].iter().filter(|b| b.name != a.name) {
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
    config: &Config,
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
    files.extend(shared_files(options.dir, config, env, problems));

    let mut declared: BTreeMap<(&'static str, String), Origin> = BTreeMap::new();
    let mut broken = BTreeSet::new();
    let mut resources = Vec::new();
    let first_problem = problems.len();
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
    problems.extend(check_renames(&resources, &declared, kinds));
    problems.extend(check_naming(&config.naming, env, &resources, kinds));
    let shared = options.dir.join(crate::config::SHARED_FOLDER);
    for problem in &mut problems[first_problem..] {
        let in_shared = problem
            .origin
            .as_ref()
            .is_some_and(|o| o.file.starts_with(&shared));
        if in_shared && !problem.message.contains(&format!("environment `{}`", env.name)) {
            problem.message = format!("{}{}{}`)", problem.message, IN_ENVIRONMENT, env.name);
        }
    }
    // Grown by doubling: up to half of it unused, for as long as the plan runs.
    resources.shrink_to_fit();
    resources
}

/// How a problem in a shared file says which environment it was found in.
const IN_ENVIRONMENT: &str = " (environment `";

/// A problem a shared file has in every environment is said once, naming them all:
/// `... (environments `dev`, `prod`)`.
fn merge_shared_problems(problems: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut merged: Vec<(Diagnostic, Vec<String>)> = Vec::new();
    for problem in problems {
        let split = problem
            .message
            .rfind(IN_ENVIRONMENT)
            .filter(|_| problem.message.ends_with("`)"));
        let Some(at) = split else {
            merged.push((problem, Vec::new()));
            continue;
        };
        let env = problem.message[at + IN_ENVIRONMENT.len()..problem.message.len() - 2].to_string();
        let base = problem.message[..at].to_string();
        let same = merged
            .iter_mut()
            .find(|(d, envs)| !envs.is_empty() && d.origin == problem.origin && d.message == base);
        match same {
            Some((_, envs)) => envs.push(env),
            None => merged.push((
                Diagnostic {
                    message: base,
                    ..problem
                },
                vec![env],
            )),
        }
    }
    merged
        .into_iter()
        .map(|(mut problem, envs)| {
            if !envs.is_empty() {
                let names: Vec<String> = envs.iter().map(|e| format!("`{e}`")).collect();
                let noun = if envs.len() == 1 {
                    "environment"
                } else {
                    "environments"
                };
                problem.message = format!("{} ({noun} {})", problem.message, names.join(", "));
            }
            problem
        })
        .collect()
}

/// The files of desired/shared/ when `env` declares them (`[shared] environments`).
fn shared_files(
    dir: &Path,
    config: &Config,
    env: &Environment,
    problems: &mut Vec<Diagnostic>,
) -> Vec<PathBuf> {
    let folder = dir.join(crate::config::SHARED_FOLDER);
    let mut files = Vec::new();
    if !config.shares_with(&env.name) {
        return files;
    }
    if std::fs::symlink_metadata(&folder).is_ok_and(|m| m.file_type().is_symlink()) {
        problems.push(Diagnostic::file(
            &folder,
            format!("`{}` {NO_SYMLINKS}", folder.display()),
        ));
    } else if folder.is_dir() {
        collect_toml_files(&folder, &mut files, problems);
        files.sort();
    }
    files
}

/// Declared names that break their table's naming rule, or rules this environment cannot
/// make concrete (a variable it does not set).
fn check_naming(
    rules: &[crate::config::NamingRule],
    env: &Environment,
    resources: &[Resource],
    kinds: &[&dyn DynKind],
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for kind in kinds {
        for rule in crate::naming::rules_for(rules, kind.table(), env) {
            let rule = match rule {
                Ok(rule) => rule,
                Err(message) => {
                    let Some(broken) = rules.iter().find(|r| r.table == kind.table()) else {
                        continue;
                    };
                    let text = format!("naming.{}: {message}", kind.table());
                    problems.push(Diagnostic::at(broken.origin.clone(), text));
                    continue;
                }
            };
            let breaking = resources
                .iter()
                .filter(|r| r.kind == kind.name() && !rule.allows(&r.name));
            for resource in breaking {
                let Some(origin) = resource.origin.clone() else {
                    continue;
                };
                let message = format!(
                    "{}.{}: the name breaks the naming rule `{}` ({}), which in environment `{}` is `{}`",
                    kind.table(),
                    toml_key(&resource.name),
                    rule.rule.pattern,
                    rule.rule.origin,
                    env.name,
                    rule.expected
                );
                problems.push(Diagnostic::at(origin, message));
            }
        }
    }
    problems
}

/// The TOML table of the kind named `noun`, as messages name a declaration.
fn table_of(kinds: &[&dyn DynKind], noun: &'static str) -> &'static str {
    kinds
        .iter()
        .find(|k| k.name() == noun)
        .map_or(noun, |k| k.table())
}

/// A `renamed_from` naming an object that is still declared would delete that object (a
/// budget's history with it) and create it anew beside the renamed one: refused, saying
/// where it is declared.
fn check_renames(
    resources: &[Resource],
    declared: &BTreeMap<(&'static str, String), Origin>,
    kinds: &[&dyn DynKind],
) -> Vec<Diagnostic> {
    let still_declared = |resource: &Resource| {
        let old = resource.renamed_from()?;
        let at = declared.get(&(resource.kind, old.to_string()))?;
        let table = table_of(kinds, resource.kind);
        let message = format!(
            "{table}.{}.renamed_from: `{old}` is still declared, at {at}: a rename deletes the {} \
             of the old name; remove that declaration, or `renamed_from`",
            toml_key(&resource.name),
            resource.kind
        );
        Some(Diagnostic::at(resource.origin.clone()?, message))
    };
    resources.iter().filter_map(still_declared).collect()
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
        for reference in resource.references() {
            let key = (reference.kind, reference.name.clone());
            if declared.contains_key(&key) || broken.contains(&key) {
                continue;
            }
            let Some(origin) = resource.origin.clone() else {
                continue;
            };
            let table = table_of(kinds, resource.kind);
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

/// Every `.toml` file under `dir` (links not followed), for readers that report nothing.
pub fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    collect_toml_files(dir, &mut files, &mut Vec::new());
    files
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
    let placeholders = crate::placeholders::Placeholders::of(env);
    let may_hold_placeholders = crate::placeholders::may_hold_placeholders(&source.text);
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
            let resolved;
            let (name, value) = if may_hold_placeholders {
                let mut found = Vec::new();
                let name = placeholders.resolve_key(name.clone(), source, &mut found);
                let value = placeholders.resolve_value(value.clone(), source, &mut found);
                // Variables bring values of their own: the same limits (finite numbers,
                // nesting) hold once they are filled in.
                check_values(source, &value, 2, &mut found);
                if !found.is_empty() {
                    broken.insert((kind.name(), name.get_ref().to_string()));
                    problems.extend(found);
                    continue;
                }
                resolved = (name, value);
                (&resolved.0, &resolved.1)
            } else {
                (name, value)
            };
            let entry = Entry::new(kind.table(), name, value, env, source, env_vars, root);
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
