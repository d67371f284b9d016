//! Composite alarms: an alarm with a `rule` over other alarms' states
//! (`ALARM("a") AND NOT OK("b")`), in the same `[alarms]` table and scope as metric alarms.
//! This module holds what is theirs alone: the spec, AWS's rule syntax, and the write.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{CompositeAlarm, Tag};
use serde::Serialize;

use crate::aws::{AwsError, SdkResult};

/// AWS's limits on a rule.
const MAX_RULE_CHARS: usize = 10_240;
const MAX_ALARMS_IN_RULE: usize = 100;

/// A composite alarm as compared; tags managed only when declared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Composite {
    pub description: Option<String>,
    pub rule: String,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub actions_enabled: bool,
    /// Compared always (none is null): PutCompositeAlarm sends the whole alarm, so a
    /// suppressor left out of the declaration is removed, and the plan must say so.
    pub actions_suppressor: Option<String>,
    pub actions_suppressor_wait_period: Option<i64>,
    pub actions_suppressor_extension_period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

/// The alarms a rule names, or why AWS would refuse it: `ALARM`, `OK` and
/// `INSUFFICIENT_DATA` of a quoted alarm name, `TRUE`, `FALSE`, `AND`, `OR`, `NOT` and
/// parentheses; at most 100 alarms and 10,240 characters.
pub fn alarms_in_rule(rule: &str) -> Result<Vec<String>, String> {
    if rule.chars().count() > MAX_RULE_CHARS {
        return Err(format!("a rule has at most {MAX_RULE_CHARS} characters"));
    }
    let tokens = tokens(rule)?;
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        alarms: Vec::new(),
        depth: 0,
    };
    parser.expression()?;
    if let Some(extra) = parser.tokens.get(parser.at) {
        return Err(format!("unexpected {extra} after a complete rule"));
    }
    if parser.alarms.len() > MAX_ALARMS_IN_RULE {
        return Err(format!(
            "the rule names {} alarms; AWS allows {MAX_ALARMS_IN_RULE}",
            parser.alarms.len()
        ));
    }
    Ok(parser.alarms)
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Word(w) => write!(f, "`{w}`"),
            Token::Quoted(q) => write!(f, "\"{q}\""),
            Token::Open => f.write_str("`(`"),
            Token::Close => f.write_str("`)`"),
        }
    }
}

fn tokens(rule: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = rule.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            _ if c.is_whitespace() => {
                chars.next();
            }
            // A state's alarm name may go without quotes (AWS's docs): the text up to `)`.
            '(' if matches!(tokens.last(), Some(Token::Word(w)) if STATES.contains(&w.as_str())) => {
                chars.next();
                tokens.push(Token::Open);
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                if chars.peek() != Some(&'"') {
                    let name: String = chars.by_ref().take_while(|c| *c != ')').collect();
                    tokens.push(Token::Quoted(name.trim().to_string()));
                    tokens.push(Token::Close);
                }
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '"' => {
                chars.next();
                let name: String = chars.by_ref().take_while(|c| *c != '"').collect();
                tokens.push(Token::Quoted(name));
            }
            _ if c.is_ascii_alphabetic() || c == '_' => {
                let mut word = String::new();
                while let Some(&c) = chars.peek().filter(|c| c.is_ascii_alphanumeric() || **c == '_') {
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
            other => return Err(format!("unexpected `{other}` in the rule")),
        }
    }
    Ok(tokens)
}

/// The states a rule can test an alarm for.
const STATES: [&str; 3] = ["ALARM", "OK", "INSUFFICIENT_DATA"];

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
    alarms: Vec<String>,
    /// How deeply `NOT` and parentheses nest here: bounded, so no rule overflows the stack.
    depth: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.at);
        self.at += 1;
        token
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w == word)
    }

    /// term ((AND | OR) term)*
    fn expression(&mut self) -> Result<(), String> {
        self.term()?;
        while self.peek_word("AND") || self.peek_word("OR") {
            self.at += 1;
            self.term()?;
        }
        Ok(())
    }

    /// NOT term | ( expression ) | TRUE | FALSE | STATE ( "name" )
    fn term(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > crate::source::MAX_NESTING {
            return Err(format!(
                "the rule nests more than {} levels deep",
                crate::source::MAX_NESTING
            ));
        }
        let term = self.bare_term();
        self.depth -= 1;
        term
    }

    fn bare_term(&mut self) -> Result<(), String> {
        match self.next().cloned() {
            Some(Token::Word(w)) if w == "NOT" => self.term(),
            Some(Token::Word(w)) if w == "TRUE" || w == "FALSE" => Ok(()),
            Some(Token::Word(w)) if STATES.contains(&w.as_str()) => {
                match (self.next().cloned(), self.next().cloned(), self.next().cloned()) {
                    (Some(Token::Open), Some(Token::Quoted(name)), Some(Token::Close))
                        if !name.is_empty() =>
                    {
                        self.alarms.push(name);
                        Ok(())
                    }
                    _ => Err(format!("{w} takes one quoted alarm name: {w}(\"name\")")),
                }
            }
            Some(Token::Open) => {
                self.expression()?;
                match self.next() {
                    Some(Token::Close) => Ok(()),
                    _ => Err("a `(` is not closed".into()),
                }
            }
            Some(other) => Err(format!(
                "expected ALARM, OK, INSUFFICIENT_DATA, TRUE, FALSE, NOT or `(`, found {other}"
            )),
            None => Err("the rule ends too early".into()),
        }
    }
}

