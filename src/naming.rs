//! Naming rules (`[naming]` in plumb.toml): one pattern per table that every name of that
//! table must match, e.g. `alarms = "{vars.app}-{env}-*"`.
//!
//! A pattern is literal text with `{env}` (the environment's name), `{vars.NAME}` (one of its
//! variables), `*` (any run of characters without `/`) and `**` (any run of characters).
//! `validate` reports declared names that break their rule; plan and drift note live objects in
//! scope that do; `compare` lines environments up by a name with these parts taken out.

use regex::Regex;

use crate::config::{Environment, NamingRule};

/// One piece of a pattern.
#[derive(Clone, Debug, PartialEq)]
enum Token {
    Literal(String),
    Env,
    Var(String),
    /// `*`: no `/`.
    Star,
    /// `**`: anything.
    Stars,
}

/// Whether `name` can name a variable (`[environments.X.vars]`, `{vars.NAME}`).
pub fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Checks a pattern's syntax (what it says is checked per environment by [`Rule::compile`]).
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("a naming rule must not be empty".into());
    }
    if pattern.contains("${") {
        return Err("naming rules write `{env}` and `{vars.NAME}`, without `$`".into());
    }
    tokens(pattern).map(|_| ())
}

fn tokens(pattern: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        let token = if let Some(after) = rest.strip_prefix("**") {
            rest = after;
            Token::Stars
        } else if let Some(after) = rest.strip_prefix('*') {
            rest = after;
            Token::Star
        } else if rest.starts_with('{') {
            let end = rest
                .find('}')
                .ok_or_else(|| format!("`{rest}` has no closing `}}`"))?;
            let inner = &rest[1..end];
            rest = &rest[end + 1..];
            match inner.strip_prefix("vars.") {
                _ if inner == "env" => Token::Env,
                Some(var) if is_variable_name(var) => Token::Var(var.to_string()),
                _ => {
                    return Err(format!(
                        "unknown placeholder `{{{inner}}}`: use {{env}} or {{vars.NAME}}"
                    ));
                }
            }
        } else if c == '}' {
            return Err("a `}` without its `{`".into());
        } else {
            literal.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        if !literal.is_empty() {
            out.push(Token::Literal(std::mem::take(&mut literal)));
        }
        out.push(token);
    }
    if !literal.is_empty() {
        out.push(Token::Literal(literal));
    }
    Ok(out)
}

/// A naming rule made concrete for one environment.
pub struct Rule<'r> {
    pub rule: &'r NamingRule,
    tokens: Vec<Token>,
    regex: Regex,
    /// The pattern with this environment's values written in: `mono-repo-dev-*`.
    pub expected: String,
}

impl<'r> Rule<'r> {
    /// The rule for `env`; an error names a variable the environment does not set.
    pub fn compile(rule: &'r NamingRule, env: &Environment) -> Result<Rule<'r>, String> {
        let tokens = tokens(&rule.pattern)?;
        let mut regex = String::from("^");
        let mut expected = String::new();
        for token in &tokens {
            let (part, shown) = match token {
                Token::Literal(text) => (regex::escape(text), text.clone()),
                Token::Env => (regex::escape(&env.name), env.name.clone()),
                Token::Var(name) => {
                    let value = env.vars.get(name).ok_or_else(|| {
                        format!(
                            "`{{vars.{name}}}`: environment `{}` sets no variable `{name}`",
                            env.name
                        )
                    })?;
                    let text = value.as_str().map_or_else(|| value.to_string(), str::to_string);
                    (regex::escape(&text), text)
                }
                Token::Star => ("([^/]*)".to_string(), "*".to_string()),
                Token::Stars => ("(.*)".to_string(), "**".to_string()),
            };
            regex.push_str(&part);
            expected.push_str(&shown);
        }
        regex.push('$');
        let regex = Regex::new(&regex).map_err(|e| format!("cannot compile the rule: {e}"))?;
        Ok(Rule {
            rule,
            tokens,
            regex,
            expected,
        })
    }

    pub fn allows(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }

    /// The name with the environment's parts written as the pattern writes them
    /// (`{vars.app}-{env}-cpu`), so that environments line up; `None` when it breaks the rule.
    pub fn generic(&self, name: &str) -> Option<String> {
        let captures = self.regex.captures(name)?;
        let mut wild = captures.iter().skip(1).flatten();
        let mut out = String::new();
        for token in &self.tokens {
            match token {
                Token::Literal(text) => out.push_str(text),
                Token::Env => out.push_str("{env}"),
                Token::Var(var) => out.push_str(&format!("{{vars.{var}}}")),
                Token::Star | Token::Stars => out.push_str(wild.next().map_or("", |m| m.as_str())),
            }
        }
        Some(out)
    }
}

/// The rules of `rules` for `table`, made concrete for `env` (problems as messages).
pub fn rules_for<'r>(
    rules: &'r [NamingRule],
    table: &str,
    env: &Environment,
) -> Vec<Result<Rule<'r>, String>> {
    rules
        .iter()
        .filter(|r| r.table == table)
        .map(|r| Rule::compile(r, env))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Origin;

    fn env() -> Environment {
        let text = "region = \"us-east-1\"\n[vars]\napp = \"mono-repo\"\n";
        let mut env: Environment = toml::from_str(text).unwrap();
        env.name = "dev".into();
        env
    }

    fn rule(pattern: &str) -> NamingRule {
        NamingRule {
            table: "alarms".into(),
            pattern: pattern.into(),
            origin: Origin {
                file: std::path::Path::new("plumb.toml").into(),
                line: 1,
                column: 1,
            },
        }
    }

    #[test]
    fn stars_and_placeholders_match_as_documented() {
        let env = env();
        let params = rule("/{env}/{vars.app}/**");
        let compiled = Rule::compile(&params, &env).unwrap();
        assert!(compiled.allows("/dev/mono-repo/db/host"));
        assert!(!compiled.allows("/prod/mono-repo/db/host"));
        assert_eq!(compiled.expected, "/dev/mono-repo/**");
        let alarms = rule("{vars.app}-{env}-*");
        let compiled = Rule::compile(&alarms, &env).unwrap();
        assert!(compiled.allows("mono-repo-dev-cpu-high"));
        assert!(!compiled.allows("mono-repo-dev-a/b"), "* stops at /");
        assert_eq!(
            compiled.generic("mono-repo-dev-cpu").unwrap(),
            "{vars.app}-{env}-cpu"
        );
    }

    #[test]
    fn bad_patterns_and_missing_variables_are_explained() {
        assert!(
            check_pattern("{envv}-*")
                .unwrap_err()
                .contains("unknown placeholder `{envv}`")
        );
        assert!(check_pattern("{env").unwrap_err().contains("no closing"));
        assert!(check_pattern("").is_err());
        let missing = rule("{vars.team}-*");
        let error = Rule::compile(&missing, &env()).err().unwrap();
        assert!(
            error.contains("environment `dev` sets no variable `team`"),
            "{error}"
        );
    }
}
