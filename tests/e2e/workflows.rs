//! The GitHub Actions workflows pass actionlint and zizmor (installed from PyPI into the test
//! tools' environment by emulator/setup).

use std::process::Command;

use crate::support::{repo_root, tools_python};

fn run_tool(tool: &str, args: &[&str]) -> (bool, String) {
    let bin = tools_python().parent().expect("the venv's bin folder").join(tool);
    let output = Command::new(&bin)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn workflows() -> Vec<String> {
    let dir = repo_root().join(".github/workflows");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("workflows")
        .flatten()
        .map(|e| e.path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_workflows_are_all_there() {
    let names: Vec<String> = workflows()
        .iter()
        .map(|p| p.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["apply.yml", "ci.yml", "drift.yml", "plan.yml"]);
}

#[test]
fn actionlint_finds_nothing() {
    let files = workflows();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let (ok, output) = run_tool("actionlint", &args);
    assert!(ok, "actionlint:\n{output}");
}

#[test]
fn zizmor_finds_nothing() {
    let (ok, output) = run_tool("zizmor", &["--offline", ".github/workflows"]);
    assert!(ok, "zizmor:\n{output}");
    assert!(output.contains("No findings to report"), "{output}");
}
