//! A stand-in for GitHub's REST API on a local wiremock server, with state: it keeps the
//! pull request's comments and labels and the repository's issues, so tests can check what a
//! user would see on GitHub after plumb ran (one comment, edited in place; the labels; the
//! drift issues). It answers with complete objects, as GitHub does (octocrab reads strictly).

use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const REPOSITORY: &str = "acme/infra";

#[derive(Default, Debug)]
pub struct State {
    pub comments: Vec<(u64, u64, String, String)>, // (id, issue, body, author)
    pub labels: Vec<String>,
    pub issues: Vec<(u64, String, String, bool, String)>, // (number, title, body, open, author)
    next_id: u64,
}

/// Who the token plumb runs with writes as: the Actions bot.
pub const BOT: &str = "github-actions[bot]";

impl State {
    /// A comment written by someone else (anyone who can comment on the pull request).
    pub fn comment_as(&mut self, author: &str, issue: u64, body: &str) -> u64 {
        self.next_id += 1;
        self.comments
            .push((self.next_id, issue, body.to_string(), author.to_string()));
        self.next_id
    }

    /// An issue opened by someone else.
    pub fn issue_as(&mut self, author: &str, title: &str, body: &str) -> u64 {
        self.next_id += 1;
        self.issues.push((
            self.next_id,
            title.to_string(),
            body.to_string(),
            true,
            author.to_string(),
        ));
        self.next_id
    }
}

pub struct FakeGitHub {
    pub server: MockServer,
    pub state: Arc<Mutex<State>>,
}

fn user(login: &str) -> Json {
    let u = format!("https://api.github.test/users/{login}");
    let (id, kind) = if login == BOT {
        (41_898_282, "Bot")
    } else {
        (1_000 + login.len() as u64, "User")
    };
    json!({"login": login, "id": id, "node_id": "U1", "avatar_url": u, "gravatar_id": "", "url": u,
           "html_url": u, "followers_url": u, "following_url": u, "gists_url": u, "starred_url": u,
           "subscriptions_url": u, "organizations_url": u, "repos_url": u, "events_url": u,
           "received_events_url": u, "type": kind, "site_admin": false})
}

fn comment_json(id: u64, issue: u64, body: &str, author: &str) -> Json {
    let url = format!("https://api.github.test/repos/{REPOSITORY}/issues/comments/{id}");
    json!({"id": id, "node_id": format!("C{id}"), "url": url, "html_url": url,
           "issue_url": format!("https://api.github.test/repos/{REPOSITORY}/issues/{issue}"),
           "body": body, "author_association": "NONE", "user": user(author),
           "created_at": "2026-11-24T00:00:00Z", "updated_at": "2026-11-24T00:00:00Z"})
}

fn label_json(name: &str) -> Json {
    json!({"id": 1, "node_id": "L1", "url": format!("https://api.github.test/labels/{name}"), "name": name,
           "description": null, "color": "ededed", "default": false})
}

fn issue_json(number: u64, title: &str, body: &str, open: bool, author: &str) -> Json {
    let url = format!("https://api.github.test/repos/{REPOSITORY}/issues/{number}");
    json!({"id": number, "node_id": format!("I{number}"), "url": url, "repository_url": url, "labels_url": url,
           "comments_url": url, "events_url": url, "html_url": url, "number": number,
           "state": if open { "open" } else { "closed" }, "title": title, "body": body, "user": user(author),
           "labels": [label_json("plumb:drift")], "assignees": [], "author_association": "NONE",
           "locked": false, "comments": 0, "created_at": "2026-11-24T00:00:00Z", "updated_at": "2026-11-24T00:00:00Z"})
}

fn number_in(request: &Request, after: &str) -> u64 {
    let path = request.url.path();
    let rest = &path[path.find(after).expect("route matched") + after.len()..];
    rest.split('/')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number in the path")
}

struct Handler<F>(Arc<Mutex<State>>, F);

impl<F> Respond for Handler<F>
where
    F: Fn(&mut State, &Request) -> ResponseTemplate + Send + Sync,
{
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().expect("state");
        (self.1)(&mut state, request)
    }
}

