//! IAM users, groups and customer-managed policies end to end, against the emulator made as
//! strict as AWS about deletion order (DeleteConflict) and paging.

use aws_sdk_iam::Client;
use serde_json::json;

use crate::support::{Transcript, World};

const TEAM: &str = r#"
[policies.ssm-read]
description = "Read the app's parameters"
document = { Version = "2012-10-17", Statement = [
  { Effect = "Allow", Action = ["ssm:GetParameter", "ssm:GetParametersByPath"], Resource = "arn:aws:ssm:*:*:parameter/dev/app/*" },
] }

[groups.operations]
managed_policies = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
policies = ["ssm-read"]
[groups.operations.inline_policies.describe-ec2]
document = { Version = "2012-10-17", Statement = { Effect = "Allow", Action = "ec2:Describe*", Resource = "*" } }

[groups.devops]
policies = ["ssm-read"]

[users.alice]
groups = ["operations", "devops"]
tags = { email = "alice@example.com", team = "backend" }

[users.bob]
groups = ["operations"]
tags = { team = "sre" }
[users.bob.inline_policies.own-bucket]
document = { Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["s3:*"], Resource = "arn:aws:s3:::bob/*" }] }
"#;

fn world_with_team() -> World {
    let world = World::with_dev_env();
    world.write("desired/dev/iam.toml", TEAM);
    world
}

async fn group_names_of(iam: &Client, user: &str) -> Vec<String> {
    let groups = iam
        .list_groups_for_user()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .groups;
    let mut names: Vec<String> = groups.into_iter().map(|g| g.group_name).collect();
    names.sort();
    names
}

async fn user_exists(iam: &Client, user: &str) -> bool {
    iam.get_user().user_name(user).send().await.is_ok()
}

#[tokio::test]
async fn create_then_converge_then_catch_drift_then_converge_again() {
    let world = world_with_team();
    let mut seen = Transcript::default();
    seen.plumb(&world, &["plan"]).expect_code(0);
    seen.plumb(&world, &["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();

    let iam = world.iam().await;
    assert_eq!(group_names_of(&iam, "alice").await, ["devops", "operations"]);

    // Drift by hand: an extra membership, an extra user in the path with an access key, and
    // a changed policy.
    iam.add_user_to_group()
        .group_name("devops")
        .user_name("bob")
        .send()
        .await
        .unwrap();
    iam.create_user()
        .user_name("mallory")
        .path("/app/")
        .send()
        .await
        .unwrap();
    iam.create_access_key().user_name("mallory").send().await.unwrap();
    let policy_arn = format!("arn:aws:iam::{}:policy/app/ssm-read", world.account);
    let widened = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}]});
    iam.create_policy_version()
        .policy_arn(&policy_arn)
        .policy_document(widened.to_string())
        .set_as_default(true)
        .send()
        .await
        .unwrap();

    seen.note("by hand: an extra membership, an extra user with an access key, a wider policy");
    // The policy change is a diff of its document; the user's access key is named.
    seen.plumb(&world, &["plan"]).expect_code(0);
    seen.plumb(&world, &["apply", "--auto-approve"]).expect_code(0);
    insta::assert_snapshot!(seen.text());
    world.assert_converged();
    assert!(!user_exists(&iam, "mallory").await);
    assert_eq!(group_names_of(&iam, "bob").await, ["operations"]);
}

#[tokio::test]
async fn removing_a_user_deletes_it_and_everything_it_holds_in_one_apply() {
    let world = world_with_team();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let iam = world.iam().await;
    iam.create_access_key().user_name("bob").send().await.unwrap();
    iam.create_login_profile()
        .user_name("bob")
        .password("Initial-pass-123!")
        .send()
        .await
        .unwrap();
    iam.attach_user_policy()
        .user_name("bob")
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();

    world.write("desired/dev/iam.toml", &TEAM[..TEAM.find("[users.bob]").unwrap()]);
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout.contains(
            "- delete user bob  (not declared in desired/; also deletes 1 access key, console login)"
        ),
        "{}",
        plan.stdout
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert!(!user_exists(&iam, "bob").await);
    world.assert_converged();
}

/// A user's virtual MFA device is deactivated, then deleted. Once deactivated it is no longer
/// listed under the user, so a deletion that fails there cannot be finished by another
/// apply: the error says what is left behind and how to delete it.
#[tokio::test]
async fn a_virtual_mfa_device_left_behind_is_named() {
    let world = world_with_team();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let iam = world.iam().await;
    let device = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("bob-mfa")
        .send()
        .await
        .unwrap();
    let serial = device.virtual_mfa_device().unwrap().serial_number().to_string();
    let enable = iam.enable_mfa_device().user_name("bob").serial_number(&serial);
    enable
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();

    world.write("desired/dev/iam.toml", &TEAM[..TEAM.find("[users.bob]").unwrap()]);
    world.fault(json!({ "operation": "DeleteVirtualMFADevice", "kind": "error", "status": 403, "code": "AccessDenied", "count": 1 }));
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(1);
    let expected = format!(
        "the device is deactivated and left behind, which plumb cannot find again: delete it with \
         `aws iam delete-virtual-mfa-device --serial-number {serial}`"
    );
    assert!(apply.stderr.contains(&expected), "{}", apply.stderr);
}

