//! `/v1/events` over a real socket on 127.0.0.1: event format, per-token filtering, the
//! query-string token, lag reporting, keep-alives and shutdown. Every wait is bounded.

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use api::{ApiOptions, ApiState, CallState, Event};
use common::sse_client::{Connected, Frame, SseClient};
use common::*;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Generous bound for any single wait: a hang fails the test instead of blocking CI.
const BOUND: Duration = Duration::from_secs(10);

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(BOUND, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(state: ApiState) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

async fn connect(server: &Server, path: &str, token: Option<&str>) -> SseClient {
    match bounded("connect", SseClient::connect(server.addr, path, token))
        .await
        .expect("connect")
    {
        Connected::Stream(client) => client,
        Connected::Refused(status, body) => panic!("refused {status}: {body}"),
    }
}

async fn refused(server: &Server, path: &str, token: Option<&str>) -> (u16, Value) {
    match bounded("connect", SseClient::connect(server.addr, path, token))
        .await
        .expect("connect")
    {
        Connected::Stream(_) => panic!("{path} was accepted"),
        Connected::Refused(status, body) => (
            status.as_u16(),
            serde_json::from_str(&body).expect("JSON error body"),
        ),
    }
}

async fn next_event(client: &mut SseClient) -> (Frame, Value) {
    let frame = bounded("an event", client.next_event())
        .await
        .expect("stream ended");
    let data = serde_json::from_str(&frame.data).expect("data is JSON");
    (frame, data)
}

fn ringing(id: &str, agent: &str) -> Event {
    Event::call_ringing(
        1_700_000_002_000,
        call(id, CUSTOMER, CallState::Ringing, &[agent]),
        agent,
    )
}

#[tokio::test]
async fn events_carry_type_id_and_the_whole_call() {
    let f = fixture();
    let server = start(f.state.clone()).await;
    let mut admin = connect(&server, "/v1/events", Some(ADMIN)).await;

    let created = call("c9", CUSTOMER, CallState::Routing, &[]);
    f.state.events().publish(Event::call_created(1, created));
    f.state.events().publish(ringing("c9", "alice"));

    let (frame, data) = next_event(&mut admin).await;
    assert_eq!(frame.event.as_deref(), Some("call.created"));
    assert_eq!(data["type"], "call.created");
    assert_eq!(data["call"]["id"], "c9");
    assert_eq!(data["call"]["state"], "routing");
    let first_id: u64 = frame
        .id
        .as_deref()
        .and_then(|i| i.parse().ok())
        .expect("id");

    let (frame, data) = next_event(&mut admin).await;
    assert_eq!(frame.event.as_deref(), Some("call.ringing"));
    assert_eq!(frame.id, Some((first_id + 1).to_string()));
    assert_eq!(data["agent"], "alice");
    assert_eq!(data["call"]["line"]["number"], LINE);
    assert_eq!(data["call"]["caller"]["name"], "Jeanne Dupont");
    assert_eq!(data["call"]["crm"]["company"], "ACME");
    assert_eq!(data["call"]["ivr"]["branch"], "Support");
    assert_eq!(data["call"]["agents"][0]["user"], "alice");
}

#[tokio::test]
async fn users_see_only_their_own_events() {
    let f = fixture();
    let server = start(f.state.clone()).await;
    let mut alice = connect(&server, "/v1/events", Some(ALICE)).await;
    // Browsers' EventSource cannot send headers: the token may come in the query.
    let mut bob = connect(&server, &format!("/v1/events?access_token={BOB}"), None).await;
    let mut sales = connect(&server, "/v1/events?team=sales", Some(VIEWER)).await;
    let mut on_line = connect(&server, "/v1/events?line=%2B33100000001", Some(ADMIN)).await;

    let bus = f.state.events();
    bus.publish(ringing("c1", "bob"));
    bus.publish(ringing("c2", "alice"));
    bus.publish(Event::message_received(
        3,
        LINE,
        serde_json::json!({"body": "hello", "customer": CUSTOMER}),
        vec!["bob".into()],
    ));
    let mut elsewhere = call("c3", CUSTOMER, CallState::Ringing, &["carol"]);
    elsewhere.line.number = "+33100000002".into();
    elsewhere.teams.clear();
    bus.publish(Event::call_ringing(4, elsewhere, "carol"));
    bus.publish(ringing("c4", "alice"));

    // Alice: her two calls, in order, nothing of Bob's in between.
    assert_eq!(next_event(&mut alice).await.1["call"]["id"], "c2");
    assert_eq!(next_event(&mut alice).await.1["call"]["id"], "c4");
    // Bob: his call, then the message meant for him.
    assert_eq!(next_event(&mut bob).await.1["call"]["id"], "c1");
    let (frame, data) = next_event(&mut bob).await;
    assert_eq!(frame.event.as_deref(), Some("message.received"));
    assert_eq!(data["message"]["body"], "hello");
    // Team "sales" (carol): only carol's call.
    assert_eq!(next_event(&mut sales).await.1["call"]["id"], "c3");
    // Line filter: everything on +33100000001, not c3 on the other line.
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (frame, _) = next_event(&mut on_line).await;
        seen.push(frame.event.unwrap_or_default());
    }
    assert_eq!(
        seen,
        [
            "call.ringing",
            "call.ringing",
            "message.received",
            "call.ringing"
        ]
    );

    // A marker that concerns everybody's filter proves nothing else was queued before it.
    let mut marker = call(
        "c5",
        CUSTOMER,
        CallState::Ringing,
        &["alice", "bob", "carol"],
    );
    marker.teams.clear();
    bus.publish(Event::call_updated(5, marker));
    for client in [&mut alice, &mut bob, &mut sales, &mut on_line] {
        assert_eq!(next_event(client).await.1["call"]["id"], "c5");
    }
}