impl FakeGitHub {
    pub async fn start() -> FakeGitHub {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            next_id: 100,
            ..State::default()
        }));
        let repo = format!("/repos/{REPOSITORY}");
        let s = || state.clone();

        Mock::given(method("GET"))
            .and(path_regex(format!(r"^{repo}/issues/\d+/comments$")))
            .respond_with(Handler(s(), |st: &mut State, r: &Request| {
                let issue = number_in(r, "/issues/");
                let list: Vec<Json> = st
                    .comments
                    .iter()
                    .filter(|c| c.1 == issue)
                    .map(|c| comment_json(c.0, c.1, &c.2, &c.3))
                    .collect();
                ResponseTemplate::new(200).set_body_json(list)
            }))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(format!(r"^{repo}/issues/\d+/comments$")))
            .respond_with(Handler(s(), |st: &mut State, r: &Request| {
                let issue = number_in(r, "/issues/");
                let body = r.body_json::<Json>().expect("json")["body"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                st.next_id += 1;
                let id = st.next_id;
                st.comments.push((id, issue, body.clone(), BOT.to_string()));
                ResponseTemplate::new(201).set_body_json(comment_json(id, issue, &body, BOT))
            }))
            .mount(&server)
            .await;
        // octocrab edits a comment with POST; GitHub documents PATCH and accepts both.
        for verb in ["POST", "PATCH"] {
            Mock::given(method(verb))
                .and(path_regex(format!(r"^{repo}/issues/comments/\d+$")))
                .respond_with(Handler(s(), |st: &mut State, r: &Request| {
                    let id = number_in(r, "/comments/");
                    let body = r.body_json::<Json>().expect("json")["body"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    match st.comments.iter_mut().find(|c| c.0 == id) {
                        // GitHub lets a token edit others' comments where it may moderate;
                        // the stand-in records the edit, so tests can see it happened.
                        Some(comment) => {
                            comment.2 = body.clone();
                            ResponseTemplate::new(200)
                                .set_body_json(comment_json(id, comment.1, &body, &comment.3))
                        }
                        None => ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
                    }
                }))
                .mount(&server)
                .await;
        }
        Mock::given(method("GET"))
            .and(path_regex(format!(r"^{repo}/issues/\d+/labels$")))
            .respond_with(Handler(s(), |st: &mut State, _: &Request| {
                ResponseTemplate::new(200)
                    .set_body_json(st.labels.iter().map(|l| label_json(l)).collect::<Vec<_>>())
            }))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(format!(r"^{repo}/issues/\d+/labels$")))
            .respond_with(Handler(s(), |st: &mut State, r: &Request| {
                let body: Json = r.body_json().expect("json");
                for label in body["labels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Json::as_str)
                {
                    if !st.labels.iter().any(|l| l == label) {
                        st.labels.push(label.to_string());
                    }
                }
                ResponseTemplate::new(200)
                    .set_body_json(st.labels.iter().map(|l| label_json(l)).collect::<Vec<_>>())
            }))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path_regex(format!(r"^{repo}/issues/\d+/labels/.+$")))
            .respond_with(Handler(s(), |st: &mut State, r: &Request| {
                let name = r
                    .url
                    .path()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .replace("%3A", ":");
                st.labels.retain(|l| *l != name);
                ResponseTemplate::new(200)
                    .set_body_json(st.labels.iter().map(|l| label_json(l)).collect::<Vec<_>>())
            }))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{repo}/issues")))
            .respond_with(Handler(s(), |st: &mut State, _: &Request| {
                let open: Vec<Json> = st
                    .issues
                    .iter()
                    .filter(|i| i.3)
                    .map(|i| issue_json(i.0, &i.1, &i.2, i.3, &i.4))
                    .collect();
                ResponseTemplate::new(200).set_body_json(open)
            }))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{repo}/issues")))
            .respond_with(Handler(s(), |st: &mut State, r: &Request| {
                let body: Json = r.body_json().expect("json");
                st.next_id += 1;
                let number = st.next_id;
                let (title, text) = (
                    body["title"].as_str().unwrap_or_default(),
                    body["body"].as_str().unwrap_or_default(),
                );
                st.issues
                    .push((number, title.to_string(), text.to_string(), true, BOT.to_string()));
                ResponseTemplate::new(201).set_body_json(issue_json(number, title, text, true, BOT))
            }))
            .mount(&server)
            .await;
        Mock::given(method("PATCH"))
            .and(path_regex(format!(r"^{repo}/issues/\d+$")))
            .respond_with(Handler(s(), |st: &mut State, r: &Request| {
                let number = number_in(r, "/issues/");
                let body: Json = r.body_json().expect("json");
                let Some(issue) = st.issues.iter_mut().find(|i| i.0 == number) else {
                    return ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
                };
                if let Some(text) = body["body"].as_str() {
                    issue.2 = text.to_string();
                }
                if body["state"] == "closed" {
                    issue.3 = false;
                }
                ResponseTemplate::new(200)
                    .set_body_json(issue_json(issue.0, &issue.1, &issue.2, issue.3, &issue.4))
            }))
            .mount(&server)
            .await;
        FakeGitHub { server, state }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Every request body GitHub received, for secret scans.
    pub async fn all_request_bodies(&self) -> String {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}