#[tokio::test]
async fn removing_groups_and_policies_in_use_deletes_them_in_a_safe_order() {
    let world = world_with_team();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    // Everything goes: users first, then groups (members and policies removed), then policies.
    world.write("desired/dev/iam.toml", "");
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout
            .contains("Plan: 0 to create, 0 to update, 0 to replace, 5 to delete."),
        "{}",
        plan.stdout
    );
    let order: Vec<&str> = plan
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("- delete"))
        .collect();
    assert_eq!(
        order
            .iter()
            .map(|l| l.split_whitespace().nth(2).unwrap())
            .collect::<Vec<_>>(),
        ["user", "user", "group", "group", "policy"]
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
}

/// Deleting a group takes its members out of it. The plan names them; a member outside the
/// scope (here a user plumb does not manage) would lose the membership for good, so the
/// deletion is refused until that member has left the group.
#[tokio::test]
async fn a_group_with_members_outside_the_scope_is_not_deleted_under_them() {
    let world = world_with_team();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let iam = world.iam().await;
    iam.create_user()
        .user_name("carol")
        .path("/")
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .group_name("devops")
        .user_name("carol")
        .send()
        .await
        .unwrap();

    let without_devops = TEAM
        .replace("[groups.devops]\npolicies = [\"ssm-read\"]\n", "")
        .replace(
            "groups = [\"operations\", \"devops\"]",
            "groups = [\"operations\"]",
        );
    world.write("desired/dev/iam.toml", &without_devops);
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(3);
    assert!(
        apply
            .stdout
            .contains("- delete group devops  (not declared in desired/; also removes members alice, carol)"),
        "{}",
        apply.stdout
    );
    assert!(
        apply.stderr.contains(
            "deleting group `devops` would take user `carol` out of it, outside plumb's scope (iam_path \
             `/app/`), and plumb could not add them back: remove them from the group yourself first"
        ),
        "{}",
        apply.stderr
    );
    assert_eq!(group_names_of(&iam, "carol").await, ["devops"]);
    assert_eq!(group_names_of(&iam, "alice").await, ["devops", "operations"]);

    iam.remove_user_from_group()
        .group_name("devops")
        .user_name("carol")
        .send()
        .await
        .unwrap();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    assert_eq!(group_names_of(&iam, "alice").await, ["operations"]);
}

#[tokio::test]
async fn reformatted_policy_json_shows_no_diff() {
    let world = World::with_dev_env();
    world.write(
        "desired/dev/iam.toml",
        "[policies.p]\nfile = \"p.json\"\n[groups.g]\npolicies = [\"p\"]\n[groups.g.inline_policies.i]\nfile = \"i.json\"\n",
    );
    let compact =
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
    world.write("desired/dev/p.json", compact);
    world.write("desired/dev/i.json", compact);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);

    let reformatted = r#"{
        "Statement": [
            { "Resource": ["*"], "Action": ["s3:GetObject"], "Effect": "Allow" }
        ],
        "Version": "2012-10-17"
    }"#;
    world.write("desired/dev/p.json", reformatted);
    world.write("desired/dev/i.json", reformatted);
    world.assert_converged();
}

