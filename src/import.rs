//! `plumb import`: what live AWS holds in an environment's scope and `desired/` does not
//! declare yet, written as new TOML files, so that a team adopting plumb starts from a plan
//! with no changes instead of a wall of deletions.
//!
//! # Guarantees
//! - **Nothing existing is modified.** Each run writes into a folder of its own under the
//!   environment's folder (`imported/`, or `imported-2/` when that exists, ...); a run that
//!   finds nothing new writes nothing.
//! - **The plan is empty afterwards.** Each kind writes the inverse of its `parse`
//!   ([`crate::kinds::Kind::import`]), leaving out what equals AWS's defaults.
//! - **No secret is written.** SecureStrings are read without decryption; a secret value
//!   becomes `initial_value_from_env`, and the variables are listed for CI.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::aws::Session;
use crate::cli::Target;
use crate::config::Config;
use crate::error::Status;
use crate::kinds::{self, DynKind, ImportContext, Imported, OutOfReach};
use crate::load::{self, DesiredEnv, EnvVars, LoadOptions};
use crate::output;
use crate::pipeline;
use crate::placeholders::Placeholders;
use crate::suggest;

/// What one environment's import found, per kind's table: the declarations by name, and the
/// objects seen outside the scope.
struct Found<'k> {
    tables: Vec<(&'k dyn DynKind, BTreeMap<String, Imported>)>,
    out_of_reach: Vec<(&'static str, OutOfReach)>,
    /// Objects whose declaration would not load (AWS holds them in a form plumb cannot
    /// declare): left out, with the loader's problem.
    undeclarable: Vec<(&'static str, String, String)>,
}

impl Found<'_> {
    fn is_empty(&self) -> bool {
        self.tables.iter().all(|(_, entries)| entries.is_empty())
    }

    fn variables(&self) -> Vec<(String, String)> {
        self.tables
            .iter()
            .flat_map(|(kind, entries)| {
                entries.iter().flat_map(move |(name, imported)| {
                    let what = format!("{} {name}", kind.name());
                    imported.variables.iter().map(move |v| (v.clone(), what.clone()))
                })
            })
            .collect()
    }
}

pub async fn import(target: &Target, kinds_asked: &[String], dry_run: bool) -> Result<Status> {
    let registry = kinds::registry();
    let selected = select_kinds(&registry, kinds_asked)?;
    let options = LoadOptions {
        dir: &target.dir,
        environments: &target.envs,
        env_vars: EnvVars::Skip,
    };
    let desired = load::load(&options, &registry)?;
    for env in &desired.environments {
        let session = Session::connect(&env.env).await;
        let account = pipeline::check_account(&session).await?;
        let found = read_environment(&session, &target.dir, &desired.config, env, &selected)
            .await
            .with_context(|| pipeline::cannot_read(&env.env.name))?;
        let folder = target.dir.join(&env.env.name);
        if found.is_empty() {
            output::stdout(&format!(
                "{}: nothing to import: desired/ declares everything in scope.\n{}",
                env.env.name,
                out_of_reach(&env.env.name, &found)
            ));
            continue;
        }
        let header = header(&session, account.as_deref());
        let into = new_folder(&folder);
        let mut found = found;
        let files = loadable(&target.dir, &env.env.name, &into, &mut found, &header)?;
        if files.is_empty() {
            output::stdout(&summary(&env.env.name, &found, &files, dry_run));
            continue;
        }
        if dry_run {
            show_dry_run(&files);
        } else {
            write_folder(&folder, &into, &files)?;
        }
        output::stdout(&summary(&env.env.name, &found, &files, dry_run));
    }
    Ok(Status::Clean)
}

/// The variables desired/ already reads secrets from (`value_from_env`,
/// `initial_value_from_env`, in any file, an earlier import's too), in capitals (a Windows
/// runner reads any case as one): an imported secret must not share one, or creating both
/// would give them one value. A name with placeholders counts as what it is in each
/// environment of `config`.
fn variables_in_use(dir: &Path, config: &Config) -> BTreeSet<String> {
    fn collect(table: &toml::Table, found: &mut Vec<String>) {
        for (key, value) in table {
            match value {
                toml::Value::String(name) if key == "value_from_env" || key == "initial_value_from_env" => {
                    found.push(name.clone());
                }
                toml::Value::Table(inner) => collect(inner, found),
                _ => {}
            }
        }
    }
    let mut written = Vec::new();
    for file in load::toml_files(dir) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if let Ok(table) = text.parse::<toml::Table>() {
            collect(&table, &mut written);
        }
    }
    let in_each_environment = |name: &String| -> Vec<String> {
        let environments = config.environments.values();
        environments
            .filter_map(|env| Placeholders::of(env).resolved(name))
            .collect()
    };
    let names = written.iter().flat_map(in_each_environment);
    names.map(|name| name.to_ascii_uppercase()).collect()
}

