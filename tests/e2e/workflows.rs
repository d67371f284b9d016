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
    assert_eq!(
        names,
        ["apply.yml", "ci.yml", "drift.yml", "plan.yml", "release.yml"]
    );
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
    let args = [
        "--offline",
        "--config",
        ".github/zizmor.yml",
        ".github/workflows",
        "action.yml",
    ];
    let (ok, output) = run_tool("zizmor", &args);
    assert!(ok, "zizmor:\n{output}");
    assert!(output.contains("No findings to report"), "{output}");
}

/// A release directory as the release workflow publishes it, for this runner's target
/// (Linux x86_64 as the test says, whatever the machine): the archive holding a plumb
/// binary, and SHA256SUMS.
struct Release {
    dir: tempfile::TempDir,
}

const TARGET_ARCHIVE: &str = "plumb-x86_64-unknown-linux-musl.tar.gz";

impl Release {
    fn new() -> Release {
        Release::with(|staging| {
            std::fs::copy(env!("CARGO_BIN_EXE_plumb"), staging.join("plumb")).unwrap();
        })
    }

    /// A release whose archive holds what `fill` puts in its staging folder.
    fn with(fill: impl FnOnce(&std::path::Path)) -> Release {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("staging");
        std::fs::create_dir(&staging).unwrap();
        fill(&staging);
        let tar = Command::new("tar")
            .arg("-czf")
            .arg(dir.path().join(TARGET_ARCHIVE))
            .args(["-C", &staging.display().to_string(), "plumb"])
            .status()
            .unwrap();
        assert!(tar.success());
        let release = Release { dir };
        let sum = release.sha256_of_archive();
        release.write_sums(&format!(
            "{sum}  {TARGET_ARCHIVE}\n0000  plumb-aarch64-apple-darwin.tar.gz\n"
        ));
        release
    }

    fn sha256_of_archive(&self) -> String {
        use sha2::{Digest, Sha256};
        let bytes = std::fs::read(self.dir.path().join(TARGET_ARCHIVE)).unwrap();
        format!("{:x}", Sha256::digest(bytes))
    }

    fn write_sums(&self, text: &str) {
        std::fs::write(self.dir.path().join("SHA256SUMS"), text).unwrap();
    }

    fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }
}

/// A runner: the action's install step (scripts/install-plumb, as action.yml runs it) with
/// the variables GitHub sets.
struct Runner {
    home: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        Runner {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn install(&self, release: &Release, pinned: &str) -> (bool, String) {
        let output = Command::new("bash")
            .arg(repo_root().join("scripts/install-plumb"))
            .env("PLUMB_VERSION", env!("CARGO_PKG_VERSION"))
            .env("PLUMB_SHA256", pinned)
            .env("PLUMB_RELEASE_URL", release.url())
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TOOL_CACHE", self.home.path().join("tool-cache"))
            .env("GITHUB_PATH", self.home.path().join("github-path"))
            .env("GITHUB_OUTPUT", self.home.path().join("github-output"))
            .output()
            .unwrap();
        let text =
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    }

    fn path_entries(&self) -> String {
        std::fs::read_to_string(self.home.path().join("github-path")).unwrap_or_default()
    }

    fn installed(&self) -> std::path::PathBuf {
        let version = env!("CARGO_PKG_VERSION");
        self.home
            .path()
            .join(format!("tool-cache/plumb/{version}/x86_64-unknown-linux-musl"))
    }
}

#[test]
fn the_action_runs_the_tested_install_script() {
    let action = std::fs::read_to_string(repo_root().join("action.yml")).unwrap();
    assert!(action.contains("using: composite"));
    assert!(action.contains(r#"run: '"$GITHUB_ACTION_PATH/scripts/install-plumb"'"#));
    assert!(action.contains(r#"run: '"$GITHUB_ACTION_PATH/scripts/install-plumb" --where'"#));
}

#[test]
fn the_action_installs_a_release_whose_checksum_matches() {
    let release = Release::new();
    let runner = Runner::new();
    let (ok, output) = runner.install(&release, "");
    assert!(ok, "{output}");
    let bin = runner.installed().join("bin");
    assert_eq!(runner.path_entries(), format!("{}\n", bin.display()));
    let version = Command::new(bin.join("plumb")).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("plumb {}\n", env!("CARGO_PKG_VERSION"))
    );

    // Pinned to the archive's own checksum: the same.
    let (ok, output) = Runner::new().install(&release, &release.sha256_of_archive());
    assert!(ok, "{output}");
}

#[test]
fn a_wrong_checksum_installs_nothing() {
    let release = Release::new();
    release.write_sums(&format!("{}  {TARGET_ARCHIVE}\n", "ab".repeat(32)));
    let runner = Runner::new();
    let (ok, output) = runner.install(&release, "");
    assert!(!ok);
    assert!(output.contains("checksum mismatch"), "{output}");
    assert_eq!(runner.path_entries(), "", "nothing put on PATH");
    assert!(!runner.installed().join("bin/plumb").exists());
    assert!(
        !runner.installed().join(TARGET_ARCHIVE).exists(),
        "the download is not kept"
    );
}

#[test]
fn a_pinned_checksum_the_release_does_not_list_installs_nothing() {
    let release = Release::new();
    let runner = Runner::new();
    let (ok, output) = runner.install(&release, &"cd".repeat(32));
    assert!(!ok);
    assert!(output.contains("the pinned sha256 is"), "{output}");
    assert_eq!(runner.path_entries(), "");

    release.write_sums("0000  plumb-aarch64-apple-darwin.tar.gz\n");
    let (ok, output) = runner.install(&release, "");
    assert!(!ok);
    assert!(
        output.contains("lists no plumb-x86_64-unknown-linux-musl.tar.gz"),
        "{output}"
    );
}

/// The action caches the install folder; a cache entry that was tampered with (the archive
/// swapped) must not become the binary on PATH.
#[test]
fn a_tampered_cached_archive_is_downloaded_again() {
    let release = Release::new();
    let runner = Runner::new();
    assert!(runner.install(&release, "").0);
    let cached = runner.installed().join(TARGET_ARCHIVE);
    std::fs::write(&cached, b"not the release").unwrap();
    let (ok, output) = runner.install(&release, "");
    assert!(ok, "{output}");
    let bytes = std::fs::read(&cached).unwrap();
    assert_eq!(
        bytes,
        std::fs::read(release.dir.path().join(TARGET_ARCHIVE)).unwrap()
    );
}

/// The plan, apply and drift paths install the released binary; they never compile plumb.
#[test]
fn the_plumb_workflows_install_plumb_instead_of_building_it() {
    for name in ["plan.yml", "apply.yml", "drift.yml"] {
        let text = std::fs::read_to_string(repo_root().join(".github/workflows").join(name)).unwrap();
        assert!(!text.contains("cargo build"), "{name} builds plumb");
        assert!(text.contains("uses: ./"), "{name} installs plumb with the action");
        assert!(
            text.contains("plumb environments"),
            "{name} builds its matrix from plumb.toml"
        );
    }
}

/// A release whose `plumb` is a symlink (a compromised build, its checksum listed) must not
/// make the link's target executable or run it.
#[test]
fn an_archive_whose_plumb_is_a_symlink_installs_nothing() {
    let release = Release::with(|staging| {
        std::os::unix::fs::symlink("/bin/true", staging.join("plumb")).unwrap();
    });
    let runner = Runner::new();
    let (ok, output) = runner.install(&release, "");
    assert!(!ok);
    assert!(output.contains("plumb is not a regular file"), "{output}");
    assert_eq!(runner.path_entries(), "");
}
