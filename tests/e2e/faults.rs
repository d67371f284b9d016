//! Nothing lost, whatever fails: a multi-step change that fails at any step, a write that
//! succeeded but answered 500, and a few hundred changes of every kind under random faults.

use aws_sdk_iam::Client;
use serde_json::json;

use crate::support::{World, renamed_budget};

const POLICY_DOC: &str = r#"document = { Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["ssm:GetParameter"], Resource = "*" }] }"#;

fn team(description: &str) -> String {
    format!(
        "[policies.p]\ndescription = \"{description}\"\n{POLICY_DOC}\n\
         [groups.ops]\npolicies = [\"p\"]\n[users.alice]\ngroups = [\"ops\"]\npolicies = [\"p\"]\n"
    )
}

async fn attached_to_group(iam: &Client, group: &str) -> Vec<String> {
    let out = iam
        .list_attached_group_policies()
        .group_name(group)
        .send()
        .await
        .unwrap();
    out.attached_policies()
        .iter()
        .filter_map(|p| p.policy_name.clone())
        .collect()
}

async fn attached_to_role(iam: &Client, role: &str) -> Vec<String> {
    let out = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    out.attached_policies()
        .iter()
        .filter_map(|p| p.policy_name.clone())
        .collect()
}

fn policy_arn(world: &World) -> String {
    format!("arn:aws:iam::{}:policy/app/p", world.account)
}

#[tokio::test]
async fn a_policy_attached_outside_the_scope_is_never_replaced_or_deleted() {
    let world = World::with_dev_env();
    world.write("desired/dev/iam.toml", &team("one"));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let iam = world.iam().await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("outside-role")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("outside-role")
        .policy_arn(policy_arn(&world))
        .send()
        .await
        .unwrap();
    iam.create_user().user_name("outsider").send().await.unwrap();
    iam.attach_user_policy()
        .user_name("outsider")
        .policy_arn(policy_arn(&world))
        .send()
        .await
        .unwrap();

    world.write("desired/dev/iam.toml", &team("two"));
    let plan = world.plumb(&["plan"]);
    plan.expect_code(0);
    assert!(
        plan.stderr
            .contains("warning: apply will refuse: dev: replace policy `p` would detach it from"),
        "the plan says so before anyone approves it: {}",
        plan.stderr
    );
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(3);
    for principal in ["user `outsider`", "role `outside-role`"] {
        assert!(
            apply.stderr.contains(principal),
            "names {principal}: {}",
            apply.stderr
        );
    }
    assert!(
        apply.stderr.contains("replace policy `p` would detach it from"),
        "{}",
        apply.stderr
    );
    assert!(
        !apply.stderr.contains("group `ops`"),
        "ops is ours: {}",
        apply.stderr
    );
    assert_eq!(
        attached_to_role(&iam, "outside-role").await,
        ["p"],
        "nothing was detached"
    );
    let calls = world.calls();
    for write in [
        "DetachRolePolicy",
        "DetachUserPolicy",
        "DetachGroupPolicy",
        "DeletePolicy",
        "CreatePolicy",
    ] {
        assert_eq!(
            calls.get(write),
            if write == "CreatePolicy" { Some(&1) } else { None },
            "{write}"
        );
    }

    // Deleting it would detach them too.
    world.write(
        "desired/dev/iam.toml",
        "[groups.ops]\n[users.alice]\ngroups = [\"ops\"]\n",
    );
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(3);
    assert!(
        apply.stderr.contains("delete policy `p` would detach it from"),
        "{}",
        apply.stderr
    );
}

#[tokio::test]
async fn a_replacement_that_fails_after_the_delete_says_so_and_a_rerun_restores_everything() {
    let world = World::with_dev_env();
    world.write("desired/dev/iam.toml", &team("one"));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write("desired/dev/iam.toml", &team("two"));
    world.fault(json!({"operation": "CreatePolicy", "kind": "error", "status": 409, "code": "LimitExceeded", "count": 1}));
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(1);
    assert!(
        apply.stderr.contains("CreatePolicy `p`: LimitExceeded"),
        "{}",
        apply.stderr
    );
    assert!(
        apply
            .stderr
            .contains("done before: detached it from group `ops`, detached it from user `alice`, deleted it"),
        "every step done is reported: {}",
        apply.stderr
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    let iam = world.iam().await;
    assert_eq!(attached_to_group(&iam, "ops").await, ["p"]);
    let policy = iam
        .get_policy()
        .policy_arn(policy_arn(&world))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.policy.unwrap().description.as_deref(), Some("two"));
}

