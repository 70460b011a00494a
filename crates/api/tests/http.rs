//! The HTTP layer against the router (no socket): authentication, permissions, input errors,
//! the engine's verdicts, conversations, metrics and the OpenAPI document.

mod common;

use api::{Action, ApiOptions, TransferTarget};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use common::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// Checks the status and that the body is the standard JSON error with that status.
    fn assert_error(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        let body = self.json();
        assert_eq!(body["status"], status, "{body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
}

async fn send(
    fixture: &Fixture,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
    content_type: Option<&str>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .expect("request");
    let response = api::router(fixture.state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(fixture: &Fixture, uri: &str, token: Option<&str>) -> Reply {
    send(fixture, "GET", uri, token, None, None).await
}

async fn post(fixture: &Fixture, uri: &str, token: &str, body: Option<Value>) -> Reply {
    let body = body.map(|b| b.to_string());
    send(
        fixture,
        "POST",
        uri,
        Some(token),
        body.as_deref(),
        body.as_ref().map(|_| "application/json"),
    )
    .await
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.json()["calls"]
        .as_array()
        .expect("calls array")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn healthz_needs_no_token() {
    let f = fixture();
    let reply = get(&f, "/healthz", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["status"], "ok");
    assert_eq!(reply.json()["calls"], 3);
}

#[tokio::test]
async fn missing_or_unknown_tokens_are_401_with_a_bearer_challenge() {
    let f = fixture();
    let reply = get(&f, "/v1/calls", None).await;
    reply.assert_error(401);
    assert_eq!(reply.headers["www-authenticate"], "Bearer");

    let reply = get(&f, "/v1/calls", Some("not-a-token")).await;
    reply.assert_error(401);
    assert_eq!(
        reply.headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );

    let reply = send(&f, "GET", "/v1/calls/c-alice", None, None, None).await;
    reply.assert_error(401);

    // Another scheme is no bearer token.
    let request = Request::get("/v1/calls")
        .header("authorization", "Basic YWRtaW46YWRtaW4=")
        .body(Body::empty())
        .expect("request");
    let response = api::router(f.state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The query-string token is for /v1/events only.
    let uri = format!("/v1/calls?access_token={ADMIN}");
    get(&f, &uri, None).await.assert_error(401);
}

#[tokio::test]
async fn call_list_is_scoped_by_token_and_filters() {
    let f = fixture();
    let all = ["c-alice", "c-bob", "stuck"];
    assert_eq!(ids(&get(&f, "/v1/calls", Some(ADMIN)).await), all);
    assert_eq!(ids(&get(&f, "/v1/calls", Some(VIEWER)).await), all);
    assert_eq!(
        ids(&get(&f, "/v1/calls", Some(ALICE)).await),
        ["c-alice", "stuck"]
    );
    assert_eq!(ids(&get(&f, "/v1/calls", Some(BOB)).await), ["c-bob"]);
    assert_eq!(
        ids(&get(&f, "/v1/calls?user=bob", Some(ADMIN)).await),
        ["c-bob"]
    );
    assert_eq!(
        ids(&get(&f, "/v1/calls?state=ringing", Some(ADMIN)).await),
        ["c-alice"]
    );
    // `+` must be %2B in a query string, but a raw `+` (decoded as a space) is understood too.
    assert_eq!(
        ids(&get(&f, "/v1/calls?line=%2B33100000001", Some(ADMIN)).await),
        all
    );
    assert_eq!(
        ids(&get(&f, "/v1/calls?line=+33100000001", Some(ADMIN)).await),
        all
    );
    assert!(ids(&get(&f, "/v1/calls?line=%2B33999", Some(ADMIN)).await).is_empty());
    assert_eq!(
        ids(&get(&f, "/v1/calls?team=support", Some(VIEWER)).await),
        all
    );
    assert!(ids(&get(&f, "/v1/calls?team=sales", Some(VIEWER)).await).is_empty());

    get(&f, "/v1/calls?user=bob", Some(ALICE))
        .await
        .assert_error(403);
    get(&f, "/v1/calls?user=zed", Some(ADMIN))
        .await
        .assert_error(404);
    get(&f, "/v1/calls?team=zed", Some(ADMIN))
        .await
        .assert_error(404);
    get(&f, "/v1/calls?state=dancing", Some(ADMIN))
        .await
        .assert_error(400);
}

#[tokio::test]
async fn one_call_with_its_popup_data() {
    let f = fixture();
    let reply = get(&f, "/v1/calls/c-alice", Some(ALICE)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let call = reply.json();
    assert_eq!(call["id"], "c-alice");
    assert_eq!(call["state"], "ringing");
    assert_eq!(call["line"], json!({"number": LINE, "name": "Support FR"}));
    assert_eq!(call["caller"]["name"], "Jeanne Dupont");
    assert_eq!(call["crm"]["company"], "ACME");
    assert_eq!(call["ivr"]["branch"], "Support");
    assert_eq!(
        call["agents"][0],
        json!({"user": "alice", "state": "ringing"})
    );
    assert_eq!(call["timeline"][1]["event"], "ivr.choice");

    get(&f, "/v1/calls/c-bob", Some(ALICE))
        .await
        .assert_error(403);
    get(&f, "/v1/calls/nope", Some(ADMIN))
        .await
        .assert_error(404);
    get(&f, "/v1/calls/nope", Some(ALICE))
        .await
        .assert_error(404);
}

#[tokio::test]
async fn decline_acts_for_the_token_user_or_the_named_agent() {
    let f = fixture();
    // A user token, no body: declines for itself.
    let reply = send(
        &f,
        "POST",
        "/v1/calls/c-alice/decline",
        Some(ALICE),
        None,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json(), json!({"ok": true}));

    // Naming itself is fine; naming someone else is not.
    let reply = post(
        &f,
        "/v1/calls/c-alice/decline",
        ALICE,
        Some(json!({"agent": "alice"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    post(
        &f,
        "/v1/calls/c-alice/decline",
        ALICE,
        Some(json!({"agent": "bob"})),
    )
    .await
    .assert_error(403);
    // Bob is not on that call at all.
    post(&f, "/v1/calls/c-alice/decline", BOB, None)
        .await
        .assert_error(403);

    // An admin must say for whom, and it must be a user.
    post(&f, "/v1/calls/c-alice/decline", ADMIN, None)
        .await
        .assert_error(422);
    post(
        &f,
        "/v1/calls/c-alice/decline",
        ADMIN,
        Some(json!({"agent": "zed"})),
    )
    .await
    .assert_error(422);
    let reply = post(
        &f,
        "/v1/calls/c-alice/accept",
        ADMIN,
        Some(json!({"agent": "alice"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);

    // The engine's own verdict comes through: c-bob is no longer ringing.
    post(&f, "/v1/calls/c-bob/decline", BOB, None)
        .await
        .assert_error(409);

    assert_eq!(
        f.engine.actions(),
        [
            Action::Decline {
                call: "c-alice".into(),
                agent: "alice".into()
            },
            Action::Decline {
                call: "c-alice".into(),
                agent: "alice".into()
            },
            Action::Accept {
                call: "c-alice".into(),
                agent: "alice".into()
            },
            Action::Decline {
                call: "c-bob".into(),
                agent: "bob".into()
            },
        ]
    );
}

#[tokio::test]
async fn viewer_tokens_cannot_change_anything() {
    let f = fixture();
    for uri in [
        "/v1/calls/c-bob/hangup",
        "/v1/calls/c-bob/hold",
        "/v1/calls/c-bob/unhold",
        "/v1/calls/c-bob/decline",
        "/v1/calls/c-bob/transfer",
        "/v1/calls/c-bob/dtmf",
        "/v1/users/bob/availability",
        "/v1/conversations/%2B33100000001/%2B33611111111/close",
        "/v1/conversations/%2B33100000001/%2B33611111111/messages",
    ] {
        post(&f, uri, VIEWER, Some(json!({})))
            .await
            .assert_error(403);
    }
    assert!(f.engine.actions().is_empty());
}

#[tokio::test]
async fn malformed_bodies_are_4xx_never_5xx() {
    let f = fixture();
    let uri = "/v1/calls/c-bob/transfer";
    let json_type = Some("application/json");
    // Not JSON at all.
    send(&f, "POST", uri, Some(BOB), Some("{target: "), json_type)
        .await
        .assert_error(400);
    // JSON, wrong shape: missing field, unknown field, wrong type.
    send(&f, "POST", uri, Some(BOB), Some("{}"), json_type)
        .await
        .assert_error(422);
    send(&f, "POST", uri, Some(BOB), None, None)
        .await
        .assert_error(422);
    post(
        &f,
        uri,
        BOB,
        Some(json!({"target": "user:alice", "mode": "warm"})),
    )
    .await
    .assert_error(422);
    post(&f, uri, BOB, Some(json!({"target": 42})))
        .await
        .assert_error(422);
    post(
        &f,
        "/v1/calls/c-bob/hold",
        BOB,
        Some(json!({"hold": "yes"})),
    )
    .await
    .assert_error(422);
    post(&f, "/v1/calls/c-bob/hold", BOB, Some(json!([1, 2])))
        .await
        .assert_error(422);
    // Not JSON by its content type.
    send(
        &f,
        "POST",
        uri,
        Some(BOB),
        Some("target=user:alice"),
        Some("application/x-www-form-urlencoded"),
    )
    .await
    .assert_error(415);
    // Too big.
    let huge = json!({"target": "x".repeat(100_000)}).to_string();
    send(&f, "POST", uri, Some(BOB), Some(&huge), json_type)
        .await
        .assert_error(413);
    assert!(f.engine.actions().is_empty());
}

#[tokio::test]
async fn in_call_actions_reach_the_engine_validated() {
    let f = fixture();
    // Transfer targets: parsed and checked against known users and teams.
    post(
        &f,
        "/v1/calls/c-bob/transfer",
        BOB,
        Some(json!({"target": "bob"})),
    )
    .await
    .assert_error(422);
    post(
        &f,
        "/v1/calls/c-bob/transfer",
        BOB,
        Some(json!({"target": "user:zed"})),
    )
    .await
    .assert_error(422);
    post(
        &f,
        "/v1/calls/c-bob/transfer",
        BOB,
        Some(json!({"target": "team:zed"})),
    )
    .await
    .assert_error(422);
    let reply = post(
        &f,
        "/v1/calls/c-bob/transfer",
        BOB,
        Some(json!({"target": "team:sales"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = post(
        &f,
        "/v1/calls/c-bob/transfer",
        ADMIN,
        Some(json!({"target": "+33700000000"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    post(
        &f,
        "/v1/calls/c-bob/dtmf",
        BOB,
        Some(json!({"digits": "12x"})),
    )
    .await
    .assert_error(422);
    let reply = post(
        &f,
        "/v1/calls/c-bob/dtmf",
        BOB,
        Some(json!({"digits": "1#a"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);

    let reply = post(&f, "/v1/calls/c-bob/hold", BOB, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = post(
        &f,
        "/v1/calls/c-bob/hold",
        BOB,
        Some(json!({"hold": false})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = post(&f, "/v1/calls/c-bob/unhold", BOB, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    // Hold a ringing call: the engine says 409.
    post(&f, "/v1/calls/c-alice/hold", ALICE, None)
        .await
        .assert_error(409);
    let reply = post(&f, "/v1/calls/c-bob/hangup", BOB, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    post(&f, "/v1/calls/nope/hangup", ADMIN, None)
        .await
        .assert_error(404);

    let c = || "c-bob".to_string();
    assert_eq!(
        f.engine.actions(),
        [
            Action::Transfer {
                call: c(),
                target: TransferTarget::Team("sales".into())
            },
            Action::Transfer {
                call: c(),
                target: TransferTarget::Number("+33700000000".into())
            },
            Action::Dtmf {
                call: c(),
                digits: "1#A".into()
            },
            Action::Hold {
                call: c(),
                hold: true
            },
            Action::Hold {
                call: c(),
                hold: false
            },
            Action::Hold {
                call: c(),
                hold: false
            },
            Action::Hold {
                call: "c-alice".into(),
                hold: true
            },
            Action::Hangup { call: c() },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_engine_that_does_not_answer_makes_a_503() {
    let f = fixture();
    // The stand-in engine keeps commands about "stuck" without answering; the paused clock
    // runs straight to the command deadline.
    let reply = post(&f, "/v1/calls/stuck/hangup", ALICE, None).await;
    reply.assert_error(503);
    assert_eq!(reply.headers["retry-after"], "1");
}

#[tokio::test]
async fn a_stopped_engine_makes_a_503() {
    let (commands, command_rx) = tokio::sync::mpsc::channel(1);
    drop(command_rx);
    let state = api::ApiState::new(api::ApiParts {
        options: ApiOptions::default(),
        ..api::ApiParts::new(
            accounts(),
            commands,
            std::sync::Arc::new(api::NoConversations),
        )
    });
    state
        .calls()
        .upsert(call("c1", CUSTOMER, api::CallState::Answered, &["alice"]));
    let request = Request::post("/v1/calls/c1/hangup")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .expect("request");
    let response = api::router(state)
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let f = fixture();
    get(&f, "/v1/nothing", Some(ADMIN)).await.assert_error(404);
    get(&f, "/v1/calls/c-bob/hangup", Some(ADMIN))
        .await
        .assert_error(405);
    send(&f, "DELETE", "/v1/calls", Some(ADMIN), None, None)
        .await
        .assert_error(405);
    post(&f, "/v1/calls/c-bob/explode", ADMIN, None)
        .await
        .assert_error(404);
    // A path segment that is not UTF-8 once decoded.
    get(&f, "/v1/calls/%FF", Some(ADMIN))
        .await
        .assert_error(400);
    // `+` is literal in paths: the raw number works as well as %2B.
    let raw = get(
        &f,
        "/v1/conversations/+33100000001/+33611111111",
        Some(ADMIN),
    )
    .await;
    assert_eq!(raw.status, StatusCode::OK, "{}", raw.text);
}

#[tokio::test]
async fn conversations_follow_token_rules() {
    let f = fixture();
    let path = "/v1/conversations/%2B33100000001/%2B33611111111";
    // Admin and viewer read anything.
    let reply = get(&f, path, Some(VIEWER)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["customer"], CUSTOMER);
    // Alice is in a call with this customer on this line right now.
    assert_eq!(get(&f, path, Some(ALICE)).await.status, StatusCode::OK);
    // Bob is not, and the store does not give it to him.
    get(&f, path, Some(BOB)).await.assert_error(403);
    // The store gives Bob his assigned conversation.
    let bobs = "/v1/conversations/%2B33100000001/%2B33633333333";
    assert_eq!(get(&f, bobs, Some(BOB)).await.status, StatusCode::OK);
    get(
        &f,
        "/v1/conversations/%2B33100000001/%2B33699999999",
        Some(ADMIN),
    )
    .await
    .assert_error(404);

    // Lists: everything for the admin, the user's own for a user token.
    let reply = get(&f, "/v1/conversations/%2B33100000001", Some(ADMIN)).await;
    assert_eq!(
        reply.json()["conversations"].as_array().map(Vec::len),
        Some(3)
    );
    let reply = get(&f, "/v1/conversations/%2B33100000001", Some(BOB)).await;
    let mine = reply.json()["conversations"].clone();
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(mine[0]["assignee"], "bob");
    get(&f, "/v1/conversations/%2B33999", Some(ADMIN))
        .await
        .assert_error(404);

    // Header actions.
    post(
        &f,
        &format!("{path}/assign"),
        ALICE,
        Some(json!({"user": "zed"})),
    )
    .await
    .assert_error(422);
    post(&f, &format!("{path}/assign"), ALICE, None)
        .await
        .assert_error(422);
    let reply = post(
        &f,
        &format!("{path}/assign"),
        ALICE,
        Some(json!({"user": "bob"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["assignee"], "bob");
    let reply = post(&f, &format!("{path}/close"), BOB, None).await;
    assert_eq!(reply.json()["status"], "closed");
    let log = reply.json()["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(log.last().map(|e| e["actor"].clone()), Some(json!("bob")));
    let reply = post(&f, &format!("{path}/reopen"), ADMIN, None).await;
    assert_eq!(reply.json()["status"], "open");
    post(
        &f,
        "/v1/conversations/%2B33100000001/%2B33699999999/close",
        ADMIN,
        None,
    )
    .await
    .assert_error(404);
}

#[tokio::test]
async fn messages_go_to_the_engine_as_their_author() {
    let f = fixture();
    let path = "/v1/conversations/%2B33100000001/%2B33611111111/messages";
    post(&f, path, ALICE, Some(json!({"body": "   "})))
        .await
        .assert_error(422);
    post(&f, path, ALICE, None).await.assert_error(422);
    post(&f, path, ALICE, Some(json!({"body": "x".repeat(1601)})))
        .await
        .assert_error(422);
    post(
        &f,
        path,
        ALICE,
        Some(json!({"body": "hi", "author": "bob"})),
    )
    .await
    .assert_error(403);
    let reply = post(&f, path, ALICE, Some(json!({"body": " Bonjour "}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = post(&f, path, ADMIN, Some(json!({"body": "Hello"}))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        f.engine.actions(),
        [
            Action::SendMessage {
                line: LINE.into(),
                customer: CUSTOMER.into(),
                body: "Bonjour".into(),
                author: "alice".into()
            },
            Action::SendMessage {
                line: LINE.into(),
                customer: CUSTOMER.into(),
                body: "Hello".into(),
                author: "admin".into()
            },
        ]
    );
}

#[tokio::test]
async fn availability_is_the_users_own_or_an_admins() {
    let f = fixture();
    let body = || Some(json!({"available": false}));
    post(&f, "/v1/users/bob/availability", ALICE, body())
        .await
        .assert_error(403);
    post(&f, "/v1/users/zed/availability", ADMIN, body())
        .await
        .assert_error(404);
    post(&f, "/v1/users/alice/availability", ALICE, None)
        .await
        .assert_error(422);
    let reply = post(&f, "/v1/users/alice/availability", ALICE, body()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = post(
        &f,
        "/v1/users/carol/availability",
        ADMIN,
        Some(json!({"available": true})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        f.engine.actions(),
        [
            Action::SetAvailability {
                user: "alice".into(),
                available: false
            },
            Action::SetAvailability {
                user: "carol".into(),
                available: true
            },
        ]
    );
}

#[tokio::test]
async fn metrics_expose_every_family_and_count_requests() {
    let f = fixture();
    get(&f, "/v1/calls", Some(ADMIN)).await;
    get(&f, "/v1/calls", None).await;
    let reply = get(&f, "/metrics", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.headers["content-type"]
        .to_str()
        .is_ok_and(|t| t.starts_with("application/openmetrics-text")));
    for family in [
        "# TYPE switchboard_calls counter",
        "# TYPE switchboard_call_ringing_seconds histogram",
        "# TYPE switchboard_registrations counter",
        "# TYPE switchboard_fork_outcomes counter",
        "# TYPE switchboard_active_calls gauge",
        "# TYPE switchboard_rtp_packets_lost histogram",
        "# TYPE switchboard_rtp_jitter_ms histogram",
        "# TYPE switchboard_event_loop_lag_seconds histogram",
        "# TYPE switchboard_sse_clients gauge",
        "# TYPE switchboard_api_requests counter",
        "switchboard_api_requests_total{method=\"GET\",status=\"2xx\"} 1",
        "switchboard_api_requests_total{method=\"GET\",status=\"4xx\"} 1",
    ] {
        assert!(
            reply.text.contains(family),
            "{family} missing in\n{}",
            reply.text
        );
    }
}

#[tokio::test]
async fn openapi_document_describes_every_route() {
    let f = fixture();
    let reply = get(&f, "/v1/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    assert!(doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    let routes: &[(&str, &str)] = &[
        ("/healthz", "get"),
        ("/metrics", "get"),
        ("/v1/openapi.json", "get"),
        ("/v1/events", "get"),
        ("/v1/calls", "get"),
        ("/v1/calls/{id}", "get"),
        ("/v1/calls/{id}/decline", "post"),
        ("/v1/calls/{id}/accept", "post"),
        ("/v1/calls/{id}/hangup", "post"),
        ("/v1/calls/{id}/hold", "post"),
        ("/v1/calls/{id}/unhold", "post"),
        ("/v1/calls/{id}/transfer", "post"),
        ("/v1/calls/{id}/dtmf", "post"),
        ("/v1/conversations/{line}", "get"),
        ("/v1/conversations/{line}/{customer}", "get"),
        ("/v1/conversations/{line}/{customer}/assign", "post"),
        ("/v1/conversations/{line}/{customer}/close", "post"),
        ("/v1/conversations/{line}/{customer}/reopen", "post"),
        ("/v1/conversations/{line}/{customer}/messages", "post"),
        ("/v1/users/{id}/availability", "post"),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in routes {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} not documented"
        );
    }
    assert_eq!(
        paths.len(),
        routes.len(),
        "documented paths that do not exist"
    );
    // Every $ref points at a defined component.
    let text = reply.text.clone();
    for piece in text.split("\"$ref\":").skip(1) {
        let target = piece
            .trim_start()
            .trim_start_matches('"')
            .split('"')
            .next()
            .unwrap_or("");
        let pointer = target.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {target}");
    }
}
