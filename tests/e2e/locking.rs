//! Apply under pressure: a second apply on the same environment, a signal mid-apply, an
//! endpoint that never answers. Each ends in a clear message and nothing lost.

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use aws_sdk_ssm::types::ParameterType;
use serde_json::json;

use crate::support::{self, World};

const LOCK: &str = "/plumb/lock/dev";
/// A short lock time for the renewal tests: renewed every 2 s, each call on the lock given
/// 2 s, a renewal not landed 5 s after the last one stops the apply.
const LOCK_TTL: &str = "8";

/// A world with `count` parameters to create, each PutParameter slowed to `delay_ms`.
fn slow_world(count: usize, delay_ms: u64) -> World {
    let world = World::new();
    world.plumb_toml("ssm_put_rate = 1000");
    let mut toml = String::new();
    for i in 0..count {
        toml.push_str(&format!("[parameters.\"/dev/app/p{i:03}\"]\nvalue = \"v{i}\"\n"));
    }
    world.write("desired/dev/a.toml", &toml);
    world.fault(json!({"operation": "PutParameter", "kind": "latency", "delay_ms": delay_ms}));
    world
}

/// A slow world whose lock lives [`LOCK_TTL`], and an apply of it that has started writing.
fn long_apply(count: usize, delay_ms: u64) -> (World, std::process::Child) {
    let mut world = slow_world(count, delay_ms);
    world.set_env("PLUMB_LOCK_TTL", LOCK_TTL);
    let apply = world.spawn_plumb(&["apply", "--auto-approve"]);
    wait_for("the apply to start writing", || puts(&world) >= 1);
    (world, apply)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn puts(world: &World) -> u64 {
    world.calls().get("PutParameter").copied().unwrap_or(0)
}

async fn live_count(world: &World) -> usize {
    let ssm = world.ssm().await;
    let mut count = 0;
    let mut pages = ssm
        .get_parameters_by_path()
        .path("/dev/app")
        .recursive(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        count += page.unwrap().parameters.unwrap_or_default().len();
    }
    count
}

/// Writes a lock as another apply (or a hand) would have left it.
async fn hold_lock(world: &World, holder: &serde_json::Value) {
    let ssm = world.ssm().await;
    let put = ssm
        .put_parameter()
        .name(LOCK)
        .value(holder.to_string())
        .r#type(ParameterType::String);
    put.send().await.unwrap();
}

async fn lock_exists(world: &World) -> bool {
    world.ssm().await.get_parameter().name(LOCK).send().await.is_ok()
}

#[tokio::test]
async fn a_second_apply_is_refused_while_the_first_holds_the_lock() {
    let world = slow_world(30, 400);
    let first = world.spawn_plumb(&["apply", "--auto-approve"]);
    wait_for("the first apply to start writing", || puts(&world) >= 1);
    let second = world.plumb(&["apply", "--auto-approve"]);
    second.expect_code(3);
    assert!(
        second
            .stderr
            .contains("environment `dev` is locked by another apply:"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("(pid "),
        "names the holder: {}",
        second.stderr
    );
    support::finish(first).expect_code(0);
    assert_eq!(puts(&world), 30, "only the first apply wrote");
    assert!(!lock_exists(&world).await, "the lock is released");
    world.assert_converged();
}

/// The lock's holder as AWS holds it now.
async fn lock_holder(world: &World) -> serde_json::Value {
    let ssm = world.ssm().await;
    let lock = ssm.get_parameter().name(LOCK).send().await.unwrap();
    serde_json::from_str(lock.parameter.unwrap().value().unwrap()).unwrap()
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An apply that runs longer than its lock's time to live renews the lock: a second apply
/// started after the first lock's original expiry finds it held, and is refused rather than
/// let through to break it and write alongside.
#[tokio::test]
async fn an_apply_longer_than_the_lock_ttl_keeps_its_lock() {
    let (world, first) = long_apply(96, 1000);
    let taken = lock_holder(&world).await;
    let first_expiry = taken["expires_at"].as_u64().unwrap();
    wait_for("the first lock's original expiry to pass", || {
        epoch_secs() > first_expiry + 1
    });

    let second = world.plumb(&["apply", "--auto-approve"]);
    second.expect_code(3);
    assert!(
        second
            .stderr
            .contains("environment `dev` is locked by another apply:"),
        "{}",
        second.stderr
    );
    let renewed = lock_holder(&world).await;
    assert_eq!(renewed["token"], taken["token"], "still the first apply's lock");
    assert!(
        renewed["expires_at"].as_u64().unwrap() > first_expiry,
        "{renewed}"
    );

    support::finish(first).expect_code(0);
    assert_eq!(live_count(&world).await, 96);
    assert!(!lock_exists(&world).await, "the lock is released");
    world.assert_converged();
}

/// A lock taken away mid-apply (`plumb unlock`): the apply notices at its next renewal and
/// stops as a signal stops it, saying why and what it did not start; the next apply finishes.
#[tokio::test]
async fn an_apply_whose_lock_is_taken_away_starts_no_new_changes() {
    let (world, apply) = long_apply(64, 1000);
    wait_for("the apply to write on", || puts(&world) >= 2);
    world.plumb(&["unlock", "--env", "dev"]).expect_code(0);

    let stopped = support::finish(apply);
    stopped.expect_code(130);
    assert!(
        stopped.stderr.contains(
            "the apply lock of `dev` is no longer this apply's (it was removed): starting no new changes"
        ),
        "{}",
        stopped.stderr
    );
    assert!(stopped.stderr.contains("not started"), "{}", stopped.stderr);
    let made = live_count(&world).await;
    assert!(made < 64, "stopped before the end: {made} made");
    assert!(!lock_exists(&world).await, "it did not take the lock back");

    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(live_count(&world).await, 64);
    world.assert_converged();
}

/// A renewal whose write is slow enough to land after the lock's expiry (when another apply
/// may have broken it and taken its own) stops the apply at the renewal's deadline, before
/// the lock expires, rather than counting it as renewed.
#[tokio::test]
async fn a_renewal_that_cannot_land_before_the_expiry_stops_the_apply() {
    let (world, apply) = long_apply(96, 1000);
    world.fault(json!({"operation": "PutParameter:lock", "kind": "latency", "delay_ms": 6000}));

    let stopped = support::finish(apply);
    stopped.expect_code(130);
    assert!(
        stopped
            .stderr
            .contains("the apply lock of `dev` could not be renewed in time"),
        "{}",
        stopped.stderr
    );
    assert!(stopped.stderr.contains("not started"), "{}", stopped.stderr);
    // Past its deadline the lock is not deleted (the delete could land after another apply
    // took it): it expires by itself, and the next apply breaks it. The emulator lands a
    // delayed renewal write 6 s after it was sent, long after plumb stopped waiting for it
    // (the network delay no lease survives): the expiry counts from there.
    world.clear_faults();
    tokio::time::sleep(Duration::from_millis(6500)).await;
    wait_for_expiry(&world).await;
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
}

/// Waits until the lock is gone or past the expiry written in it.
async fn wait_for_expiry(world: &World) {
    let start = Instant::now();
    while lock_exists(world).await {
        let expires = lock_holder(world).await["expires_at"].as_u64().unwrap();
        if epoch_secs() > expires {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the lock never expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Taking a lock whose creation gets no answer within a quarter of its time is an error
/// before anything changes: a lock created that late may already be near its expiry.
#[tokio::test]
async fn a_lock_taken_too_slowly_is_not_used() {
    let mut world = slow_world(8, 10);
    world.set_env("PLUMB_LOCK_TTL", LOCK_TTL);
    world.fault(json!({"operation": "PutParameter:lock", "kind": "latency", "delay_ms": 5000}));
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(1);
    assert!(
        apply.stderr.contains(
            "taking the apply lock of `dev` got no answer within a quarter of the lock's time: nothing was changed"
        ),
        "{}",
        apply.stderr
    );
    assert_eq!(puts(&world), 0, "no parameter written");
    // The emulator lands the delayed creation 5 s after it was sent; it then expires.
    world.clear_faults();
    tokio::time::sleep(Duration::from_millis(5500)).await;
    wait_for_expiry(&world).await;
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
}

/// An apply over two environments that waits for the second one's lock keeps renewing the
/// first: past that lock's original expiry, an apply of the first environment is refused.
#[tokio::test]
async fn locks_already_taken_are_renewed_while_the_next_is_awaited() {
    let mut world = World::new();
    world.set_env("PLUMB_LOCK_TTL", LOCK_TTL);
    world.plumb_toml_dev_and_prod();
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/k\"]\nvalue = \"d\"\n",
    );
    world.write(
        "desired/prod/a.toml",
        "[parameters.\"/prod/app/k\"]\nvalue = \"p\"\n",
    );
    // prod is held by someone else for 14 more seconds, then expires and is broken.
    let ssm = world.ssm().await;
    let held = json!({"holder": "erin@ci", "token": "t", "plan": "p",
                      "acquired_at": epoch_secs(), "expires_at": epoch_secs() + 14});
    let put = ssm
        .put_parameter()
        .name("/plumb/lock/prod")
        .value(held.to_string());
    put.r#type(ParameterType::String).send().await.unwrap();

    let lock_puts = || world.calls().get("PutParameter:lock").copied().unwrap_or(0);
    let before = lock_puts();
    let both = world.spawn_plumb(&["apply", "--auto-approve", "--lock-timeout", "60"]);
    wait_for("dev's lock to be taken", || lock_puts() > before);
    let dev_lock = lock_holder(&world).await;
    let first_expiry = dev_lock["expires_at"].as_u64().unwrap();
    wait_for("dev's original expiry to pass", || {
        epoch_secs() > first_expiry + 1
    });
    let dev_only = world.plumb(&["apply", "--auto-approve", "--env", "dev"]);
    dev_only.expect_code(3);
    assert!(
        dev_only
            .stderr
            .contains("environment `dev` is locked by another apply:"),
        "{}",
        dev_only.stderr
    );
    support::finish(both).expect_code(0);
    world.assert_converged();
}

/// When plumb stopped the apply itself (a lock it could not renew), the user's first Ctrl-C
/// is a first interrupt: the report and the lock's release, not an exit that leaves the
/// lock in place.
#[tokio::test]
async fn the_first_signal_after_a_lock_stop_is_still_a_first_signal() {
    let (world, apply) = long_apply(64, 10_000);
    let taken = lock_holder(&world).await["acquired_at"].as_u64().unwrap();
    world.fault(
        json!({"operation": "GetParameter:lock", "kind": "error", "count": 1000,
                       "status": 400, "code": "AccessDeniedException"}),
    );
    wait_for("the renewals to fail past their deadline", || {
        epoch_secs() > taken + 6
    });
    world.clear_faults();
    support::signal(&apply, "INT");

    let stopped = support::finish(apply);
    stopped.expect_code(130);
    assert!(
        stopped
            .stderr
            .contains("the apply lock of `dev` could not be renewed"),
        "{}",
        stopped.stderr
    );
    assert!(!stopped.stderr.contains("Second interrupt"), "{}", stopped.stderr);
    assert!(stopped.stderr.contains("not started"), "{}", stopped.stderr);
    assert!(
        stopped.stderr.contains("it is left to expire by itself"),
        "past its deadline the lock is not deleted: {}",
        stopped.stderr
    );
    wait_for_expiry(&world).await;
}

#[tokio::test]
async fn a_saved_plan_waits_for_the_lock_with_lock_timeout_and_is_then_stale() {
    let world = slow_world(10, 100);
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    let first = world.spawn_plumb(&["apply", "--auto-approve"]);
    wait_for("the first apply to start writing", || puts(&world) >= 1);
    let second = world.plumb(&["apply", "plan.json", "--lock-timeout", "120"]);
    support::finish(first).expect_code(0);
    // It waited, then planned under the lock: the first apply made its plan stale.
    second.expect_code(3);
    assert!(second.stderr.contains("the plan is stale"), "{}", second.stderr);
    assert_eq!(puts(&world), 10);
}

#[tokio::test]
async fn a_stale_lock_is_named_broken_by_unlock_and_expires() {
    let world = World::with_dev_env();
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/k\"]\nvalue = \"v\"\n",
    );
    let held = json!({"holder": "carol@laptop (pid 42)", "token": "t", "plan": "sha256:abc",
                      "acquired_at": 1_790_000_000u64, "expires_at": 4_000_000_000u64});
    hold_lock(&world, &held).await;

    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(3);
    assert!(
        apply
            .stderr
            .contains("locked by another apply: carol@laptop (pid 42) since"),
        "{}",
        apply.stderr
    );
    assert!(
        apply.stderr.contains("plumb unlock --env dev"),
        "{}",
        apply.stderr
    );
    assert_eq!(world.calls().get("PutParameter"), None, "nothing applied");
    // The plan does not offer to delete the lock: it is outside every scope.
    let plan = world.plumb(&["plan"]);
    assert!(!plan.stdout.contains(LOCK), "{}", plan.stdout);

    let unlock = world.plumb(&["unlock", "--env", "dev"]);
    unlock.expect_code(0);
    assert!(
        unlock
            .stdout
            .contains("removed the lock held by carol@laptop (pid 42)"),
        "{}",
        unlock.stdout
    );
    world.plumb(&["unlock", "--env", "dev"]).expect_code(0);

    // An expired lock (its holder was killed) is broken by the next apply.
    let expired = json!({"holder": "dave@ci", "token": "t", "plan": "p", "acquired_at": 1, "expires_at": 2});
    hold_lock(&world, &expired).await;
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert!(!lock_exists(&world).await);
}

#[tokio::test]
async fn sigint_mid_apply_finishes_what_is_in_flight_and_says_what_was_not_done() {
    let world = slow_world(40, 200);
    let apply = world.spawn_plumb(&["apply", "--auto-approve", "--report", "report.json"]);
    wait_for("some writes", || puts(&world) >= 4);
    support::signal(&apply, "INT");
    let run = support::finish(apply);
    run.expect_code(130);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(world.path("report.json")).unwrap()).unwrap();
    assert!(
        report["not_started"].as_array().is_some_and(|n| !n.is_empty()),
        "the report says the apply did not finish: {report}"
    );
    assert!(
        run.stderr.contains("Interrupted: starting no new changes"),
        "{}",
        run.stderr
    );
    let made: usize = run
        .stderr
        .split("apply interrupted: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in: {}", run.stderr));
    assert!(made < 40, "it stopped early: {}", run.stderr);
    assert!(
        run.stderr.contains("not started: dev: create parameter"),
        "{}",
        run.stderr
    );
    assert_eq!(
        live_count(&world).await,
        made,
        "what it said it made is what exists"
    );
    assert!(!lock_exists(&world).await, "the lock is released");

    world.clear_faults();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(live_count(&world).await, 40);
}

#[tokio::test]
async fn sigterm_is_an_interrupt_and_a_second_signal_exits_at_once() {
    let world = slow_world(40, 300);
    let apply = world.spawn_plumb(&["apply", "--auto-approve"]);
    wait_for("some writes", || puts(&world) >= 2);
    support::signal(&apply, "TERM");
    std::thread::sleep(Duration::from_millis(100));
    support::signal(&apply, "INT");
    let run = support::finish(apply);
    run.expect_code(130);
    assert!(
        run.stderr.contains("Second interrupt: exiting now"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("plumb unlock"), "{}", run.stderr);
}

#[tokio::test]
async fn an_endpoint_that_never_answers_times_out_and_names_the_call() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // Accepts every connection and never says a word.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            let _ = (&stream).flush();
            held.push(stream);
        }
    });
    let mut world = World::with_dev_env();
    world.set_env("PLUMB_ATTEMPT_TIMEOUT", "0.5");
    world.set_env("PLUMB_OPERATION_TIMEOUT", "2");
    world.set_env("AWS_MAX_ATTEMPTS", "2");
    // A plan's first call is the page of parameter metadata that settles the account.
    let plan = world.plumb_at(&endpoint, &["plan"]);
    plan.expect_code(1);
    assert!(
        plan.stderr.contains(
            "error: cannot read the live state of environment `dev`: DescribeParameters `/dev/app`: Timeout"
        ),
        "{}",
        plan.stderr
    );
    // apply's first call is the account guard's, before the lock.
    let apply = world.plumb_at(&endpoint, &["apply", "--auto-approve"]);
    apply.expect_code(1);
    assert!(
        apply.stderr.contains(
            "error: cannot check the account of environment `dev`: GetCallerIdentity `caller`: Timeout"
        ),
        "{}",
        apply.stderr
    );
}