/// The kinds `--kind` names (by table or noun), in registry order; all when none is named.
fn select_kinds<'k>(registry: &[&'k dyn DynKind], asked: &[String]) -> Result<Vec<&'k dyn DynKind>> {
    for name in asked {
        if !registry.iter().any(|k| k.table() == name || k.name() == name) {
            let tables = registry.iter().map(|k| k.table());
            let hint = suggest::closest(name, tables)
                .map(|t| format!("; did you mean `{t}`?"))
                .unwrap_or_default();
            let all: Vec<&str> = registry.iter().map(|k| k.table()).collect();
            bail!("--kind `{name}` is not a kind{hint} (kinds: {})", all.join(", "));
        }
    }
    // Users and groups name the declared policies (and users the groups) they use: importing
    // them alone would write references to nothing.
    let mut wanted: Vec<&str> = asked.iter().map(String::as_str).collect();
    for (kind, needs) in [
        ("users", ["groups", "policies"].as_slice()),
        ("groups", &["policies"]),
    ] {
        if wanted
            .iter()
            .any(|w| *w == kind || *w == kind.trim_end_matches('s'))
        {
            wanted.extend(needs);
        }
    }
    Ok(registry
        .iter()
        .filter(|k| wanted.is_empty() || wanted.iter().any(|a| *a == k.table() || *a == k.name()))
        .copied()
        .collect())
}

/// Every live object in scope of the selected kinds that desired/ does not declare, as
/// declarations.
async fn read_environment<'k>(
    session: &Session,
    dir: &Path,
    config: &Config,
    env: &DesiredEnv,
    selected: &[&'k dyn DynKind],
) -> Result<Found<'k>> {
    let declared: BTreeSet<(&'static str, String)> =
        env.resources.iter().map(|r| (r.kind, r.name.clone())).collect();
    let mut undeclared = Vec::new();
    let mut out_of_reach = Vec::new();
    for kind in selected {
        out_of_reach.extend(
            kind.out_of_reach(session)
                .await?
                .into_iter()
                .map(|o| (kind.name(), o)),
        );
        let live = kind.fetch_all(session).await?;
        let new: Vec<_> = live
            .into_iter()
            .filter(|l| !declared.contains(&(l.kind, l.name.clone())))
            .collect();
        undeclared.push((*kind, new));
    }
    let mut known = declared;
    known.extend(
        undeclared
            .iter()
            .flat_map(|(_, live)| live.iter().map(|l| (l.kind, l.name.clone()))),
    );
    let context = ImportContext {
        env: &env.env,
        known: &known,
        variables: RefCell::new(variables_in_use(dir, config)),
    };
    let tables = undeclared
        .into_iter()
        .map(|(kind, live)| {
            let entries = live
                .iter()
                .filter_map(|l| Some((l.name.clone(), kind.import(l, &context)?)))
                .collect();
            (kind, entries)
        })
        .collect();
    Ok(Found {
        tables,
        out_of_reach,
        undeclarable: Vec::new(),
    })
}