#[tokio::test]
async fn refused_subscriptions_say_why() {
    let f = fixture();
    let server = start(f.state.clone()).await;
    let (status, body) = refused(&server, "/v1/events", None).await;
    assert_eq!((status, body["status"].as_u64()), (401, Some(401)));
    let (status, _) = refused(&server, "/v1/events?access_token=wrong", None).await;
    assert_eq!(status, 401);
    let (status, _) = refused(&server, "/v1/events?user=bob", Some(ALICE)).await;
    assert_eq!(status, 403);
    let (status, _) = refused(&server, "/v1/events?team=nope", Some(ADMIN)).await;
    assert_eq!(status, 404);
    // Asking for one's own user is fine.
    let _alice = connect(&server, "/v1/events?user=alice", Some(ALICE)).await;
}

/// A current-thread runtime: the server's stream task cannot run while the test publishes, so
/// publishing more than the bus holds is guaranteed to overrun the client.
#[tokio::test(flavor = "current_thread")]
async fn a_lagging_client_is_told_how_many_events_it_missed() {
    let f = fixture_with(ApiOptions::default(), 8);
    let server = start(f.state.clone()).await;
    let mut client = connect(&server, "/v1/events", Some(ADMIN)).await;
    let capacity = f.state.events().capacity();
    assert_eq!(capacity, 8);
    let total = capacity + 10;
    for i in 0..total {
        f.state.events().publish(ringing(&format!("c{i}"), "alice"));
    }
    let (frame, data) = next_event(&mut client).await;
    assert_eq!(frame.event.as_deref(), Some("lagged"));
    assert_eq!(data["missed"], 10);
    // Then the newest `capacity` events, in order, and nothing lost silently.
    for i in 10..total {
        let (frame, data) = next_event(&mut client).await;
        assert_eq!(frame.event.as_deref(), Some("call.ringing"));
        assert_eq!(data["call"]["id"], format!("c{i}"));
    }
    let metrics = f.state.metrics().encode();
    assert!(
        metrics.contains("switchboard_sse_events_missed_total 10"),
        "{metrics}"
    );
}

#[tokio::test]
async fn idle_streams_get_keep_alive_comments() {
    let f = fixture_with(
        ApiOptions {
            keep_alive: Duration::from_millis(20),
            ..ApiOptions::default()
        },
        64,
    );
    let server = start(f.state.clone()).await;
    let mut client = connect(&server, "/v1/events", Some(ADMIN)).await;
    let hello = bounded("hello", client.next_frame()).await.expect("hello");
    assert_eq!(hello.comments, ["switchboard events"]);
    let keep_alive = bounded("keep-alive", client.next_frame())
        .await
        .expect("keep-alive");
    assert!(!keep_alive.is_event());
    assert_eq!(keep_alive.comments, [""]);
}

#[tokio::test]
async fn shutdown_ends_streams_and_the_server() {
    let f = fixture();
    let mut server = start(f.state.clone()).await;
    let mut client = connect(&server, "/v1/events", Some(ADMIN)).await;
    assert!(f
        .state
        .metrics()
        .encode()
        .contains("switchboard_sse_clients 1"));
    if let Some(stop) = server.stop.take() {
        let _ = stop.send(());
    }
    // Drain: the hello, then the end of the stream.
    while bounded("end of stream", client.next_frame())
        .await
        .is_some()
    {}
    let served = bounded("server exit", &mut server.task).await;
    assert!(matches!(served, Ok(Ok(()))), "{served:?}");
    assert!(f
        .state
        .metrics()
        .encode()
        .contains("switchboard_sse_clients 0"));
}
