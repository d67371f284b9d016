//! `plumb validate`: offline, and every bad input gets an exact message naming file:line:column
//! and the table and field.

use crate::support::World;

const GOOD_ENV: &str = "[environments.dev]\nregion = \"us-east-1\"\n[environments.dev.scope]\nparameter_paths = [\"/dev/app/\"]\n";

/// Validates `content` as `desired/dev/a.toml` and returns stderr.
fn problems_in(content: &str) -> String {
    let world = World::new();
    world.write("desired/plumb.toml", GOOD_ENV);
    world.write("desired/dev/a.toml", content);
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    run.stderr
}

#[test]
fn bad_inputs_get_exact_messages() {
    let cases: &[(&str, &str)] = &[
        (
            "[parameters.\"/dev/app/x\"]\nvaleu = \"x\"\n",
            "desired/dev/a.toml:2:1: parameters.\"/dev/app/x\": unknown field `valeu`; did you mean `value`?",
        ),
        (
            "[paramters.\"/dev/app/x\"]\nvalue = \"x\"\n",
            "desired/dev/a.toml:1:2: unknown table `paramters`; did you mean `parameters`?",
        ),
        (
            "[parameters.\"/dev/app/x\"]\nvalue = 5\n",
            "desired/dev/a.toml:2:9: parameters.\"/dev/app/x\".value: expected a string (or, for a StringList, a list of strings)",
        ),
        (
            "[parameters.\"/dev/app/x\"]\ntype = \"Strin\"\nvalue = \"x\"\n",
            "desired/dev/a.toml:2:8: parameters.\"/dev/app/x\".type: unknown variant `Strin`, expected one of `String`, `StringList`, `SecureString`",
        ),
        (
            "[parameters.\"/dev/app/pw\"]\ntype = \"SecureString\"\nvalue = \"hunter2\"\n",
            "desired/dev/a.toml:3:1: parameters.\"/dev/app/pw\".value: a SecureString's value must not be written in desired/: use `value_from_env`",
        ),
        (
            "[parameters.\"/prod/app/x\"]\nvalue = \"x\"\n",
            "desired/dev/a.toml:1:13: parameters.\"/prod/app/x\": outside environment `dev`'s scope (parameter_paths: `/dev/app/`); plumb does not touch it",
        ),
        (
            "[parameters.\"/dev/app/bad name\"]\nvalue = \"x\"\n",
            "desired/dev/a.toml:1:13: parameters.\"/dev/app/bad name\": name has ` `; AWS allows letters, digits and `_ . - /`",
        ),
        (
            "[parameters.\"/dev/app/x\"]\n",
            "desired/dev/a.toml:1:13: parameters.\"/dev/app/x\": needs one of `value`, `value_from_env` or `initial_value_from_env`",
        ),
        (
            "[parameters.\"/dev/app/flag\"]\nvalue = \"maybe\"\nallowed_pattern = \"^(on|off)$\"\n",
            "desired/dev/a.toml:2:1: parameters.\"/dev/app/flag\".value: value does not match allowed_pattern `^(on|off)$`",
        ),
        (
            "[parameters.\"/dev/app/x\"]\nvalue = \"x\"\nkey_id = \"alias/k\"\n",
            "desired/dev/a.toml:3:1: parameters.\"/dev/app/x\".key_id: only a SecureString has a KMS key",
        ),
        (
            "[parameters.\"/dev/app/x\"]\nvalue = [\"a\"]\n",
            "desired/dev/a.toml:2:1: parameters.\"/dev/app/x\".value: a String's value is a string; for a list use type = \"StringList\"",
        ),
        (
            "[parameters.\"/dev/app/x\"\nvalue = \"x\"\n",
            "desired/dev/a.toml:1:25: unclosed table, expected `]`",
        ),
    ];
    for (content, expected) in cases {
        let stderr = problems_in(content);
        assert!(
            stderr.lines().any(|line| line == format!("error: {expected}")),
            "for input:\n{content}\nexpected: error: {expected}\ngot:\n{stderr}"
        );
    }
}

