//! Rendered plans as snapshots: every folder in `tests/fixtures/plans/` holds a `desired/` and
//! a `live/` (the live state written in the same format); the plan between them is rendered as
//! text, Markdown and JSON. Adding a case is adding a folder; `cargo insta review` accepts
//! changes. No AWS involved: the engine and renderers are pure.

use std::path::Path;

use plumb::engine::{self, EnvState};
use plumb::kinds;
use plumb::load::{self, EnvVars, LoadOptions};
use plumb::plan::Plan;
use plumb::render;

/// Secret values of the fixtures: they must never appear in a rendering.
const SECRETS: &[(&str, &str)] = &[
    ("NEW_PASSWORD", "canary-new-pw"),
    ("OLD_PASSWORD", "canary-old-pw"),
];

fn plan_of(case: &Path) -> Plan {
    let kinds = kinds::registry();
    let load_side = |side: &str| {
        let dir = case.join(side);
        let options = LoadOptions {
            dir: &dir,
            environments: &[],
            env_vars: EnvVars::Given(SECRETS),
        };
        load::load(&options, &kinds).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
    };
    let (desired, live) = (load_side("desired"), load_side("live"));
    let environments = desired
        .environments
        .into_iter()
        .zip(live.environments)
        .map(|(desired, live)| {
            let live = live
                .resources
                .into_iter()
                .map(|mut r| {
                    r.version = Some("version 1".into());
                    r
                })
                .collect();
            let state = EnvState {
                env: &desired.env,
                account_id: None,
                desired: desired.resources,
                live,
            };
            engine::plan_environment(state, &kinds).plan
        })
        .collect();
    Plan::new(environments)
}

#[test]
fn plans_render_as_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let plan = plan_of(&case);
        let text = render::text::render(&plan, render::text::Style::default());
        let markdown = render::markdown::render(&plan);
        let json = render::json::render(&plan);
        for rendering in [&text, &markdown, &json] {
            for (_, secret) in SECRETS {
                assert!(!rendering.contains(secret), "{name}: a secret leaked");
            }
        }
        insta::assert_snapshot!(format!("{name}.text"), text);
        insta::assert_snapshot!(format!("{name}.markdown"), markdown);
        insta::assert_snapshot!(format!("{name}.json"), json);
    }
}

#[tokio::test]
async fn terminal_escapes_in_values_are_shown_not_obeyed() {
    let world = crate::support::World::with_dev_env();
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/x\"]\nvalue = \"real-value\\n\\u001b[1A\\u001b[2K  fake-line\\rOVERWRITTEN\\u0008\\u202eesrever\"\n",
    );
    for format in ["text", "markdown"] {
        let plan = world.plumb(&["plan", "--format", format]);
        plan.expect_code(0);
        assert!(
            !plan
                .stdout
                .chars()
                .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
            "{format}: {:?}",
            plan.stdout
        );
        assert!(plan.stdout.contains("\\u{1b}[1A"), "{format}: {}", plan.stdout);
    }
}
