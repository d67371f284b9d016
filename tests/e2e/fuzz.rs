//! Property tests over what plumb reads from people: the loader (`desired/` TOML and the JSON
//! files it points at) and the plan-file reader. Whatever the input, plumb never panics, never
//! hangs, and every rejection of `desired/` names a file and line.
//!
//! The normal suite runs a bounded number of cases per property (64); a longer soak sets
//! `PLUMB_FUZZ_CASES` (see CONTRIBUTING.md, and BENCHMARKS.md for the recorded runs).

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use plumb::kinds::registry;
use plumb::load::{EnvVars, LoadOptions, load};
use plumb::plan::{digest, parse_plan_file};

use crate::support::repo_root;

const PLUMB_TOML: &str = "[environments.dev]\nregion = \"us-east-1\"\naccount_id = \"123456789012\"\n\
    [environments.dev.vars]\napp = \"mono-repo\"\nrds_cpu_threshold = 90\nmonthly_budget = \"100\"\n\
    [environments.dev.scope]\n\
    parameter_paths = [\"/dev/mono-repo/\"]\niam_path = \"/mono-repo/\"\nalarm_prefixes = [\"mono-repo-dev-\"]\n\
    dashboard_prefixes = [\"mono-repo-dev-\"]\nbudget_prefixes = [\"mono-repo-dev-\"]\ntopic_prefixes = [\"mono-repo-dev-\"]\n";

fn cases() -> u32 {
    std::env::var("PLUMB_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Loads `toml` as `desired/dev/a.toml` (next to the example's JSON files) and checks the
/// outcome: loaded, or every problem placed at a file and line.
fn check_loads(toml: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("desired");
    std::fs::create_dir_all(desired.join("dev")).unwrap();
    std::fs::write(desired.join("plumb.toml"), PLUMB_TOML).unwrap();
    std::fs::write(desired.join("dev/a.toml"), toml).unwrap();
    copy_json_files(&repo_root().join("desired/dev"), &desired.join("dev"));
    let options = LoadOptions {
        dir: &desired,
        environments: &[],
        env_vars: EnvVars::Skip,
    };
    if let Err(problems) = load(&options, &registry()) {
        prop_assert!(!problems.0.is_empty());
        for problem in &problems.0 {
            let origin = problem.origin.as_ref();
            prop_assert!(origin.is_some_and(|o| o.line >= 1), "no place: {problem}");
        }
    }
    Ok(())
}

fn copy_json_files(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            let sub = to.join(entry.file_name());
            std::fs::create_dir_all(&sub).unwrap();
            copy_json_files(&path, &sub);
        } else if path.extension().is_some_and(|e| e == "json") {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// The example's TOML files: real declarations of every kind (shared ones with placeholders,
/// which PLUMB_TOML's variables resolve), the seeds for mutation.
fn seeds() -> Vec<String> {
    [
        "dev/parameters",
        "dev/iam",
        "dev/dashboards",
        "shared/monitoring",
        "shared/budgets",
        "shared/alerts",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(repo_root().join(format!("desired/{f}.toml"))).unwrap())
    .collect()
}

/// A seed with a few edits: bytes deleted, repeated, or replaced by TOML's punctuation.
fn mutated(seeds: Vec<String>) -> impl Strategy<Value = String> {
    let edits = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            0u8..4,
            prop::sample::select(PUNCTUATION),
        ),
        1..8,
    );
    (prop::sample::select(seeds), edits).prop_map(|(seed, edits)| {
        let mut chars: Vec<char> = seed.chars().collect();
        for (at, how, c) in edits {
            if chars.is_empty() {
                break;
            }
            let i = at.index(chars.len());
            match how {
                0 => drop(chars.remove(i)),
                1 => chars.insert(i, c),
                2 => chars[i] = c,
                _ => {
                    let run: Vec<char> = chars[i..chars.len().min(i + 40)].to_vec();
                    chars.splice(i..i, run);
                }
            }
        }
        chars.into_iter().collect()
    })
}

const PUNCTUATION: &[char] = &[
    '[', ']', '{', '}', '"', '\'', '=', ',', '.', '\n', '#', '-', '/', '\\', '0', '9', 'e', ' ', 'é', '\u{0}',
];

/// Tables of plumb's kinds with fields from the spec, and values of every TOML type (nan and
/// inf included), nested a little.
fn structured() -> impl Strategy<Value = String> {
    let table = prop::sample::select(
        &[
            "parameters",
            "users",
            "groups",
            "policies",
            "alarms",
            "dashboards",
            "budgets",
            "topics",
        ][..],
    );
    let name = prop::sample::select(
        &[
            "\"/dev/mono-repo/x\"",
            "mono-repo-dev-a",
            "ops",
            "\"\"",
            "\"/dev/mono-repo/../x\"",
            "\"a\\nb\"",
        ][..],
    );
    let field = prop::sample::select(
        &[
            "value",
            "type",
            "tier",
            "tags",
            "groups",
            "document",
            "file",
            "body",
            "threshold",
            "period",
            "limit",
            "notifications",
            "protect",
            "renamed_from",
            "metrics",
            "value_from_env",
        ][..],
    );
    let leaf = prop_oneof![
        Just("nan".to_string()),
        Just("-inf".to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "[a-zA-Z0-9/._ -]{0,12}".prop_map(|s| format!("{s:?}")),
        Just("true".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("\"../../../etc/passwd\"".to_string()),
        Just("\"/dev/zero\"".to_string()),
        Just("\"/dev/stdin\"".to_string()),
        Just("\"policies/deploy.json\"".to_string()),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z]{1,6}", inner), 0..4).prop_map(|kv| format!(
                "{{ {} }}",
                kv.iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ]
    });
    let entry = (table, name, prop::collection::vec((field, value), 0..5));
    prop::collection::vec(entry, 1..4).prop_map(|entries| {
        let mut out = String::new();
        for (table, name, fields) in entries {
            out.push_str(&format!("[{table}.{name}]\n"));
            for (field, value) in fields {
                out.push_str(&format!("{field} = {value}\n"));
            }
        }
        out
    })
}