/// A secret is never read from a variable the CI runner or the AWS SDK sets: a merged PR could
/// otherwise copy the apply job's own credentials or token into a parameter, and the plan
/// would show only `(sensitive value)`. Also when the name comes from an environment's vars.
#[test]
fn a_secret_is_never_read_from_the_runners_own_variables() {
    for (field, variable) in [
        ("value_from_env", "AWS_SECRET_ACCESS_KEY"),
        ("initial_value_from_env", "GITHUB_TOKEN"),
        ("value_from_env", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ("value_from_env", "github_token"),
        ("value_from_env", "CI_JOB_TOKEN"),
    ] {
        let stderr = problems_in(&format!(
            "[parameters.\"/dev/app/x\"]\ntype = \"SecureString\"\n{field} = \"{variable}\"\n"
        ));
        let expected = format!(
            "error: desired/dev/a.toml:3:1: parameters.\"/dev/app/x\".{field}: `{variable}` is set by \
             the CI runner or the AWS SDK (the apply job's own credentials or token, say), not a secret \
             of yours: name the secret otherwise in the job's environment"
        );
        assert!(stderr.lines().any(|l| l == expected), "{stderr}");
    }

    let world = World::new();
    world.write(
        "desired/plumb.toml",
        &format!("{GOOD_ENV}[environments.dev.vars]\nv = \"AWS_ACCESS_KEY_ID\"\n[shared]\nenvironments = [\"dev\"]\n"),
    );
    world.write("desired/dev/.keep.toml", "");
    world.write(
        "desired/shared/p.toml",
        "[parameters.\"/${env}/app/harmless\"]\nvalue_from_env = \"${vars.v}\"\n",
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("`AWS_ACCESS_KEY_ID` is set by the CI runner"),
        "{}",
        run.stderr
    );
}

/// plumb.toml is not expanded: a placeholder there would protect nothing, or name no key,
/// without a word. Refused.
#[test]
fn placeholders_in_plumb_toml_are_refused() {
    let world = World::new();
    world.write(
        "desired/plumb.toml",
        "[environments.dev]\nregion = \"us-east-1\"\nprotect = [\"/${env}/app/db/*\", \"/{env}/app/key\"]\n\
         replica_regions = [\"us-west-2\"]\nreplica_key_id = \"alias/${env}-dr\"\n\
         [environments.dev.vars]\napp = \"${env}-app\"\n\
         [environments.dev.scope]\nparameter_paths = [\"/dev/app/\"]\niam_path = \"/${env}/\"\n",
    );
    world.write("desired/dev/.keep.toml", "");
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    insta::assert_snapshot!(world.shown(&run));
}

#[test]
fn values_over_the_tier_limit_and_deep_names_are_refused() {
    let big = "x".repeat(4097);
    let stderr = problems_in(&format!("[parameters.\"/dev/app/big\"]\nvalue = \"{big}\"\n"));
    assert!(stderr.contains(
        "parameters.\"/dev/app/big\".value: value is 4097 bytes; the tier allows 4096; use tier = \"Advanced\" for up to 8 KB"
    ));
    let ok = format!("[parameters.\"/dev/app/big\"]\ntier = \"Advanced\"\nvalue = \"{big}\"\n");
    let world = World::new();
    world.write("desired/plumb.toml", GOOD_ENV);
    world.write("desired/dev/a.toml", &ok);
    world.plumb_offline(&["validate"]).expect_code(0);

    let deep = format!("/dev/app/{}", vec!["l"; 14].join("/"));
    let stderr = problems_in(&format!("[parameters.\"{deep}\"]\nvalue = \"x\"\n"));
    assert!(
        stderr.contains("name is 16 levels deep; AWS allows 15"),
        "{stderr}"
    );
    let stderr = problems_in("[parameters.\"/dev/app/x\"]\nvalue = \"\"\n");
    assert!(stderr.contains("AWS does not allow an empty value"));
}

#[test]
fn a_duplicate_across_files_names_both_files() {
    let world = World::new();
    world.write("desired/plumb.toml", GOOD_ENV);
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/x\"]\nvalue = \"a\"\n",
    );
    world.write(
        "desired/dev/nested/b.toml",
        "\n[parameters.\"/dev/app/x\"]\nvalue = \"b\"\n",
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert!(run.stderr.contains(
        "error: desired/dev/nested/b.toml:2:13: parameter `/dev/app/x` is declared twice: here and at desired/dev/a.toml:1:13"
    ), "{}", run.stderr);
}

#[test]
fn plumb_toml_problems_are_named() {
    let world = World::new();
    world.write(
        "desired/plumb.toml",
        "[environments.dev]\nregion = \"us-east-1\"\nacount_id = \"1\"\n",
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("error: desired/plumb.toml:3:1: environments.dev: unknown field `acount_id`; did you mean `account_id`?"),
        "{}",
        run.stderr
    );

    world.write(
        "desired/plumb.toml",
        "[environments.dev]\nregion = \"us-east-1\"\naccount_id = \"12\"\n",
    );
    let run = world.plumb_offline(&["validate"]);
    assert!(
        run.stderr
            .contains("environments.dev.account_id: `12` is not a 12-digit AWS account id")
    );
    assert!(
        run.stderr
            .contains("environment `dev` has no folder `desired/dev`")
    );

    world.write("desired/plumb.toml", GOOD_ENV);
    std::fs::create_dir_all(world.path("desired/dev")).unwrap();
    std::fs::create_dir_all(world.path("desired/staging")).unwrap();
    let run = world.plumb_offline(&["validate", "--env", "dve"]);
    assert!(run.stderr.contains("folder `staging/` is not an environment"));
    assert!(
        run.stderr.contains(
            "error: no environment `dve` in desired/plumb.toml; did you mean `dev`? (it declares: dev)"
        ),
        "{}",
        run.stderr
    );
}

/// Names that differ only in case would share a folder on macOS and Windows (`Shared` would
/// be `shared/`): refused wherever plumb runs, so a repository behaves the same on every
/// machine.
#[test]
fn environment_names_alike_but_for_case_are_refused() {
    let world = World::new();
    world.write(
        "desired/plumb.toml",
        "[environments.dev]\nregion = \"us-east-1\"\n[environments.dev.scope]\nparameter_paths = [\"/dev/a/\"]\n\
         [environments.Dev]\nregion = \"us-east-1\"\n[environments.Dev.scope]\nparameter_paths = [\"/dev/b/\"]\n\
         [environments.Shared]\nregion = \"us-east-1\"\n",
    );
    for folder in ["dev", "Dev", "Shared"] {
        std::fs::create_dir_all(world.path(&format!("desired/{folder}"))).unwrap();
    }
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "desired/plumb.toml:1:15: environments `Dev` and `dev` differ only in case: on macOS and Windows their folders under desired/ are one folder; rename one"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("environments.Shared: an environment name is letters"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_plumb_toml_problem_is_reported_at_once_with_its_environment() {
    let world = World::new();
    world.write(
        "desired/plumb.toml",
        "[environments.dev]
regoin = \"us-east-1\"
[environments.prod]
region = \"us-east-1\"
max_deletes = \"ten\"
         [environments.uat]
account_id = \"12\"
region = \"us-east-1\"
[enviroments.x]
",
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    for expected in [
        "desired/plumb.toml:2:1: environments.dev: unknown field `regoin`; did you mean `region`?",
        "desired/plumb.toml:5:15: environments.prod.max_deletes: invalid type: string \"ten\", expected a whole number",
        "desired/plumb.toml:7:1: environments.uat.account_id: `12` is not a 12-digit AWS account id",
        "desired/plumb.toml:9:2: unknown table `enviroments` in plumb.toml; did you mean `environments`?",
    ] {
        assert!(run.stderr.contains(expected), "{expected}\n{}", run.stderr);
    }
}

#[test]
fn validate_reads_no_secrets_and_calls_no_aws() {
    let world = World::new();
    world.write("desired/plumb.toml", GOOD_ENV);
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/pw\"]\ntype = \"SecureString\"\nvalue_from_env = \"UNSET_IN_CI\"\n",
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "desired is valid: 1 resource(s) in 1 environment(s).\n"
    );
}

#[test]
fn plan_names_a_missing_secret_variable() {
    let world = World::new();
    world.write("desired/plumb.toml", GOOD_ENV);
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/pw\"]\ntype = \"SecureString\"\nvalue_from_env = \"UNSET_IN_CI\"\n",
    );
    let run = world.plumb_offline(&["plan"]);
    run.expect_code(1);
    assert!(run.stderr.contains(
        "error: desired/dev/a.toml:3:1: parameters.\"/dev/app/pw\".value_from_env: environment variable `UNSET_IN_CI` is not set"
    ), "{}", run.stderr);
}

/// A variable that is set but not UTF-8 is said to be so, not "not set" (which would send
/// someone looking for a variable that is there).
#[cfg(unix)]
#[test]
fn plan_names_a_secret_variable_that_is_not_text() {
    use std::os::unix::ffi::OsStrExt;
    let world = World::new();
    world.write("desired/plumb.toml", GOOD_ENV);
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/pw\"]\ntype = \"SecureString\"\nvalue_from_env = \"NOT_TEXT\"\n",
    );
    let mut command = world.command(&["plan"], None);
    command.env("NOT_TEXT", std::ffi::OsStr::from_bytes(b"caf\xe9"));
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "error: desired/dev/a.toml:3:1: parameters.\"/dev/app/pw\".value_from_env: environment variable \
         `NOT_TEXT` is not UTF-8 text, which AWS stores"
        ),
        "{stderr}"
    );
}