/// The first of `imported/`, `imported-2/`, ... that does not exist yet: a run writes only
/// into a folder of its own.
fn new_folder(env_folder: &Path) -> PathBuf {
    (1..)
        .map(|n| match n {
            1 => env_folder.join("imported"),
            n => env_folder.join(format!("imported-{n}")),
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| env_folder.join("imported"))
}

fn header(session: &Session, account: Option<&str>) -> String {
    let account = account.map(|a| format!("account {a}, ")).unwrap_or_default();
    format!(
        "# Imported by `plumb import` from {account}region {}. Review it, then commit it.\n\n",
        session.env.region
    )
}

/// Live text written as TOML: `${` is a placeholder to the loader, so a name or value that
/// holds one literally is written `$${` (read back as `${`).
fn escape_text(text: &str) -> String {
    text.replace("${", "$${")
}

fn escape_placeholders(value: toml::Value) -> toml::Value {
    match value {
        toml::Value::String(text) => toml::Value::String(escape_text(&text)),
        toml::Value::Array(items) => toml::Value::Array(items.into_iter().map(escape_placeholders).collect()),
        toml::Value::Table(table) => toml::Value::Table(
            table
                .into_iter()
                .map(|(key, value)| (escape_text(&key), escape_placeholders(value)))
                .collect(),
        ),
        other => other,
    }
}

/// The files an import writes into `folder`: one TOML file per kind, and the documents they
/// refer to. Two objects whose documents would share a file are an error before anything is
/// written.
fn render(folder: &Path, found: &Found, header: &str) -> Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    for (kind, entries) in &found.tables {
        if entries.is_empty() {
            continue;
        }
        let mut table = toml::Table::new();
        for (name, imported) in entries {
            let declaration = escape_placeholders(toml::Value::Table(imported.declaration.clone()));
            table.insert(escape_text(name), declaration);
            for (path, document) in &imported.files {
                let text = serde_json::to_string_pretty(document)? + "\n";
                files.push((folder.join(path), text));
            }
        }
        let mut document = toml::Table::new();
        document.insert(kind.table().to_string(), toml::Value::Table(table));
        let text = toml::to_string_pretty(&document).context("cannot write the imported TOML")?;
        files.push((
            folder.join(format!("{}.toml", kind.table())),
            format!("{header}{text}"),
        ));
    }
    let mut paths: Vec<&PathBuf> = files.iter().map(|(p, _)| p).collect();
    paths.sort();
    if let Some(twice) = paths.windows(2).find(|w| w[0] == w[1]) {
        bail!(
            "two imported objects would share `{}`: nothing was written",
            twice[0].display()
        );
    }
    Ok(files)
}

/// The files to write, every declaration in them one that loads: each round renders the
/// files, loads them beside the environment's own in a scratch copy of desired/, and leaves out
/// the objects whose declarations have problems (and, next round, what referred to them).
fn loadable(
    dir: &Path,
    env: &str,
    into: &Path,
    found: &mut Found,
    header: &str,
) -> Result<Vec<(PathBuf, String)>> {
    let scratch = Scratch::new(dir, env, into)?;
    for _ in 0..4 {
        let files = render(into, found, header)?;
        let problems = scratch.problems(into, &files)?;
        let mut dropped = false;
        for (kind, entries) in &mut found.tables {
            entries.retain(|name, _| {
                let path = format!("{}.{}", kind.table(), load::toml_key(name));
                let (field, whole) = (format!("{path}."), format!("{path}:"));
                let problem = problems
                    .iter()
                    .find(|p| p.starts_with(&field) || p.starts_with(&whole));
                if let Some(problem) = problem {
                    found
                        .undeclarable
                        .push((kind.name(), name.clone(), problem.clone()));
                    dropped = true;
                }
                problem.is_none()
            });
        }
        if !dropped {
            if let Some(problem) = problems.first() {
                bail!(
                    "the imported declarations of environment `{env}` do not load ({problem}): nothing was written"
                );
            }
            return Ok(files);
        }
    }
    bail!("the imported declarations of environment `{env}` do not load: nothing was written")
}

/// A scratch copy of desired/ (plumb.toml and the environment's folder, copied once) in
/// which an import's files are loaded before they are written for real.
struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
    env: String,
    /// Where the import's folder lies in the copy.
    staged: PathBuf,
}

impl Scratch {
    fn new(dir: &Path, env: &str, into: &Path) -> Result<Scratch> {
        let scratch = tempfile::tempdir().context("cannot make a scratch folder")?;
        let root = scratch.path().join("desired");
        std::fs::create_dir_all(&root)?;
        std::fs::copy(dir.join("plumb.toml"), root.join("plumb.toml")).context("cannot copy plumb.toml")?;
        copy_tree(&dir.join(env), &root.join(env))?;
        let relative = into.strip_prefix(dir.join(env)).unwrap_or(into);
        let staged = root.join(env).join(relative);
        Ok(Scratch {
            _dir: scratch,
            root,
            env: env.to_string(),
            staged,
        })
    }

