//! What plumb ships besides its commands: JSON Schemas for editors, shell completions, a man
//! page. The schemas are checked with a real validator (Python's `jsonschema`, from the test
//! tools' environment), on the example desired/ and on the mistakes editors should catch.

use std::process::Command;

use crate::support::{World, repo_root, tools_python};

/// Validates TOML files against a schema; prints one line per problem, exits 1 if any.
const VALIDATE: &str = r#"
import json, sys, tomllib
from jsonschema import Draft7Validator
validator = Draft7Validator(json.load(open(sys.argv[1])))
bad = 0
for path in sys.argv[2:]:
    for error in validator.iter_errors(tomllib.load(open(path, "rb"))):
        bad += 1
        print(f"{path}: {'.'.join(map(str, error.absolute_path))}: {error.message}")
sys.exit(1 if bad else 0)
"#;

/// The schema `plumb schema <of>` prints, written to the world's folder; its path.
fn schema(world: &World, of: &str) -> String {
    let run = world.plumb_offline(&["schema", of]);
    run.expect_code(0);
    let path = format!("{of}.schema.json");
    world.write(&path, &run.stdout);
    world.path(&path).display().to_string()
}

fn validate(schema: &str, files: &[String]) -> (bool, String) {
    let output = Command::new(tools_python())
        .args(["-c", VALIDATE, schema])
        .args(files)
        .output()
        .expect("python runs");
    let text =
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

fn example_files() -> (Vec<String>, String) {
    let desired = repo_root().join("desired");
    let mut files = Vec::new();
    let mut folders = vec![desired.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "toml")
                && path.file_name() != Some("plumb.toml".as_ref())
            {
                files.push(path.display().to_string());
            }
        }
    }
    files.sort();
    (files, desired.join("plumb.toml").display().to_string())
}

#[test]
fn the_example_desired_folder_validates_against_the_schemas() {
    let world = World::new();
    let (files, config) = example_files();
    assert!(files.len() >= 8, "the example's files: {files:?}");
    let (ok, problems) = validate(&schema(&world, "resources"), &files);
    assert!(ok, "{problems}");
    let (ok, problems) = validate(&schema(&world, "config"), &[config]);
    assert!(ok, "{problems}");
}

#[test]
fn the_schemas_catch_a_misspelt_field_a_wrong_value_and_an_unknown_table() {
    let world = World::new();
    world.write(
        "typo.toml",
        "[alarms.cpu]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\nstatistic = \"Average\"\n\
         period = 60\nevaluation_periods = 1\nthreshold = 80.0\ncomparison = \"GreaterThan\"\n\
         descripton = \"CPU\"\n\n[parameter.\"/dev/x\"]\nvalue = \"1\"\n",
    );
    world.write(
        "plumb.toml",
        "[environments.dev]\nregion = \"us-east-1\"\n[environments.dev.scope]\nparameter_path = [\"/dev/\"]\n",
    );
    let resources = schema(&world, "resources");
    let (ok, problems) = validate(&resources, &[world.path("typo.toml").display().to_string()]);
    assert!(!ok);
    assert!(problems.contains("'descripton' was unexpected"), "{problems}");
    assert!(
        problems.contains("alarms.cpu.comparison: 'GreaterThan' is not one of"),
        "{problems}"
    );
    assert!(problems.contains("'parameter' was unexpected"), "{problems}");
    let (ok, problems) = validate(
        &schema(&world, "config"),
        &[world.path("plumb.toml").display().to_string()],
    );
    assert!(!ok);
    assert!(problems.contains("'parameter_path' was unexpected"), "{problems}");
}

/// Editors read the copies in schema/ (see .taplo.toml): they must be what plumb prints.
#[test]
fn the_schema_files_editors_read_are_current() {
    let world = World::new();
    for (of, file) in [
        ("resources", "schema/resources.json"),
        ("config", "schema/plumb.json"),
    ] {
        let printed = world.plumb_offline(&["schema", of]).stdout;
        let committed = std::fs::read_to_string(repo_root().join(file)).unwrap();
        assert!(
            printed == committed,
            "{file} is stale: run `plumb schema {of} > {file}`"
        );
        let taplo = std::fs::read_to_string(repo_root().join(".taplo.toml")).unwrap();
        assert!(
            taplo.contains(&format!("\"./{file}\"")),
            ".taplo.toml points at {file}"
        );
    }
}

#[test]
fn every_field_in_the_schemas_is_described() {
    let world = World::new();
    for of in ["resources", "config"] {
        let schema: serde_json::Value =
            serde_json::from_str(&world.plumb_offline(&["schema", of]).stdout).unwrap();
        let mut undescribed = Vec::new();
        undescribed_fields(&schema, "", &mut undescribed);
        assert!(
            undescribed.is_empty(),
            "fields without a description in `{of}`: {undescribed:?}"
        );
    }
}

/// Properties without a `description`, as dotted paths. A property whose schema is a
/// reusable type (a limit, a period) carries the type's description.
fn undescribed_fields(schema: &serde_json::Value, at: &str, found: &mut Vec<String>) {
    if let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) {
        for (name, property) in properties {
            let path = format!("{at}.{name}");
            if property.get("description").is_none() {
                found.push(path.clone());
            }
            undescribed_fields(property, &path, found);
        }
    }
    for key in ["additionalProperties", "items"] {
        if let Some(inner) = schema.get(key) {
            undescribed_fields(inner, &format!("{at}[]"), found);
        }
    }
    for key in ["anyOf", "oneOf"] {
        for inner in schema.get(key).and_then(|v| v.as_array()).into_iter().flatten() {
            undescribed_fields(inner, at, found);
        }
    }
}

#[test]
fn completions_generate_for_bash_zsh_and_fish() {
    let world = World::new();
    for (shell, mark) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef plumb"),
        ("fish", "complete -c plumb"),
    ] {
        let run = world.plumb_offline(&["completions", shell]);
        run.expect_code(0);
        assert!(run.stdout.contains(mark), "{shell}: {}", run.stdout);
        for command in ["plan", "apply", "drift", "import", "environments"] {
            assert!(run.stdout.contains(command), "{shell} completes `{command}`");
        }
    }
}

#[test]
fn the_man_page_lists_the_commands() {
    let world = World::new();
    let run = world.plumb_offline(&["manpage"]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with(".ie \\n(.g .ds Aq") || run.stdout.contains(".TH plumb"),
        "{}",
        &run.stdout[..200.min(run.stdout.len())]
    );
    for command in ["plan", "apply", "drift", "import", "environments", "schema"] {
        assert!(run.stdout.contains(command), "the man page names `{command}`");
    }
    // The release ships one page per command, which the main page's SEE ALSO names.
    let run = world.plumb_offline(&["manpage", "--out-dir", "man"]);
    run.expect_code(0);
    let plan = std::fs::read_to_string(world.path("man/plumb-plan.1")).unwrap();
    assert!(
        plan.contains("without\\-secrets"),
        "the plan page documents its flags"
    );
    assert!(world.path("man/plumb.1").exists());
}