#[tokio::test]
async fn applies_racing_to_break_an_expired_lock_let_exactly_one_through() {
    let world = slow_world(8, 1500);
    let expired =
        json!({"holder": "killed@ci", "token": "t", "plan": "p", "acquired_at": 1, "expires_at": 2});
    hold_lock(&world, &expired).await;
    let racers: Vec<_> = (0..5)
        .map(|_| world.spawn_plumb(&["apply", "--auto-approve"]))
        .collect();
    let runs: Vec<_> = racers.into_iter().map(support::finish).collect();
    let codes: Vec<i32> = runs.iter().map(|r| r.code).collect();
    assert!(codes.iter().all(|c| *c == 0 || *c == 3), "{codes:?}");
    let applied = runs
        .iter()
        .filter(|r| r.stdout.contains("Apply complete"))
        .count();
    assert_eq!(applied, 1, "exactly one apply wrote: {codes:?}");
    // Any other success came after it, under the lock, and found nothing left to do.
    for run in runs
        .iter()
        .filter(|r| r.code == 0 && !r.stdout.contains("Apply complete"))
    {
        assert!(run.stdout.contains("No changes."), "{}", run.stdout);
    }
    assert_eq!(puts(&world), 8, "no two applies wrote");
    assert!(!lock_exists(&world).await);
}