#[tokio::test]
async fn a_replacement_that_fails_before_the_delete_attaches_everything_back() {
    let world = World::with_dev_env();
    world.write("desired/dev/iam.toml", &team("one"));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write("desired/dev/iam.toml", &team("two"));
    world.fault(json!({"operation": "DeletePolicy", "kind": "error", "status": 409, "code": "DeleteConflict", "count": 1}));
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(1);
    assert!(
        apply
            .stderr
            .contains("detached it, then attached it back where it was"),
        "{}",
        apply.stderr
    );
    let iam = world.iam().await;
    assert_eq!(attached_to_group(&iam, "ops").await, ["p"], "attached back");
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
}

const ONE_OF_EACH: &str = r#"
[parameters."/dev/app/k"]
value = "v"
tags = { team = "a" }

[policies.p]
description = "d"
document = { Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["ssm:GetParameter"], Resource = "*" }] }

[groups.ops]
policies = ["p"]

[users.alice]
groups = ["ops"]
tags = { team = "a" }

[alarms."app-cpu"]
namespace = "AWS/EC2"
metric = "CPUUtilization"
statistic = "Average"
period = 300
evaluation_periods = 1
threshold = 80.0
comparison = "GreaterThanThreshold"

[dashboards."app-main"]
body = { widgets = [] }

[budgets."app-monthly"]
budget_type = "COST"
time_unit = "MONTHLY"
limit = { amount = "100", unit = "USD" }
[[budgets."app-monthly".notifications]]
notification_type = "ACTUAL"
comparison = "GREATER_THAN"
threshold = 80.0
emails = ["ops@example.com"]
"#;

#[tokio::test]
async fn creates_that_succeeded_but_answered_500_are_done() {
    let world = World::with_dev_env();
    world.write("desired/dev/all.toml", ONE_OF_EACH);
    for operation in [
        "PutParameter",
        "CreatePolicy",
        "CreateGroup",
        "CreateUser",
        "AddUserToGroup",
        "PutMetricAlarm",
        "PutDashboard",
        "CreateBudget",
    ] {
        world.fault(json!({"operation": operation, "kind": "ghost", "count": 1}));
    }
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(0);
    assert!(
        apply.stdout.contains("Apply complete: 7 change(s) made."),
        "{}",
        apply.stdout
    );
    world.clear_faults();
    world.assert_converged();
}

/// The same for a replacement's create, after its delete: a parameter whose type changes
/// and a renamed budget, each created anew with the answer lost. Both are done; the apply
/// reported them failed (exit 1) with ParameterAlreadyExists and DuplicateRecordException.
#[tokio::test]
async fn replacements_whose_create_answered_500_are_done() {
    let world = World::with_dev_env();
    world.write("desired/dev/all.toml", ONE_OF_EACH);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let replaced = renamed_budget(ONE_OF_EACH, "app-monthly", "app-monthly-cost");
    let replaced = replaced.replacen("value = \"v\"", "type = \"StringList\"\nvalue = [\"v\"]", 1);
    world.write("desired/dev/all.toml", &replaced);
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout.contains("0 to update, 2 to replace"),
        "{}",
        plan.stdout
    );
    for operation in ["PutParameter", "CreateBudget"] {
        world.fault(json!({"operation": operation, "kind": "ghost", "count": 1}));
    }
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(0);
    assert!(
        apply.stdout.contains("Apply complete: 2 change(s) made."),
        "{}",
        apply.stdout
    );
    world.clear_faults();
    world.assert_converged();
}

