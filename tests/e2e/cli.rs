//! What a newcomer sees on the command line, as snapshots: the messages of the mistakes
//! people make first. `cargo insta review` accepts a deliberate change.

use crate::support::World;

#[test]
fn a_mistyped_flag() {
    let world = World::with_dev_env();
    let run = world.plumb_offline(&["plan", "--detailed-exitcod"]);
    insta::assert_snapshot!(world.shown(&run));
}

#[test]
fn no_desired_folder() {
    let world = World::new();
    let run = world.plumb_offline(&["validate"]);
    insta::assert_snapshot!(world.shown(&run));
}

#[test]
fn an_unknown_environment() {
    let world = World::with_dev_env();
    let run = world.plumb_offline(&["validate", "--env", "prdo"]);
    insta::assert_snapshot!(world.shown(&run));
}

#[test]
fn several_plumb_toml_mistakes_at_once() {
    let world = World::new();
    world.write(
        "desired/plumb.toml",
        "[environments.dev]\nregoin = \"us-east-1\"\n[environments.prod]\nregion = \"us-east-1\"\nmax_deletes = \"ten\"\n\
         [environments.prod.scope]\niam_path = \"/mono\"\n",
    );
    std::fs::create_dir_all(world.path("desired/prod")).unwrap();
    let run = world.plumb_offline(&["validate"]);
    insta::assert_snapshot!(world.shown(&run));
}

#[test]
fn a_resource_file_with_the_usual_mistakes() {
    let world = World::with_dev_env();
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/port\"]\nvalue = 5432\n\
         [groups.ops]\n[groups.ops.inline_policies.read]\nfile = \"policies/missing.json\"\n\
         [users.alice]\ngroups = [\"ops\", \"devs\"]\n\
         [alarms.\"app-cpu\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\nstatistic = \"Average\"\n\
         period = \"300\"\nevaluation_periods = 1\nthreshold = 80.0\ncomparison = \"GreaterThanThreshold\"\n",
    );
    let run = world.plumb_offline(&["validate"]);
    insta::assert_snapshot!(world.shown(&run));
}
