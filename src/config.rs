//! `desired/plumb.toml`: the environments, their accounts, regions, scopes and guards.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scope::{self, Rule, Scope};

/// Deletions (and replacements) an apply makes without `--allow-deletes` when `max_deletes`
/// is not set: an emptied folder or a mistyped scope must not prune an account unasked.
pub const DEFAULT_MAX_DELETES: usize = 10;

/// The longest environment name plumb accepts.
const MAX_ENV_NAME: usize = 64;

/// `desired/plumb.toml`: its environments by name (read one by one by the loader, so that
/// every problem is reported at once).
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub environments: BTreeMap<String, Environment>,
    /// Environments declared but not readable (their problems are reported): they exist, so
    /// nothing else says they are missing.
    pub unreadable: Vec<String>,
    /// `[shared]`, and where it is.
    pub shared: Shared,
    pub shared_origin: Option<crate::source::Origin>,
    /// `[naming]`: one rule per table.
    pub naming: Vec<NamingRule>,
}

/// The folder under desired/ whose files every environment (or those `[shared]` lists)
/// declares; no environment may have this name.
pub const SHARED_FOLDER: &str = "shared";

/// `[shared]` in plumb.toml: which environments declare the files of desired/shared/.
#[derive(Clone, Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shared {
    /// The environments that declare the files of desired/shared/; default: all of them.
    pub environments: Option<Vec<String>>,
}

/// One `[naming]` rule: the names a table's resources must have.
#[derive(Clone, Debug)]
pub struct NamingRule {
    pub table: String,
    pub pattern: String,
    pub origin: crate::source::Origin,
}

impl Config {
    /// Whether `env` declares the files of desired/shared/.
    pub fn shares_with(&self, env: &str) -> bool {
        match &self.shared.environments {
            None => true,
            Some(names) => names.iter().any(|n| n == env),
        }
    }

    /// The environments desired/shared/ reaches.
    pub fn shared_environments(&self) -> Vec<String> {
        self.environments
            .keys()
            .filter(|e| self.shares_with(e))
            .cloned()
            .collect()
    }
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Filled in from the table's key.
    #[serde(skip)]
    pub name: String,
    /// Where its table is in plumb.toml, and each of its keys, for messages.
    #[serde(skip)]
    pub origin: Option<crate::source::Origin>,
    #[serde(skip)]
    pub field_origins: BTreeMap<String, crate::source::Origin>,
    /// Guard: plan and apply refuse when STS says the credentials are for another account.
    pub account_id: Option<String>,
    /// The AWS region of the environment's regional objects (SSM, CloudWatch, SNS).
    pub region: String,
    /// The AWS profile (~/.aws/config) to take credentials from; default: the SDK's chain.
    pub profile: Option<String>,
    /// A role ARN to assume with the credentials found, e.g. one role per account.
    pub assume_role: Option<String>,
    /// Glob patterns (`*` matches any run of characters, `/` included) of resource names
    /// that are never deleted or replaced.
    #[serde(default)]
    pub protect: Vec<String>,
    /// A plan deleting (or replacing) more resources than this is refused by apply unless
    /// `--allow-deletes N` allows at least as many. Default: 10.
    pub max_deletes: Option<usize>,
    /// PutParameter calls a second plumb makes at most. Unset, plumb finds the account's quota
    /// by itself (it slows down when AWS throttles it and speeds up again when it does not);
    /// set it to the quota to keep to it from the first call.
    #[serde(default)]
    pub ssm_put_rate: Option<f64>,
    /// GetParameters calls a second plumb makes at most when it reads values by name (the
    /// value cache's misses); AWS's default quota for the Get* calls together is 40.
    #[serde(default = "default_ssm_read_rate")]
    pub ssm_read_rate: f64,
    /// Regions that keep a copy of the environment's parameters (disaster recovery): each is
    /// planned as its own section, drift there is caught and deletions are pruned there too.
    #[serde(default)]
    pub replica_regions: Vec<String>,
    /// Set on a replica's copy of the environment (see [`Environment::replica`]): the home
    /// region.
    #[serde(skip)]
    pub replica_of: Option<String>,
    /// The parameter paths copied to the replica regions; default: all of `parameter_paths`.
    pub replica_paths: Option<Vec<String>>,
    /// The KMS key of SecureStrings in the replica regions (keys are regional); default: the
    /// key the declaration names (an alias resolves in each region).
    pub replica_key_id: Option<String>,
    /// Variables for placeholders in desired/'s files: `${vars.NAME}` (a string, number, boolean
    /// or list; a value that is exactly one placeholder keeps the variable's type).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub vars: BTreeMap<String, toml::Value>,
    /// `[environments.NAME.scope]`: its schema comes from the kinds' scope rules.
    #[serde(default)]
    #[schemars(skip)]
    pub scope: Scope,
}