/// A composite alarm as DescribeAlarms returns it.
pub fn live_composite(alarm: &CompositeAlarm) -> Composite {
    let set = |items: &[String]| {
        let mut items = items.to_vec();
        items.sort();
        items.dedup();
        items
    };
    Composite {
        description: alarm.alarm_description.clone().filter(|d| !d.is_empty()),
        rule: alarm.alarm_rule.clone().unwrap_or_default(),
        alarm_actions: set(alarm.alarm_actions()),
        ok_actions: set(alarm.ok_actions()),
        insufficient_data_actions: set(alarm.insufficient_data_actions()),
        actions_enabled: alarm.actions_enabled.unwrap_or(true),
        actions_suppressor: alarm.actions_suppressor.clone().filter(|s| !s.is_empty()),
        actions_suppressor_wait_period: alarm.actions_suppressor_wait_period.map(i64::from),
        actions_suppressor_extension_period: alarm.actions_suppressor_extension_period.map(i64::from),
        tags: None,
    }
}

/// PutCompositeAlarm with every declared field: it replaces the whole alarm.
pub async fn put(client: &Client, name: &str, desired: &Composite, with_tags: bool) -> Result<(), AwsError> {
    let mut request = client
        .put_composite_alarm()
        .alarm_name(name)
        .alarm_rule(&desired.rule)
        .set_alarm_description(desired.description.clone())
        .set_alarm_actions(Some(desired.alarm_actions.clone()))
        .set_ok_actions(Some(desired.ok_actions.clone()))
        .set_insufficient_data_actions(Some(desired.insufficient_data_actions.clone()))
        .actions_enabled(desired.actions_enabled)
        .set_actions_suppressor(desired.actions_suppressor.clone())
        .set_actions_suppressor_wait_period(desired.actions_suppressor_wait_period.map(|p| p as i32))
        .set_actions_suppressor_extension_period(
            desired.actions_suppressor_extension_period.map(|p| p as i32),
        );
    if let Some(tags) = desired.tags.as_ref().filter(|t| with_tags && !t.is_empty()) {
        let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
        request = request.set_tags(Some(tags.collect()));
    }
    request.send().await.aws("PutCompositeAlarm", name)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::alarms_in_rule;

    #[test]
    fn rules_are_checked_as_aws_checks_them() {
        assert_eq!(
            alarms_in_rule(r#"ALARM("a") AND (OK("b") OR NOT INSUFFICIENT_DATA("c"))"#).unwrap(),
            ["a", "b", "c"]
        );
        assert!(alarms_in_rule("TRUE").is_ok());
        // Names without quotes, as AWS allows.
        assert_eq!(
            alarms_in_rule("ALARM(app-cpu) OR OK( app.mem )").unwrap(),
            ["app-cpu", "app.mem"]
        );
        let deep = format!("{}ALARM(\"a\"){}", "(".repeat(4000), ")".repeat(4000));
        assert!(alarms_in_rule(&deep).unwrap_err().contains("nests more than"));
        let nots = format!("{}TRUE", "NOT ".repeat(2000));
        assert!(alarms_in_rule(&nots).unwrap_err().contains("nests more than"));
        for (rule, says) in [
            (r#"ALARM("a") AND"#, "ends too early"),
            (r#"ALARMS("a")"#, "expected ALARM"),
            (r#"(ALARM("a")"#, "not closed"),
            (r#"ALARM("a") OK("b")"#, "after a complete rule"),
            (r#"ALARM("a") & OK("b")"#, "unexpected `&`"),
            (r#"ALARM("")"#, "quoted alarm name"),
        ] {
            let error = alarms_in_rule(rule).unwrap_err();
            assert!(error.contains(says), "{rule}: {error}");
        }
        let many: Vec<String> = (0..101).map(|i| format!("ALARM(\"a{i}\")")).collect();
        assert!(
            alarms_in_rule(&many.join(" OR "))
                .unwrap_err()
                .contains("AWS allows 100")
        );
    }
}