#[tokio::test]
async fn nothing_outside_the_iam_path_is_read_for_deletion_or_touched() {
    let world = world_with_team();
    let iam = world.iam().await;
    iam.create_user()
        .user_name("outsider")
        .path("/other/")
        .send()
        .await
        .unwrap();
    iam.create_group()
        .group_name("outsiders")
        .path("/other/")
        .send()
        .await
        .unwrap();
    iam.create_user()
        .user_name("root-path-user")
        .send()
        .await
        .unwrap();

    let plan = world.plumb(&["plan"]);
    assert!(!plan.stdout.contains("outsider"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("root-path-user"));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert!(user_exists(&iam, "outsider").await);
    assert!(user_exists(&iam, "root-path-user").await);
    assert!(iam.get_group().group_name("outsiders").send().await.is_ok());
}

#[tokio::test]
async fn iam_is_read_in_pages() {
    let world = world_with_team();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.fault(json!({ "operation": "GetAccountAuthorizationDetails", "kind": "page_cap", "max": 2 }));
    let before = world.calls()["GetAccountAuthorizationDetails"];
    world.assert_converged();
    // 2 users + 2 groups + 1 policy in pages of 2.
    assert_eq!(world.calls()["GetAccountAuthorizationDetails"] - before, 3);
}

#[tokio::test]
async fn a_policy_keeps_at_most_five_versions() {
    let world = World::with_dev_env();
    let policy = |action: &str| {
        format!(
            "[policies.p]\ndocument = {{ Version = \"2012-10-17\", Statement = [{{ Effect = \"Allow\", Action = \"{action}\", Resource = \"*\" }}] }}\n"
        )
    };
    world.write("desired/dev/iam.toml", &policy("s3:GetObject"));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    for action in ["s3:A", "s3:B", "s3:C", "s3:D", "s3:E", "s3:F"] {
        world.write("desired/dev/iam.toml", &policy(action));
        world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    }
    world.assert_converged();
    let iam = world.iam().await;
    let arn = format!("arn:aws:iam::{}:policy/app/p", world.account);
    let versions = iam
        .list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .unwrap()
        .versions
        .unwrap();
    assert_eq!(versions.len(), 5);
}

#[tokio::test]
async fn a_changed_policy_description_replaces_it_and_keeps_its_attachments() {
    let world = world_with_team();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write(
        "desired/dev/iam.toml",
        &TEAM.replace("Read the app's parameters", "Read parameters"),
    );
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout
            .contains("-/+ replace policy ssm-read  (AWS cannot change a policy's description"),
        "{}",
        plan.stdout
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
}

/// The same replacement when the new policy's creation is carried out but answered with a
/// 500 (the SDK's retry then meets the policy): the policy is attached back all the same,
/// in the same apply. It was left attached nowhere until the next apply.
#[tokio::test]
async fn a_replaced_policy_whose_creation_answered_500_is_attached_back() {
    let world = world_with_team();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write(
        "desired/dev/iam.toml",
        &TEAM.replace("Read the app's parameters", "Read parameters"),
    );
    world.fault(json!({ "operation": "CreatePolicy", "kind": "ghost", "count": 1 }));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.clear_faults();
    let policy_arn = format!("arn:aws:iam::{}:policy/app/ssm-read", world.account);
    let iam = world.iam().await;
    let attached = iam
        .list_entities_for_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    let groups: Vec<&str> = attached
        .policy_groups()
        .iter()
        .filter_map(|g| g.group_name())
        .collect();
    assert_eq!(groups.len(), 2, "{groups:?}");
    world.assert_converged();
}

/// "Already exists" when the policy is not the new one (IAM, eventually consistent, may still
/// show the one just deleted; here none is there at all): not taken for done. The error says
/// what was done, and the next apply finishes the job.
#[tokio::test]
async fn a_replaced_policy_is_attached_back_only_when_it_is_the_new_one() {
    let world = world_with_team();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write(
        "desired/dev/iam.toml",
        &TEAM.replace("Read the app's parameters", "Read parameters"),
    );
    world.fault(json!({ "operation": "CreatePolicy", "kind": "error", "status": 409, "code": "EntityAlreadyExists", "count": 1 }));
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(1);
    assert!(
        apply.stderr.contains(
            "CreatePolicy `ssm-read`: EntityAlreadyExists: injected fault (done before: detached it from"
        ),
        "{}",
        apply.stderr
    );
    world.clear_faults();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
}

#[test]
fn iam_declarations_are_validated_offline() {
    let world = World::with_dev_env();
    world.write(
        "desired/dev/iam.toml",
        "[users.carol]\ngroups = [\"admins\"]\npolicies = [\"nope\"]\n\
         [users.\"bad name!\"]\n\
         [groups.g]\nmanaged_policies = [\"ReadOnlyAccess\"]\n\
         [policies.p]\ndocument = { Statement = [] }\n",
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    insta::assert_snapshot!(world.shown(&run));
}

#[tokio::test]
async fn a_group_not_yet_visible_after_its_creation_is_waited_for() {
    // IAM is eventually consistent: right after CreateGroup, AddUserToGroup may answer
    // NoSuchEntity. The emulator answers so twice; apply must still converge.
    let world = world_with_team();
    world.fault(json!({ "operation": "AddUserToGroup", "kind": "error", "status": 404, "code": "NoSuchEntity", "count": 2 }));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    assert_eq!(
        world.calls()["AddUserToGroup"],
        3 + 2,
        "three memberships, two retried"
    );
}

/// IAM writes are paced the same way as SSM's (the SDK's adaptive retry mode): a quota on
/// CreateUser throttles, and every user is still created.
#[tokio::test]
async fn iam_writes_under_a_quota_all_succeed() {
    let world = World::with_dev_env();
    let text: String = (0..16).map(|i| format!("[users.user-{i}]\n")).collect();
    world.write("desired/dev/iam.toml", &text);
    world.fault(json!({"operation": "CreateUser", "kind": "quota", "rate": 4, "burst": 4}));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert!(world.throttled_calls() > 0, "the apply pushed against the quota");
    world.clear_faults();
    world.assert_converged();
}