/// GetParameters calls a second by default: well below AWS's default 40 a second shared by
/// every Get* call of the account, so that applications reading their parameters are not
/// throttled by a plan.
pub const DEFAULT_SSM_READ_RATE: f64 = 20.0;

fn default_ssm_read_rate() -> f64 {
    DEFAULT_SSM_READ_RATE
}

/// Whether `name` can name an environment: a simple identifier (letters, digits, `-`, `_`,
/// starting with a letter or digit). Names become folder names, markers in PR comments and
/// lock names, so nothing that could climb out of `desired/` or break a marker is accepted.
pub fn is_valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok
        && name.len() <= MAX_ENV_NAME
        && !name.eq_ignore_ascii_case(SHARED_FOLDER)
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `${...}` (a desired/ file's placeholder) or a naming rule's `{env}`, `{region}`,
/// `{account_id}`, `{vars.*}`.
fn holds_placeholder(text: &str) -> bool {
    text.contains("${")
        || ["{env}", "{region}", "{account_id}", "{vars."]
            .iter()
            .any(|p| text.contains(p))
}

/// The strings in a TOML value (lists and tables searched).
fn strings_in(value: &toml::Value) -> Vec<String> {
    match value {
        toml::Value::String(text) => vec![text.clone()],
        toml::Value::Array(items) => items.iter().flat_map(strings_in).collect(),
        toml::Value::Table(table) => table.values().flat_map(strings_in).collect(),
        _ => Vec::new(),
    }
}

impl Environment {
    /// The deletion guard's limit: `max_deletes`, or [`DEFAULT_MAX_DELETES`].
    pub fn delete_limit(&self) -> usize {
        self.max_deletes.unwrap_or(DEFAULT_MAX_DELETES)
    }

    /// Checks the rules serde cannot express (`rules`: the kinds' scope rules); returns
    /// (field, message) pairs.
    pub fn check(&self, rules: &[Rule]) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(account) = &self.account_id
            && (account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()))
        {
            problems.push((
                "account_id",
                format!("`{account}` is not a 12-digit AWS account id"),
            ));
        }
        if self.region.trim().is_empty() {
            problems.push(("region", "must not be empty".to_string()));
        }
        for (field, rate) in [
            ("ssm_put_rate", self.ssm_put_rate.unwrap_or(1.0)),
            ("ssm_read_rate", self.ssm_read_rate),
        ] {
            if !(rate > 0.0 && rate.is_finite()) {
                problems.push((field, "must be a positive number of calls a second".into()));
            }
        }
        let problems = problems.into_iter().map(|(f, m)| (f.to_string(), m));
        problems
            .chain(self.check_no_placeholders(rules))
            .chain(scope::check(&self.scope, rules))
            .chain(self.check_replicas())
            .collect()
    }

    /// Placeholders are expanded in desired/ files only: in plumb.toml, `protect =
    /// ["/${env}/db/*"]` would protect nothing, `replica_key_id = "alias/${env}"` would name no
    /// key and `iam_path = "/${env}/"` would be a path of that name, all without a word; a
    /// naming rule's `{env}` is no placeholder outside `[naming]`, and a variable's value is
    /// not expanded either.
    fn check_no_placeholders(&self, rules: &[Rule]) -> Vec<(String, String)> {
        let one = |field: &str, values: &mut dyn Iterator<Item = &String>| {
            values.map(|v| (field.to_string(), v.clone())).collect::<Vec<_>>()
        };
        let mut settings = [
            one("protect", &mut self.protect.iter()),
            one("replica_key_id", &mut self.replica_key_id.iter()),
            one("replica_paths", &mut self.replica_paths.iter().flatten()),
            one("replica_regions", &mut self.replica_regions.iter()),
            one("assume_role", &mut self.assume_role.iter()),
            one("profile", &mut self.profile.iter()),
        ]
        .concat();
        for rule in rules {
            let values = self.scope.values(rule.setting).into_iter();
            settings.extend(values.map(|v| (format!("scope.{}", rule.setting), v.to_string())));
        }
        for (name, value) in &self.vars {
            settings.extend(strings_in(value).into_iter().map(|v| (format!("vars.{name}"), v)));
        }
        let placeholders = settings.into_iter().filter(|(_, value)| holds_placeholder(value));
        placeholders
            .map(|(field, value)| {
                let message = format!(
                    "`{value}` holds a placeholder, and plumb.toml is not expanded (desired/ files \
                     are): write this environment's own value"
                );
                (field, message)
            })
            .collect()
    }

    /// The replica settings: distinct regions other than the environment's own, paths inside
    /// the environment's `parameter_paths`.
    fn check_replicas(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut seen = Vec::new();
        for region in &self.replica_regions {
            if region.trim().is_empty() || region == &self.region || seen.contains(&region) {
                let message = format!(
                    "`{region}` is not a replica region: each must be named once and differ from `region`"
                );
                problems.push(("replica_regions".to_string(), message));
            }
            seen.push(region);
        }
        if self.replica_regions.is_empty() && (self.replica_paths.is_some() || self.replica_key_id.is_some())
        {
            let message = "has no effect without `replica_regions`".to_string();
            let field = if self.replica_paths.is_some() {
                "replica_paths"
            } else {
                "replica_key_id"
            };
            problems.push((field.to_string(), message));
        }
        if let Some(key) = self.replica_key_id.as_deref().filter(|k| k.starts_with("arn:")) {
            // arn:aws:kms:REGION:ACCOUNT:key/ID names a key in one region.
            let region = key.split(':').nth(3).unwrap_or_default();
            if self.replica_regions.len() > 1 || self.replica_regions.iter().any(|r| r != region) {
                let message = format!(
                    "`{key}` is a key in `{region}`; replicas in {} need a key there: use an alias that exists in each",
                    self.replica_regions.join(", ")
                );
                problems.push(("replica_key_id".to_string(), message));
            }
        }
        let owned = self.scope.values(crate::scope::PARAMETER_PATHS);
        for path in self.replica_paths.iter().flatten() {
            if !owned.iter().any(|p| crate::scope::path_covers(p, path)) {
                let message = format!("`{path}` is not inside the environment's `parameter_paths`");
                problems.push(("replica_paths".to_string(), message));
            }
        }
        problems
    }

    /// The name as messages and plans show it: `dev`, or `dev (replica us-west-2)`.
    pub fn label(&self) -> String {
        match &self.replica_of {
            Some(_) => format!("{} (replica {})", self.name, self.region),
            None => self.name.clone(),
        }
    }

    /// The environment as one of its replica regions sees it: that region, owning only the
    /// replicated parameter paths (nothing of the other kinds).
    pub fn replica(&self, region: &str) -> Environment {
        let paths = match &self.replica_paths {
            Some(paths) => paths.clone(),
            None => self
                .scope
                .values(crate::scope::PARAMETER_PATHS)
                .into_iter()
                .map(str::to_string)
                .collect(),
        };
        Environment {
            region: region.to_string(),
            scope: self.scope.only(crate::scope::PARAMETER_PATHS, paths),
            replica_regions: Vec::new(),
            replica_of: Some(self.region.clone()),
            ..self.clone()
        }
    }
}