/// A change of several calls that fails part-way says what it had done: a replacement whose
/// create is refused has deleted the old object already, a user's deletion refused at last
/// has removed its access key, groups and policies, a budget whose notification update is
/// refused has its new limit. "1 change(s) failed, 0 made" alone reads as "nothing happened".
#[tokio::test]
async fn a_change_that_fails_part_way_says_what_it_had_done() {
    let world = World::with_dev_env();
    world.write("desired/dev/all.toml", ONE_OF_EACH);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let key = world
        .iam()
        .await
        .create_access_key()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    let key = key.access_key.unwrap().access_key_id;

    let changed = ONE_OF_EACH
        .replacen("value = \"v\"", "type = \"StringList\"\nvalue = [\"v\"]", 1)
        .replace("[users.alice]\ngroups = [\"ops\"]\ntags = { team = \"a\" }\n", "")
        .replace("amount = \"100\"", "amount = \"150\"")
        .replace("threshold = 80.0\nemails", "threshold = 90.0\nemails");
    world.write("desired/dev/all.toml", &changed);
    for operation in ["PutParameter", "DeleteUser", "UpdateNotification"] {
        world.fault(json!({ "operation": operation, "kind": "error", "status": 400, "code": "AccessDenied", "count": 1 }));
    }
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(1);
    for said in [
        "replace parameter `/dev/app/k`: PutParameter `/dev/app/k`: AccessDenied: injected fault (done before: deleted `/dev/app/k`)".to_string(),
        format!("delete user `alice`: DeleteUser `alice`: AccessDenied: injected fault (done before: deleted access key {key}, took it out of its groups)"),
        "update budget `app-monthly`: UpdateNotification `app-monthly`: AccessDenied: injected fault (done before: updated its limit and settings)".to_string(),
    ] {
        assert!(apply.stderr.contains(&said), "{said}\n{}", apply.stderr);
    }
    world.clear_faults();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();

    // A group's deletion refused at last has taken its policies off. (Its members would be
    // taken out first, but a member in scope is an undeclared user, deleted before it, and
    // one outside the scope refuses the deletion.)
    let without_ops = changed.replace("[groups.ops]\npolicies = [\"p\"]\n", "");
    world.write("desired/dev/all.toml", &without_ops);
    world.fault(json!({ "operation": "DeleteGroup", "kind": "error", "status": 400, "code": "AccessDenied", "count": 1 }));
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(1);
    let said = "delete group `ops`: DeleteGroup `ops`: AccessDenied: injected fault (done before: removed its policies)";
    assert!(apply.stderr.contains(said), "{said}\n{}", apply.stderr);
}

/// A create that found its parameter already there reads the kind again, but nothing more
/// of the other parameters: a plan reads a tag of every undeclared parameter it would show,
/// which here would be all 60 of them, one call each.
#[tokio::test]
async fn a_create_found_done_reads_again_only_what_it_needs() {
    let world = World::with_dev_env();
    world.seed_parameters("/dev/app/p", 60);
    let mut toml: String = (0..60)
        .map(|i| format!("[parameters.\"/dev/app/p{i}\"]\nvalue = \"value-{i}\"\n"))
        .collect();
    world.write("desired/dev/app.toml", &toml);
    world.assert_converged();
    toml.push_str("[parameters.\"/dev/app/new\"]\nvalue = \"n\"\n");
    world.write("desired/dev/app.toml", &toml);
    world.fault(json!({"operation": "PutParameter", "kind": "ghost", "count": 1}));
    let before = world.calls();
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(0);
    world.clear_faults();
    let made = |op: &str| world.calls().get(op).copied().unwrap_or(0) - before.get(op).copied().unwrap_or(0);
    assert_eq!(
        made("PutParameter"),
        2,
        "the create, and the SDK's retry that found it done"
    );
    assert!(
        made("ListTagsForResource") <= 1,
        "{}",
        made("ListTagsForResource")
    );
    world.assert_converged();
}