#[test]
fn huge_alarm_numbers_are_messages_not_crashes() {
    let stderr = problems_in(
        "[alarms.\"app-cpu\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\nstatistic = \"Average\"\n\
         period = 9223372036854775807\nevaluation_periods = 9223372036854775807\nthreshold = 1.0\n\
         comparison = \"GreaterThanThreshold\"\n",
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(
            "period 9223372036854775807 must be 10, 20, 30 or a multiple of 60 seconds, at most a day"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("evaluation_periods: must be at most 8640"),
        "{stderr}"
    );
}

#[test]
fn desired_is_found_from_any_folder_below_the_repository() {
    let world = World::new();
    world.write("desired/plumb.toml", GOOD_ENV);
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/x\"]\nvaleu = \"x\"\n",
    );
    std::fs::create_dir_all(world.path("src/deep")).unwrap();
    for (folder, shown, dir) in [
        (".", "desired/dev/a.toml", "desired/"),
        ("desired", "./dev/a.toml", "./"),
        ("desired/dev", "../dev/a.toml", "../"),
        ("src/deep", "../../desired/dev/a.toml", "../../desired/"),
    ] {
        let run = world.plumb_offline_in(folder, &["validate"]);
        run.expect_code(1);
        assert!(
            run.stderr.contains(&format!("error: {shown}:2:1: parameters.")),
            "{folder}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(&format!("error: {dir} has 1 problem(s)")),
            "{folder}: {}",
            run.stderr
        );
    }
}

