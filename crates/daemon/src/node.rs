//! The node task: owns the [`engine::Engine`], feeds it what the transports receive, sends what
//! it asks, sleeps until its next timer, and runs the shutdown sequence on SIGTERM/SIGINT.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use engine::{Engine, Inbound, Transport};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::transport::{self, TcpLimits, Transports};

/// Messages waiting for the engine. UDP drops (and counts) beyond it; TCP readers wait.
const INBOUND_QUEUE: usize = 8192;
/// Destinations the transports could not reach, waiting for the engine.
const UNREACHABLE_QUEUE: usize = 256;
/// How many queued messages the engine takes per wake-up before it checks its timers.
const BATCH: usize = 256;
/// The longest the node waits, on SIGTERM, for transactions in progress to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

pub async fn run(cfg: config::Config, config_path: PathBuf) -> io::Result<()> {
    let (inbound_tx, mut inbound_rx) = mpsc::channel::<Inbound>(INBOUND_QUEUE);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let limits = TcpLimits {
        max_connections: cfg.sip.tcp_max_connections,
        idle_timeout: cfg.sip.tcp_idle_timeout,
        max_message_size: cfg.sip.max_message_size,
    };
    let (unreachable_tx, mut unreachable_rx) = mpsc::channel(UNREACHABLE_QUEUE);
    let transports = transport::start(
        &cfg.sip.listen,
        limits,
        inbound_tx,
        unreachable_tx,
        shutdown_rx.clone(),
    )
    .await?;
    let mut engine = Engine::from_config(&cfg, rand::random(), rand::random())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("registrar: {e}")))?;
    let metrics = api::Metrics::new();
    let (relay, mut media_rx) = crate::media::start(&cfg, metrics.clone())?;
    let preloader = relay.preloader();
    preloader.preload(crate::media::prompts_of(&cfg));
    engine.set_media(Box::new(relay));
    let (mut app, mut app_in) = crate::app::start(&cfg, &mut engine, metrics, shutdown_rx).await?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let listen = cfg.sip.listen.clone();
    info!(
        users = cfg.users.len(),
        numbers = cfg.numbers.len(),
        "switchboard started"
    );

    let mut batch = Vec::with_capacity(BATCH);
    let mut stop_at: Option<tokio::time::Instant> = None;
    loop {
        let wake = engine
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .into_iter()
            .chain(stop_at)
            .min();
        tokio::select! {
            n = inbound_rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                let now = Instant::now();
                engine.set_wall_clock(now, SystemTime::now());
                for inbound in batch.drain(..) {
                    engine.handle_inbound(inbound, now);
                }
                flush(&mut engine, &transports);
            }
            Some((call, event)) = media_rx.recv() => {
                let now = Instant::now();
                engine.set_wall_clock(now, SystemTime::now());
                engine.on_media_event(&call, event, now);
                flush(&mut engine, &transports);
            }
            Some((transport, dest)) = unreachable_rx.recv() => {
                engine.on_unreachable(transport, dest, Instant::now());
                flush(&mut engine, &transports);
            }
            Some(command) = app_in.commands.recv() => {
                let now = Instant::now();
                engine.set_wall_clock(now, SystemTime::now());
                app.on_command(&mut engine, command, now);
                flush(&mut engine, &transports);
            }
            Some((call, card)) = app_in.cards.recv() => app.on_card(&engine, call, card),
            _ = sleep_until(wake) => {
                let now = Instant::now();
                if let Some(due) = wake {
                    app.metrics().event_loop_lag(now.saturating_duration_since(due.into_std()));
                }
                engine.set_wall_clock(now, SystemTime::now());
                engine.handle_timeout(now);
                flush(&mut engine, &transports);
            }
            _ = sigterm.recv(), if stop_at.is_none() => {
                info!("SIGTERM: no new requests, finishing transactions in progress");
                engine.begin_shutdown();
                stop_at = Some(tokio::time::Instant::now() + SHUTDOWN_GRACE);
            }
            _ = sighup.recv() => reload(&mut engine, &mut app, &config_path, &listen, &preloader),
            _ = sigint.recv(), if stop_at.is_none() => {
                info!("SIGINT: no new requests, finishing transactions in progress");
                engine.begin_shutdown();
                stop_at = Some(tokio::time::Instant::now() + SHUTDOWN_GRACE);
            }
        }
        app.drain(&mut engine);
        if let Some(deadline) = stop_at {
            if engine.is_idle() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                warn!("shutdown grace elapsed with transactions still in progress");
                break;
            }
        }
    }
    let _ = shutdown_tx.send(true);
    let stats = engine.stats();
    info!(
        received = stats.received,
        responses = stats.responses_sent,
        bad_requests = stats.bad_requests,
        dropped = stats.dropped_unparseable,
        "switchboard stopped"
    );
    Ok(())
}

/// SIGHUP: read the config again and apply it atomically; a config that does not load changes
/// nothing. Transactions, registrations and (later) calls in progress are kept.
fn reload(
    engine: &mut Engine,
    app: &mut crate::app::App,
    path: &Path,
    listen: &[config::Listen],
    preloader: &crate::media::Preloader,
) {
    let loaded = match config::load(path) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for e in errors.iter() {
                warn!("reload refused: {e}");
            }
            return;
        }
    };
    for w in &loaded.warnings {
        warn!("{w}");
    }
    if loaded.config.sip.listen != listen {
        warn!("reload: sip.listen changed; listen addresses change only with a restart");
    }
    match engine.reconfigure(&loaded.config) {
        Ok(()) => {
            preloader.preload(crate::media::prompts_of(&loaded.config));
            app.reconfigure(&loaded.config);
            info!(
                users = loaded.config.users.len(),
                numbers = loaded.config.numbers.len(),
                "config reloaded"
            )
        }
        Err(e) => warn!(error = %e, "reload refused"),
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn flush(engine: &mut Engine, transports: &Transports) {
    while let Some(t) = engine.poll_transmit() {
        match (t.transport, t.conn) {
            (Transport::Tcp, Some(conn)) => {
                transports.send_tcp(conn, t.data);
            }
            (Transport::Tcp, None) => transports.send_tcp_to(t.dest, t.data),
            (Transport::Udp, _) => transports.send_udp(t.local, t.dest, &t.data),
        }
    }
}