#[test]
fn the_loader_never_panics_and_every_rejection_names_a_file_and_line() {
    let mut runner = runner();
    runner
        .run(&"[\\[\\]{}\"'=,.#a-z0-9 \n/_-]{0,160}", |text| check_loads(&text))
        .unwrap();
    runner.run(&mutated(seeds()), |text| check_loads(&text)).unwrap();
    runner.run(&structured(), |text| check_loads(&text)).unwrap();
}

/// Arbitrary JSON, shaped like a plan now and then.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z:0-9 ]{0,10}".prop_map(serde_json::Value::from),
        Just(serde_json::json!(1)),
        Just(serde_json::json!("sha256:00")),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop::sample::select(
                    &[
                        "format_version",
                        "plumb_version",
                        "digest",
                        "summary",
                        "environments",
                        "environment",
                        "region",
                        "changes",
                        "action",
                        "kind",
                        "name",
                        "fields",
                        "x"
                    ][..]
                ),
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

fn check_plan_text(text: &str) -> Result<(), TestCaseError> {
    if let Ok(plan) = parse_plan_file(text) {
        prop_assert_eq!(
            &plan.digest,
            &digest(&plan.environments),
            "accepted only when it hashes to its digest"
        );
    }
    Ok(())
}

#[test]
fn the_plan_file_reader_never_panics_and_accepts_only_what_hashes_to_its_digest() {
    let mut runner = runner();
    runner
        .run(&json_value(), |value| check_plan_text(&value.to_string()))
        .unwrap();
    runner
        .run(&mutated(seed_plans()), |text| check_plan_text(&text))
        .unwrap();
}

/// Plans as plumb writes them: every action, fields with and without values.
fn seed_plans() -> Vec<String> {
    use plumb::plan::{Action, Change, EnvPlan, FieldChange, Plan};
    let change = |action, name: &str, fields: Vec<FieldChange>| Change {
        action,
        kind: "parameter".into(),
        name: name.into(),
        fields,
        reason: Some("why".into()),
        computed_against: Some("version 3".into()),
        source: None,
    };
    let field =
        |before: Option<serde_json::Value>, after: Option<serde_json::Value>, sensitive| FieldChange {
            field: "value".into(),
            before,
            after,
            sensitive,
        };
    let changes = vec![
        change(
            Action::Delete,
            "/dev/a",
            vec![field(Some("old".into()), None, false)],
        ),
        change(Action::Replace, "/dev/b", vec![field(None, None, true)]),
        change(
            Action::Create,
            "/dev/c",
            vec![field(None, Some(serde_json::json!({"widgets": [1, 2.5]})), false)],
        ),
        change(
            Action::Update,
            "/dev/d",
            vec![field(Some("1".into()), Some("2".into()), false)],
        ),
    ];
    let env = EnvPlan {
        environment: "dev".into(),
        replica: false,
        account_id: Some("123456789012".into()),
        region: "us-east-1".into(),
        changes,
        notes: vec!["a note".into()],
    };
    [
        vec![env.clone()],
        vec![
            env.clone(),
            EnvPlan {
                environment: "prod".into(),
                ..env
            },
        ],
    ]
    .into_iter()
    .map(|envs| serde_json::to_string_pretty(&Plan::new(envs)).unwrap())
    .collect()
}