#[test]
fn no_desired_anywhere_says_where_it_looked_and_mentions_dir() {
    let world = World::new();
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("error: no desired/plumb.toml in "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("or name the folder with --dir"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(":1:1"), "no fake location: {}", run.stderr);
}

#[test]
fn a_broken_declaration_is_one_problem_not_two() {
    let stderr = problems_in(
        "[groups.operations]\n[groups.operations.inline_policies.describe-ec2]\nfile = \"policies/missing.json\"\n\
         [users.alice]\ngroups = [\"operations\"]\n",
    );
    assert!(stderr.contains("policies/missing.json"), "{stderr}");
    assert!(
        !stderr.contains("is not declared"),
        "the group is declared, only broken: {stderr}"
    );
}

/// The README's TOML snippets, loaded as a user would paste them. (A fence naming another
/// file after the language, such as `toml .taplo.toml`, is not a desired/ file.)
#[test]
fn the_readme_s_snippets_are_valid() {
    let readme = std::fs::read_to_string(crate::support::repo_root().join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(blocks.len() >= 5, "plumb.toml and the resource tables");
    let world = World::new();
    let (config, resources) = blocks.split_first().unwrap();
    assert!(
        config.contains("[environments.dev]"),
        "the first snippet is plumb.toml"
    );
    world.write(
        "desired/plumb.toml",
        &config.replace("123456789012", &world.account),
    );
    world.write("desired/dev/readme.toml", &resources.join("\n"));
    for file in ["policies/describe-ec2.json", "dashboards/overview.json"] {
        let example =
            std::fs::read_to_string(crate::support::repo_root().join("desired/dev").join(file)).unwrap();
        world.write(&format!("desired/dev/{file}"), &example);
    }
    let run = world.plumb_offline(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}
