//! How many events per second `/v1/events` delivers to many SSE clients on loopback.
//!
//! Two OS threads, each with a current-thread tokio runtime:
//! - the server thread runs the API (`api::serve`) and the publisher (the engine's side),
//!   pushing `EVENTS` realistic `call.ringing` events (about 1 KB of JSON each: three agents, a
//!   CRM card, a five-line timeline);
//! - the client thread runs `CLIENTS` HTTP/1 clients (hyper), one connection each, subscribed
//!   as admin (no filter), counting what they receive.
//!
//! Each thread's CPU time is read from `/proc/thread-self/stat`, so besides the delivery rate
//! (which the shared machine and the clients also limit) we get the server's CPU cost per
//! delivered event, and from it the rate one server core could sustain.
//!
//! Two runs:
//! - paced: the publisher waits while the slowest client is more than half the bus behind, so
//!   nothing is lost; this is the sustainable delivery rate;
//! - burst: the publisher never waits; slow clients get `lagged` events instead.
//!
//! `cargo run --release -p api --example sse_fanout -- [EVENTS] [CLIENTS]`

#[path = "../tests/common/sse_client.rs"]
mod sse_client;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::{
    Accounts, AgentState, AgentView, ApiParts, ApiState, CallState, CallView, CallerView, Event,
    EventBus, IvrView, LineView, NoConversations, Principal, TimelineEntry,
};
use serde_json::json;
use sse_client::{Connected, SseClient};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Barrier};

const TOKEN: &str = "bench-admin";

#[derive(Default, Clone, Copy)]
struct Tally {
    received: u64,
    missed: u64,
    bytes: u64,
}

struct ServerReport {
    published_in: Duration,
    waits: u64,
    cpu: Duration,
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);

    let sample = serde_json::to_string(&Event::call_ringing(0, sample_call(0), "alice"))
        .map_err(std::io::Error::other)?;
    println!(
        "sse_fanout: {events} events of {} bytes of JSON to {clients} clients, bus capacity {}",
        sample.len(),
        EventBus::DEFAULT_CAPACITY
    );
    for paced in [true, false] {
        run(events, clients, paced)?;
    }
    Ok(())
}

fn run(events: u64, clients: usize, paced: bool) -> std::io::Result<()> {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    // The clients, the client thread's main task, and the publisher.
    let ready = Arc::new(Barrier::new(clients + 2));
    let server_ready = ready.clone();
    let server = std::thread::spawn(move || -> std::io::Result<ServerReport> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(serve_and_publish(
            events,
            paced,
            addr_tx,
            server_ready,
            done_rx,
        ))
    });
    let addr = addr_rx
        .recv()
        .map_err(|_| std::io::Error::other("server thread failed to start"))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (total, elapsed, client_cpu) = runtime.block_on(async move {
        let mut readers = Vec::with_capacity(clients);
        for _ in 0..clients {
            readers.push(tokio::spawn(read_events(addr, events, ready.clone())));
        }
        ready.wait().await;
        let cpu0 = thread_cpu();
        let started = Instant::now();
        let mut total = Tally::default();
        for reader in readers {
            let tally = reader.await.map_err(std::io::Error::other)??;
            total.received += tally.received;
            total.missed += tally.missed;
            total.bytes += tally.bytes;
        }
        Ok::<_, std::io::Error>((total, started.elapsed(), thread_cpu() - cpu0))
    })?;
    let _ = done_tx.send(());
    let report = server
        .join()
        .map_err(|_| std::io::Error::other("server thread panicked"))??;

    let secs = elapsed.as_secs_f64();
    let server_cpu = report.cpu.as_secs_f64();
    println!(
        "{:>6}: published {events} in {:.3} s ({} waits); delivered {} events ({} missed) to \
         {clients} clients in {:.3} s = {:.0} events/s, {:.1} MB/s of JSON",
        if paced { "paced" } else { "burst" },
        report.published_in.as_secs_f64(),
        report.waits,
        total.received,
        total.missed,
        secs,
        total.received as f64 / secs,
        total.bytes as f64 / secs / 1e6,
    );
    println!(
        "        CPU: server thread {server_cpu:.2} s ({:.2} µs per delivered event, so about \
         {:.0} events/s per server core), client thread {:.2} s",
        server_cpu * 1e6 / total.received.max(1) as f64,
        total.received as f64 / server_cpu.max(1e-9),
        client_cpu.as_secs_f64(),
    );
    Ok(())
}