/// A desired/ of a few hundred objects of every kind; `round` changes some values.
fn fleet(round: usize) -> String {
    let mut toml = String::new();
    let kept = if round == 0 { 0..120 } else { 20..120 };
    for i in kept {
        let value = if round == 1 && i % 2 == 0 {
            format!("new-{i}")
        } else {
            format!("v{i}")
        };
        toml.push_str(&format!(
            "[parameters.\"/dev/app/p{i:03}\"]\nvalue = \"{value}\"\n"
        ));
        if i % 10 == 0 {
            toml.push_str(&format!("tags = {{ team = \"t{round}\" }}\n"));
        }
    }
    for i in 0..3 {
        toml.push_str(&format!(
            "[policies.p{i}]\ndescription = \"policy {i}\"\n{POLICY_DOC}\n[groups.g{i}]\npolicies = [\"p{i}\"]\n"
        ));
    }
    for i in 0..20 {
        let group = (i + round) % 3;
        toml.push_str(&format!(
            "[users.u{i:02}]\ngroups = [\"g{group}\"]\ntags = {{ n = \"{i}\" }}\n"
        ));
    }
    let alarms = if round == 0 { 40 } else { 35 };
    for i in 0..alarms {
        let threshold = 50 + i + round * 10;
        toml.push_str(&format!(
            "[alarms.\"app-a{i:02}\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\nstatistic = \"Average\"\n\
             period = 300\nevaluation_periods = 1\nthreshold = {threshold}.0\ncomparison = \"GreaterThanThreshold\"\n"
        ));
    }
    for i in 0..10 {
        toml.push_str(&format!(
            "[dashboards.\"app-d{i}\"]\nbody = {{ widgets = [{{ type = \"text\", x = 0, y = 0, width = 6, height = 2, properties = {{ markdown = \"r{round} d{i}\" }} }}] }}\n"
        ));
    }
    for i in 0..5 {
        toml.push_str(&format!(
            "[budgets.\"app-b{i}\"]\nbudget_type = \"COST\"\ntime_unit = \"MONTHLY\"\nlimit = {{ amount = \"{}\", unit = \"USD\" }}\n\
             [[budgets.\"app-b{i}\".notifications]]\nnotification_type = \"ACTUAL\"\ncomparison = \"GREATER_THAN\"\n\
             threshold = {}.0\nemails = [\"ops@example.com\"]\n",
            100 + i,
            70 + round * 10
        ));
    }
    toml
}

#[tokio::test]
async fn hundreds_of_changes_of_every_kind_converge_in_one_run_under_random_faults() {
    let world = World::new();
    world.plumb_toml("ssm_put_rate = 500");
    for (round, seed) in [(0, 7), (1, 11)] {
        world.write("desired/dev/fleet.toml", &fleet(round));
        world.fault(json!({"kind": "random", "throttle": 0.08, "error": 0.04, "ghost": 0.04, "seed": seed}));
        let apply = world.plumb(&["apply", "--auto-approve", "--allow-deletes", "100"]);
        apply.expect_code(0);
        let injected = world.injected_faults();
        world.clear_faults();
        assert!(
            injected >= 20,
            "round {round}: only {injected} faults were injected"
        );
        let plan = world.plumb(&["plan", "--detailed-exitcode"]);
        plan.expect_code(0);
    }
}

#[tokio::test]
async fn a_policy_used_as_a_permissions_boundary_is_never_replaced_or_deleted() {
    let world = World::with_dev_env();
    world.write("desired/dev/iam.toml", &team("one"));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let iam = world.iam().await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("bounded")
        .assume_role_policy_document(trust)
        .permissions_boundary(policy_arn(&world))
        .send()
        .await
        .unwrap();
    world.write("desired/dev/iam.toml", &team("two"));
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(3);
    assert!(
        apply
            .stderr
            .contains("it is the permissions boundary of role `bounded`"),
        "{}",
        apply.stderr
    );
    assert_eq!(world.calls().get("DeletePolicy"), None);
}

#[tokio::test]
async fn a_plan_role_that_cannot_check_policy_usage_still_plans_and_says_so() {
    let world = World::with_dev_env();
    world.write("desired/dev/iam.toml", &team("one"));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write("desired/dev/iam.toml", &team("two"));
    world.fault(
        json!({"operation": "ListEntitiesForPolicy", "kind": "error", "status": 403,
                       "code": "AccessDenied", "count": 10}),
    );
    let plan = world.plumb(&["plan"]);
    plan.expect_code(0);
    assert!(plan.stdout.contains("replace policy p"), "{}", plan.stdout);
    assert!(
        plan.stderr.contains("warning: apply's own checks could not run"),
        "{}",
        plan.stderr
    );
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(1);
    assert_eq!(
        world.calls().get("DeletePolicy"),
        None,
        "apply does not go ahead unchecked"
    );
}