#[tokio::test]
async fn a_lock_s_text_cannot_forge_output() {
    let world = World::with_dev_env();
    let hostile = json!({"holder": "\u{1b}[31mEVIL\u{1b}[0m\nrefused: fake line", "token": "t", "plan": "p",
                         "acquired_at": 1, "expires_at": 4_000_000_000u64});
    hold_lock(&world, &hostile).await;
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(3);
    assert!(!apply.stderr.contains('\u{1b}'), "{:?}", apply.stderr);
    assert!(
        !apply.stderr.contains("\nrefused: fake line"),
        "{:?}",
        apply.stderr
    );
    assert!(apply.stderr.contains("\\u{1b}[31mEVIL"), "{:?}", apply.stderr);
}

#[tokio::test]
async fn bad_timeout_and_retry_settings_are_errors_not_hangs_or_crashes() {
    for (variable, value) in [
        ("PLUMB_ATTEMPT_TIMEOUT", "0"),
        ("PLUMB_OPERATION_TIMEOUT", "-1"),
        ("PLUMB_CONNECT_TIMEOUT", "abc"),
        ("PLUMB_ATTEMPT_TIMEOUT", "99999999999999999999"),
        ("PLUMB_ATTEMPT_TIMEOUT", "NaN"),
        ("AWS_MAX_ATTEMPTS", "0"),
        ("AWS_MAX_ATTEMPTS", "abc"),
        ("PLUMB_LOCK_TTL", "3"),
        ("PLUMB_LOCK_TTL", "1.5"),
        ("PLUMB_LOCK_TTL", "99999999999"),
    ] {
        let mut world = World::with_dev_env();
        world.set_env(variable, value);
        let plan = world.plumb(&["plan"]);
        plan.expect_code(1);
        assert!(
            plan.stderr.contains(&format!("error: {variable} is `{value}`")),
            "{}",
            plan.stderr
        );
        assert!(!plan.stderr.contains("panicked"), "{}", plan.stderr);
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_one_readable_line() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut world = World::with_dev_env();
    world.set_env("AWS_MAX_ATTEMPTS", "2");
    let plan = world.plumb_at(&endpoint, &["plan"]);
    plan.expect_code(1);
    assert!(
        plan.stderr
            .contains(&format!("cannot reach AWS at {endpoint} (Connection refused")),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr
            .contains("tried up to 2 time(s); is AWS_ENDPOINT_URL right?"),
        "{}",
        plan.stderr
    );
    assert!(
        !plan.stderr.contains("DispatchFailure {"),
        "no Debug dump: {}",
        plan.stderr
    );
    assert_eq!(plan.stderr.lines().count(), 1, "{}", plan.stderr);
}

#[tokio::test]
async fn missing_credentials_are_explained_without_a_debug_dump() {
    let mut world = World::with_dev_env();
    world.set_env("AWS_ACCESS_KEY_ID", "");
    world.set_env("AWS_SECRET_ACCESS_KEY", "");
    world.set_env("AWS_MAX_ATTEMPTS", "1");
    let plan = world.plumb(&["plan"]);
    plan.expect_code(1);
    assert!(
        plan.stderr.contains("no credentials found in chain"),
        "{}",
        plan.stderr
    );
    assert!(
        !plan.stderr.contains("ProviderChainError"),
        "no Debug dump: {}",
        plan.stderr
    );
}

#[tokio::test]
async fn an_environment_named_twice_is_planned_and_locked_once() {
    let world = World::with_dev_env();
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/k\"]\nvalue = \"v\"\n",
    );
    let apply = world.plumb(&["apply", "--auto-approve", "--env", "dev", "--env", "dev"]);
    apply.expect_code(0);
    assert!(
        apply.stdout.contains("Apply complete: 1 change(s) made."),
        "{}",
        apply.stdout
    );
    assert_eq!(world.calls().get("PutParameter"), Some(&1));
}