async fn serve_and_publish(
    events: u64,
    paced: bool,
    addr_tx: std::sync::mpsc::Sender<SocketAddr>,
    ready: Arc<Barrier>,
    done: oneshot::Receiver<()>,
) -> std::io::Result<ServerReport> {
    let (commands, _command_rx) = mpsc::channel(1);
    let state = ApiState::new(ApiParts::new(
        Accounts::new().with_token(TOKEN, Principal::Admin),
        commands,
        Arc::new(NoConversations),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let _ = addr_tx.send(listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    ready.wait().await;

    let cpu0 = thread_cpu();
    let bus = state.events().clone();
    let high_water = bus.capacity() / 2;
    let started = Instant::now();
    let mut waits = 0u64;
    for i in 0..events {
        if paced {
            while bus.backlog() > high_water {
                waits += 1;
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        } else if i % 64 == 0 {
            // Let the server's tasks run now and then, without waiting for the readers.
            tokio::task::yield_now().await;
        }
        bus.publish(Event::call_ringing(i, sample_call(i), "alice"));
    }
    let published_in = started.elapsed();
    // Keep serving until every client has its count.
    let _ = done.await;
    let cpu = thread_cpu() - cpu0;
    let _ = stop.send(());
    server.await.map_err(std::io::Error::other)??;
    Ok(ServerReport {
        published_in,
        waits,
        cpu,
    })
}

async fn read_events(addr: SocketAddr, events: u64, ready: Arc<Barrier>) -> std::io::Result<Tally> {
    let connected = SseClient::connect(addr, "/v1/events", Some(TOKEN)).await;
    // Reach the barrier even on failure, or the publisher would wait forever.
    ready.wait().await;
    let mut client = match connected? {
        Connected::Stream(client) => client,
        Connected::Refused(status, body) => {
            return Err(std::io::Error::other(format!("refused {status}: {body}")))
        }
    };
    let mut tally = Tally::default();
    while tally.received + tally.missed < events {
        let Some(frame) = client.next_event().await else {
            break;
        };
        tally.bytes += frame.data.len() as u64;
        if frame.event.as_deref() == Some("lagged") {
            let lagged: serde_json::Value =
                serde_json::from_str(&frame.data).map_err(std::io::Error::other)?;
            tally.missed += lagged["missed"].as_u64().unwrap_or(0);
        } else {
            tally.received += 1;
        }
    }
    Ok(tally)
}

/// CPU time (user + system) of the calling thread, from `/proc/thread-self/stat` (ticks of
/// 1/100 s, USER_HZ on Linux). Zero where that file does not exist.
fn thread_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may contain spaces) start at field 3.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime is field 14, stime field 15: indices 11 and 12 from field 3.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// A call as an agent's popup would get it.
fn sample_call(i: u64) -> CallView {
    let mut call = CallView::new(
        format!("call-{i:08}"),
        LineView {
            number: "+33100000001".into(),
            name: "Support FR".into(),
        },
        CallerView {
            number: "+33611111111".into(),
            name: Some("Jeanne Dupont".into()),
        },
        1_700_000_000_000 + i,
    );
    call.state = CallState::Ringing;
    call.crm = Some(json!({
        "name": "Jeanne Dupont", "company": "ACME SAS", "tier": "gold",
        "url": "https://crm.example.com/contacts/42", "open_tickets": 2
    }));
    call.ivr = IvrView {
        path: Some("main:2;support:1".into()),
        branch: Some("Technical support".into()),
    };
    call.teams = vec!["support".into()];
    call.agents = ["alice", "bob", "carol"]
        .iter()
        .map(|u| AgentView {
            user: (*u).into(),
            state: AgentState::Ringing,
        })
        .collect();
    call.timeline = (0..5)
        .map(|k| TimelineEntry {
            at: 1_700_000_000_000 + i + k * 500,
            event: [
                "call.created",
                "ivr.prompt",
                "ivr.choice",
                "ivr.choice",
                "call.ringing",
            ][k as usize]
                .into(),
            detail: Some(format!("step {k}")),
        })
        .collect();
    call
}
