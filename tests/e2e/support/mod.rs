//! The test harness: a real AWS emulator (moto's server plus plumb's extensions in
//! `emulator/server.py`), one per test binary, and a [`World`] per test: its own AWS account
//! (through the access key, so tests never see each other), its own `desired/` in a temporary
//! folder, and the real `plumb` binary run against both.

pub mod github;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::BehaviorVersion;
use tempfile::TempDir;

pub const REGION: &str = "us-east-1";

pub struct Emulator {
    pub endpoint: String,
    port: u16,
    // Held so the server lives as long as the test binary: when the binary exits, the pipe to
    // the server's stdin closes and the server exits too.
    _child: Child,
}

/// The emulator of this test binary, started on first use (installing moto when missing).
pub fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(start_emulator)
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of the test tools' virtual environment (moto, the workflow linters), installed
/// by `emulator/setup` when missing.
pub fn tools_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let setup = Command::new("bash")
            .arg(repo_root().join("emulator/setup"))
            .arg("--test-tools")
            .stderr(Stdio::inherit())
            .output()
            .expect("cannot run emulator/setup");
        assert!(setup.status.success(), "emulator/setup failed");
        PathBuf::from(String::from_utf8(setup.stdout).expect("utf-8 path").trim())
    })
}

fn start_emulator() -> Emulator {
    let root = repo_root();
    let python = tools_python();
    let mut child = Command::new(python)
        .arg(root.join("emulator/server.py"))
        .args(["--port", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start the emulator");
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut first_line)
        .expect("emulator did not start");
    let port: u16 = first_line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("emulator said {first_line:?}, expected `PORT n`"));
    Emulator {
        endpoint: format!("http://127.0.0.1:{port}"),
        port,
        _child: child,
    }
}

/// What one run of `plumb` gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl World {
    /// `text` as a snapshot keeps it, without what changes from run to run: the world's
    /// temporary folder (`[WORLD]`), its account (`[ACCOUNT]`), loopback ports (`[PORT]`)
    /// and plan digests (`[DIGEST]`: they cover the account and AWS's timestamps).
    pub fn anonymised(&self, text: &str) -> String {
        static LOOPBACK: OnceLock<regex::Regex> = OnceLock::new();
        static DIGEST: OnceLock<regex::Regex> = OnceLock::new();
        let loopback = LOOPBACK.get_or_init(|| regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap());
        let digest = DIGEST.get_or_init(|| regex::Regex::new(r"sha256:[0-9a-f]{64}").unwrap());
        let text = text
            .replace(&self.dir.path().display().to_string(), "[WORLD]")
            .replace(&self.account, "[ACCOUNT]");
        let text = loopback.replace_all(&text, "127.0.0.1:[PORT]");
        digest.replace_all(&text, "sha256:[DIGEST]").into_owned()
    }

    /// What a person sees of a run (exit code, stdout, stderr), anonymised for a snapshot.
    pub fn shown(&self, run: &Run) -> String {
        let text = format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            run.code, run.stdout, run.stderr
        );
        self.anonymised(&text)
    }
}

/// `toml` with the budget `from` declared as `to`, `renamed_from` it (notifications too).
pub fn renamed_budget(toml: &str, from: &str, to: &str) -> String {
    toml.replace(
        &format!("[budgets.\"{from}\"]"),
        &format!("[budgets.\"{to}\"]\nrenamed_from = \"{from}\""),
    )
    .replace(
        &format!("budgets.\"{from}\".notifications"),
        &format!("budgets.\"{to}\".notifications"),
    )
}

/// The commands of a story and what a person saw of each (exit code, stdout, stderr), for
/// one snapshot of the whole story.
#[derive(Default)]
pub struct Transcript(String);

impl Transcript {
    pub fn plumb(&mut self, world: &World, args: &[&str]) -> Run {
        let run = world.plumb(args);
        self.0 += &format!("$ plumb {}\n{}\n", args.join(" "), world.shown(&run));
        run
    }

    /// A step the commands do not show (a hand edit in AWS, say), in the story's words.
    pub fn note(&mut self, what: &str) {
        self.0 += &format!("# {what}\n\n");
    }

    pub fn text(&self) -> &str {
        &self.0
    }
}

/// One test's account and desired/ folder.
pub struct World {
    pub account: String,
    pub dir: TempDir,
    pub env_vars: BTreeMap<String, String>,
}