    /// The problems the loader finds with `files` (meant for `into`) in place, as messages
    /// without their place.
    fn problems(&self, into: &Path, files: &[(PathBuf, String)]) -> Result<Vec<String>> {
        if self.staged.exists() {
            std::fs::remove_dir_all(&self.staged)?;
        }
        let staged: Vec<(PathBuf, String)> = files
            .iter()
            .filter_map(|(path, text)| Some((self.staged.join(path.strip_prefix(into).ok()?), text.clone())))
            .collect();
        write_files(&staged)?;
        let options = LoadOptions {
            dir: &self.root,
            environments: std::slice::from_ref(&self.env),
            env_vars: EnvVars::Skip,
        };
        Ok(match load::load(&options, &kinds::registry()) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.0.into_iter().map(|d| d.message).collect(),
        })
    }
}

/// Copies a folder's regular files and folders (symlinks are never followed in desired/).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)
        .with_context(|| format!("cannot read `{}`", from.display()))?
        .flatten()
    {
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Writes the files of `target` (a folder that does not exist yet) all or nothing: into a
/// staging folder beside it first, renamed into place once every file is written.
fn write_folder(env_folder: &Path, target: &Path, files: &[(PathBuf, String)]) -> Result<()> {
    let staging = env_folder.join(format!(".plumb-import-{}", std::process::id()));
    let staged: Vec<(PathBuf, String)> = files
        .iter()
        .filter_map(|(path, text)| Some((staging.join(path.strip_prefix(target).ok()?), text.clone())))
        .collect();
    let written = write_files(&staged).and_then(|()| {
        std::fs::rename(&staging, target).with_context(|| format!("cannot create `{}`", target.display()))
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    written
}

/// Writes every file, none of which may exist (`create_new`): nothing is ever overwritten.
fn write_files(files: &[(PathBuf, String)]) -> Result<()> {
    use std::io::Write as _;
    for (path, text) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create `{}`", path.display()))?;
        file.write_all(text.as_bytes())
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(())
}

fn show_dry_run(files: &[(PathBuf, String)]) {
    for (path, text) in files {
        output::stdout(&format!("--- {} (would be written)\n{text}\n", path.display()));
    }
}

/// The objects seen outside the scope, each with why and what would bring it in.
fn out_of_reach(env: &str, found: &Found) -> String {
    if found.out_of_reach.is_empty() {
        return String::new();
    }
    let mut out = format!("Not imported: outside environment `{env}`'s scope, left as they are:\n");
    for (noun, object) in &found.out_of_reach {
        out.push_str(&format!("  {noun} {}: {}\n", object.name, object.why));
    }
    out
}

fn summary(env: &str, found: &Found, files: &[(PathBuf, String)], dry_run: bool) -> String {
    let counts: Vec<String> = found
        .tables
        .iter()
        .filter(|(_, entries)| !entries.is_empty())
        .map(|(kind, entries)| match entries.len() {
            1 => format!("1 {}", kind.name()),
            n => format!("{n} {}", kind.table()),
        })
        .collect();
    let verb = if dry_run { "would write" } else { "wrote" };
    let mut out = match counts.is_empty() {
        true => format!("{env}: nothing imported.\n"),
        false => format!("{env}: imported {}; {verb}:\n", counts.join(", ")),
    };
    for (path, _) in files {
        out.push_str(&format!("  {}\n", path.display()));
    }
    out.push_str(&out_of_reach(env, found));
    if !found.undeclarable.is_empty() {
        out.push_str("Not imported: AWS holds them in a form plumb cannot declare (yet):\n");
        for (noun, name, problem) in &found.undeclarable {
            out.push_str(&format!("  {noun} {name}: {problem}\n"));
        }
    }
    let variables = found.variables();
    if !variables.is_empty() {
        out.push_str(
            "Secrets were imported without their values: set these variables where plumb \
             creates them (CI secrets); an existing parameter's value is left as it is:\n",
        );
        for (variable, what) in variables {
            out.push_str(&format!("  {variable}  ({what})\n"));
        }
    }
    out
}

/// Each kind's writer round trip: a live spec written as TOML (and files) and loaded back
/// through the real loader gives a declaration the plan finds equal to it.
#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::json;

    use crate::engine;
    use crate::kinds::budgets::budget::Budgets;
    use crate::kinds::cloudwatch::alarm::{AlarmSpec, Alarms};
    use crate::kinds::cloudwatch::composite::Composite;
    use crate::kinds::cloudwatch::dashboard::{Dashboard, Dashboards};
    use crate::kinds::contract::live_resource;
    use crate::kinds::iam::Permissions;
    use crate::kinds::iam::group::{Group, Groups};
    use crate::kinds::iam::policy::{Policies, Policy};
    use crate::kinds::iam::user::{User, Users};
    use crate::kinds::sns::topic::{Subscription, Topic, Topics};
    use crate::kinds::ssm::parameter::{Contents, Parameter, Parameters};
    use crate::kinds::{self, DynKind, ImportContext, Kind, Live};
    use crate::load::{self, EnvVars, LoadOptions};
    use crate::resource::{Secret, Value};

    const PLUMB_TOML: &str = "[environments.dev]\nregion = \"us-east-1\"\n[environments.dev.scope]\n\
        parameter_paths = [\"/dev/app/\"]\niam_path = \"/app/\"\nalarm_prefixes = [\"app-\"]\n\
        dashboard_prefixes = [\"app-\"]\nbudget_prefixes = [\"app-\"]\ntopic_prefixes = [\"app-\"]\n";

    /// Writes `live` as `import` would, loads it back, and returns the declared spec; asserts
    /// that planning it against `live` changes nothing.
    fn round_trip<K: Kind>(kind: &K, name: &str, live: K::Spec, known: &[(&'static str, &str)]) -> K::Spec {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("desired");
        std::fs::create_dir_all(root.join("dev")).unwrap();
        std::fs::write(root.join("plumb.toml"), PLUMB_TOML).unwrap();
        // What `known` names is declared too, so that references to it hold.
        let others: String = known
            .iter()
            .filter(|(noun, other)| !(*noun == K::NOUN && *other == name))
            .map(|(noun, other)| match *noun {
                "policy" => format!("[policies.{other}]\ndocument = {{ Version = \"2012-10-17\", Statement = [{{ Effect = \"Allow\", Action = \"s3:Get*\", Resource = \"*\" }}] }}\n"),
                _ => format!("[groups.{other}]\n"),
            })
            .collect();
        std::fs::write(root.join("dev/others.toml"), others).unwrap();
        let env: crate::config::Environment = toml::from_str("region = \"us-east-1\"").unwrap();
        let known: BTreeSet<(&'static str, String)> =
            known.iter().map(|(k, n)| (*k, n.to_string())).collect();
        let context = ImportContext {
            env: &env,
            known: &known,
            variables: Default::default(),
        };
        let imported = Kind::import(kind, name, &live, &context);
        let mut table = toml::Table::new();
        table.insert(name.to_string(), toml::Value::Table(imported.declaration));
        let mut document = toml::Table::new();
        document.insert(K::TABLE.to_string(), toml::Value::Table(table));
        std::fs::write(
            root.join("dev/imported.toml"),
            toml::to_string(&document).unwrap(),
        )
        .unwrap();
        for (path, json) in imported.files {
            let path = root.join("dev").join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, json.to_string()).unwrap();
        }
        let options = LoadOptions {
            dir: &root,
            environments: &[],
            env_vars: EnvVars::Given(&[]),
        };
        let registry = kinds::registry();
        let desired = load::load(&options, &registry).unwrap_or_else(|e| panic!("{e}"));
        let declared = desired.environments[0]
            .resources
            .iter()
            .find(|r| r.kind == K::NOUN && r.name == name)
            .expect("imported and loaded")
            .clone();
        let live = live_resource(kind, Live::new(name, live));
        let dyn_kind: &dyn DynKind = kind;
        let spec = declared
            .payload
            .as_ref()
            .and_then(|p| p.get::<K::Spec>())
            .unwrap()
            .clone();
        assert!(
            engine::diff(dyn_kind, declared, live).is_none(),
            "{name}: the plan is not empty"
        );
        spec
    }

    fn parameter(type_: &'static str, value: Value) -> Parameter {
        Parameter {
            type_: type_.into(),
            value: Some(Contents::Managed(value)),
            marked_from_env: None,
            description: Some("a description".into()),
            tier: Some("Standard".into()),
            allowed_pattern: None,
            data_type: "text".into(),
            key_id: None,
            tags: Some(BTreeMap::from([("team".to_string(), "web".to_string())])),
        }
    }

    #[test]
    fn parameters_round_trip_and_secrets_stay_out() {
        let plain = parameter("String", Value::text("on"));
        let back = round_trip(&Parameters, "/dev/app/flag", plain.clone(), &[]);
        assert_eq!(back.value, plain.value);
        assert_eq!(back.tags, plain.tags);

        let list = parameter("StringList", Value::Plain(json!(["a", "b"])));
        assert_eq!(
            round_trip(&Parameters, "/dev/app/list", list.clone(), &[]).value,
            list.value
        );

        let mut secret = parameter("SecureString", Value::Secret(Secret::new("canary-round-trip")));
        secret.key_id = Some("alias/custom".into());
        let back = round_trip(&Parameters, "/dev/app/db/password", secret, &[]);
        assert_eq!(back.value, None, "not written, not compared");
        assert_eq!(back.key_id.as_deref(), Some("alias/custom"));
    }

    #[test]
    fn iam_round_trips_with_documents_in_files() {
        let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get*"], "Resource": ["*"]}]});
        let policy = Policy {
            description: Some("read".into()),
            document: document.clone(),
        };
        assert_eq!(round_trip(&Policies, "read", policy.clone(), &[]), policy);

        let permissions = Permissions {
            managed_policies: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
            policies: vec!["read".into()],
            inline_policies: BTreeMap::from([("own".to_string(), document)]),
        };
        let group = Group {
            permissions: permissions.clone(),
        };
        assert_eq!(
            round_trip(&Groups, "ops", group.clone(), &[("policy", "read")]),
            group
        );

        let user = User {
            groups: vec!["ops".into(), "outside".into()],
            tags: BTreeMap::from([("team".to_string(), "web".to_string())]),
            permissions,
        };
        let known = [("policy", "read"), ("group", "ops")];
        assert_eq!(round_trip(&Users, "alice", user.clone(), &known), user);
    }

    #[test]
    fn cloudwatch_and_budgets_round_trip() {
        let topic = Topic {
            display_name: Some("alerts".into()),
            policy: Some(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sns:Publish"], "Resource": ["*"]}]}),
            ),
            tags: Some(BTreeMap::from([("team".to_string(), "sre".to_string())])),
            subscriptions: vec![Subscription {
                protocol: "email".into(),
                endpoint: "ops@example.com".into(),
            }],
        };
        assert_eq!(round_trip(&Topics, "app-alerts", topic.clone(), &[]), topic);

        let dashboard = Dashboard {
            body: json!({"widgets": [{"type": "text", "x": 0}]}),
        };
        assert_eq!(
            round_trip(&Dashboards, "app-main", dashboard.clone(), &[]),
            dashboard
        );

        let alarm_toml = r#"
            namespace = "AWS/RDS"
            metric = "CPUUtilization"
            dimensions = { DBInstanceIdentifier = "db" }
            statistic = "Average"
            period = 300
            evaluation_periods = 2
            threshold = 80.5
            comparison = "GreaterThanThreshold"
            treat_missing_data = "breaching"
            actions_enabled = false
            tags = { team = "data" }
        "#;
        let alarm = AlarmSpec::Metric(crate::kinds::cloudwatch::alarm::tests::declared(alarm_toml));
        assert_eq!(round_trip(&Alarms, "app-cpu", alarm.clone(), &[]), alarm);
        let composite = AlarmSpec::Composite(Composite {
            description: Some("both".into()),
            rule: r#"ALARM("app-cpu") AND NOT OK("app-mem")"#.into(),
            alarm_actions: vec!["arn:aws:sns:us-east-1:123456789012:alerts".into()],
            ok_actions: Vec::new(),
            insufficient_data_actions: Vec::new(),
            actions_enabled: true,
            actions_suppressor: Some("app-maintenance".into()),
            actions_suppressor_wait_period: Some(60),
            actions_suppressor_extension_period: Some(120),
            tags: None,
        });
        assert_eq!(round_trip(&Alarms, "app-both", composite.clone(), &[]), composite);

        let budget = crate::kinds::budgets::budget::tests::declared(
            r#"
            budget_type = "COST"
            time_unit = "MONTHLY"
            limit = { amount = "100.5", unit = "USD" }
            cost_filters = { Service = ["Amazon RDS"] }
            [[notifications]]
            notification_type = "FORECASTED"
            comparison = "GREATER_THAN"
            threshold = 90.0
            emails = ["a@x.io"]
            "#,
        );
        assert_eq!(round_trip(&Budgets, "app-monthly", budget.clone(), &[]), budget);
    }
}