impl World {
    /// A world with a fresh account and an empty `desired/`.
    pub fn new() -> World {
        // Distinct per test within this binary; the emulator is this binary's own.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        World {
            account: format!("{:012}", 200_000_000_000u64 + n),
            dir: tempfile::tempdir().expect("temp dir"),
            env_vars: BTreeMap::new(),
        }
    }

    /// A world whose `desired/plumb.toml` has one environment `dev` in this world's account,
    /// owning `/dev/app/`.
    pub fn with_dev_env() -> World {
        let world = World::new();
        world.plumb_toml("");
        world
    }

    /// Writes plumb.toml for environment `dev`, with `extra` lines in its table. It owns the
    /// parameters under `/dev/app/`, the IAM resources under `/app/`, and the alarms and
    /// dashboards and budgets named `app-*`.
    pub fn plumb_toml(&self, extra: &str) {
        let scope = "parameter_paths = [\"/dev/app/\"]\niam_path = \"/app/\"\n\
                     alarm_prefixes = [\"app-\"]\ndashboard_prefixes = [\"app-\"]\n\
                     budget_prefixes = [\"app-\"]\n";
        self.plumb_toml_with_scope(extra, scope);
    }

    /// Writes plumb.toml for environments `dev` and `prod` in this world's account, owning the
    /// parameters under `/dev/app/` and `/prod/app/`.
    pub fn plumb_toml_dev_and_prod(&self) {
        let account = &self.account;
        self.write(
            "desired/plumb.toml",
            &format!(
                "[environments.dev]\naccount_id = \"{account}\"\nregion = \"{REGION}\"\n\
                 [environments.dev.scope]\nparameter_paths = [\"/dev/app/\"]\n\
                 [environments.prod]\naccount_id = \"{account}\"\nregion = \"{REGION}\"\n\
                 [environments.prod.scope]\nparameter_paths = [\"/prod/app/\"]\n"
            ),
        );
    }

    /// Writes plumb.toml for environment `dev` with the given `[environments.dev.scope]` body.
    pub fn plumb_toml_with_scope(&self, extra: &str, scope: &str) {
        self.write(
            "desired/plumb.toml",
            &format!(
                "[environments.dev]\naccount_id = \"{}\"\nregion = \"{REGION}\"\n{extra}\n\
                 [environments.dev.scope]\n{scope}",
                self.account
            ),
        );
        std::fs::create_dir_all(self.path("desired/dev")).expect("mkdir");
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, content: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }

    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env_vars.insert(name.into(), value.into());
    }

    pub fn access_key(&self) -> String {
        format!("AKIDTEST{}", self.account)
    }

    /// Runs the real `plumb` binary in this world's folder, against the emulator.
    pub fn plumb(&self, args: &[&str]) -> Run {
        self.run_plumb(args, Some(&emulator().endpoint))
    }

    /// Asserts that live AWS matches desired/: `plan --detailed-exitcode` exits 0.
    #[track_caller]
    pub fn assert_converged(&self) {
        self.plumb(&["plan", "--detailed-exitcode"]).expect_code(0);
    }

    /// Runs `plumb` with no emulator: any AWS call would fail.
    pub fn plumb_offline(&self, args: &[&str]) -> Run {
        self.run_plumb(args, None)
    }

    /// Runs `plumb` offline from a folder inside the world (`desired/dev`, say).
    pub fn plumb_offline_in(&self, folder: &str, args: &[&str]) -> Run {
        let output = self
            .command(args, None)
            .current_dir(self.path(folder))
            .output()
            .expect("cannot run plumb");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `plumb` against another endpoint (a server that never answers, say).
    pub fn plumb_at(&self, endpoint: &str, args: &[&str]) -> Run {
        self.run_plumb(args, Some(endpoint))
    }

    /// Starts `plumb` against the emulator without waiting for it (signals, concurrency).
    pub fn spawn_plumb(&self, args: &[&str]) -> Child {
        self.command(args, Some(&emulator().endpoint))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start plumb")
    }

    fn run_plumb(&self, args: &[&str], endpoint: Option<&str>) -> Run {
        let output = self.command(args, endpoint).output().expect("cannot run plumb");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn command(&self, args: &[&str], endpoint: Option<&str>) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_plumb"));
        if let Some(endpoint) = endpoint {
            command.env("AWS_ENDPOINT_URL", endpoint);
        }
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_MAX_ATTEMPTS")
            .env("AWS_ACCESS_KEY_ID", self.access_key())
            .env("AWS_SECRET_ACCESS_KEY", "emulator")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("NO_COLOR", "1")
            // Each world keeps its own value cache, never the user's.
            .env("PLUMB_CACHE_DIR", self.path("cache"))
            .envs(&self.env_vars)
            .stdin(Stdio::null());
        command
    }

    /// The real SDK's configuration for this world's account, retries off.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let credentials =
            aws_sdk_ssm::config::Credentials::new(self.access_key(), "emulator", None, None, "test");
        aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&emulator().endpoint)
            .credentials_provider(credentials)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await
    }

    /// The real SDK's SSM client, in this world's account.
    pub async fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.sdk_config().await)
    }

    /// The real SDK's SSM client in another region (replicas), in this world's account.
    pub async fn ssm_in(&self, region: &str) -> aws_sdk_ssm::Client {
        let config = aws_sdk_ssm::config::Builder::from(&self.sdk_config().await)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    /// The real SDK's CloudWatch client, in this world's account.
    pub async fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk_config().await)
    }

    /// The real SDK's Budgets client, in this world's account.
    pub async fn budgets(&self) -> aws_sdk_budgets::Client {
        aws_sdk_budgets::Client::new(&self.sdk_config().await)
    }

    /// The real SDK's IAM client, in this world's account.
    pub async fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config().await)
    }

    /// The real SDK's SNS client, in this world's account.
    pub async fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk_config().await)
    }

    /// AWS calls made in this world's account, by operation.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        let body = control("GET", &format!("/_plumb/calls?account={}", self.account), "");
        serde_json::from_str(&body).expect("calls are JSON")
    }

    /// Removes this world's fault rules.
    pub fn clear_faults(&self) {
        control("DELETE", &format!("/_plumb/faults?account={}", self.account), "");
    }

    /// Faults a `random` rule injected so far in this world's account.
    pub fn injected_faults(&self) -> u64 {
        let body = control(
            "GET",
            &format!("/_plumb/faults/injected?account={}", self.account),
            "",
        );
        body.trim().parse().expect("a count")
    }

    /// Calls a `quota` rule throttled so far in this world's account.
    pub fn throttled_calls(&self) -> u64 {
        let body = control(
            "GET",
            &format!("/_plumb/faults/throttled?account={}", self.account),
            "",
        );
        body.trim().parse().expect("a count")
    }

    /// An account of this world's own besides its main one (a role to assume there, say).
    pub fn other_account(&self) -> String {
        format!("3{}", &self.account[1..])
    }

    /// Adds a fault rule for [`World::other_account`].
    pub fn fault_in_other_account(&self, mut rule: serde_json::Value) {
        rule["account"] = serde_json::Value::String(self.other_account());
        control("POST", "/_plumb/faults", &rule.to_string());
    }

    /// Adds a fault rule (see emulator/server.py) for this world's account.
    pub fn fault(&self, mut rule: serde_json::Value) {
        rule["account"] = serde_json::Value::String(self.account.clone());
        control("POST", "/_plumb/faults", &rule.to_string());
    }

    /// Writes `count` String parameters `{prefix}{i}` straight into the emulator's store.
    pub fn seed_parameters(&self, prefix: &str, count: usize) {
        let parameters: Vec<_> = (0..count)
            .map(|i| serde_json::json!({ "name": format!("{prefix}{i}"), "value": format!("value-{i}") }))
            .collect();
        let body = serde_json::json!({ "account": self.account, "region": REGION, "parameters": parameters });
        control("POST", "/_plumb/seed/ssm", &body.to_string());
    }

    /// Every file under the world's folder, as text, for secret scans.
    pub fn all_files_text(&self) -> String {
        let mut text = String::new();
        collect_text(self.dir.path(), &mut text);
        text
    }
}

fn collect_text(dir: &Path, text: &mut String) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_text(&path, text);
        } else if let Ok(content) = std::fs::read_to_string(&path) {
            text.push_str(&content);
        }
    }
}

/// Waits for a spawned `plumb` to end and collects what it printed.
pub fn finish(child: Child) -> Run {
    let output = child.wait_with_output().expect("plumb ran");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Sends `signal` (`INT`, `TERM`) to a spawned process.
pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} failed");
}

/// A request to the emulator's control API (plain HTTP/1.0: no client library needed).
fn control(method: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", emulator().port)).expect("emulator is up");
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.contains(" 200 "), "control call {path} failed: {head}");
    body.to_string()
}
