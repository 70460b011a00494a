//! `GET /v1/events`: the event bus as server-sent events, filtered per client.
//!
//! Each event goes out as `id: <seq>`, `event: <type>`, `data: <one-line JSON>`. A client that
//! fell more than the bus capacity behind gets `event: lagged` with `{"missed": N}` and should
//! re-read `/v1/calls`. Comments (`:`) keep idle connections open through proxies. Streams end
//! when the server shuts down.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};

use super::auth::authenticate;
use super::error::{ApiError, ApiQuery};
use super::filter::Filter;
use super::ApiState;
use crate::events::Published;
use crate::metrics::Metrics;

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    user: Option<String>,
    team: Option<String>,
    line: Option<String>,
    access_token: Option<String>,
}

pub async fn events(
    State(state): State<ApiState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let principal = authenticate(&headers, query.access_token.as_deref(), &state)?;
    let filter = Filter::build(
        &principal,
        query.user,
        query.team,
        query.line,
        &state.accounts(),
    )?;
    let mut closing = state.closing();
    if *closing.borrow_and_update() {
        return Err(ApiError::unavailable("shutting down"));
    }
    // Subscribe before answering: every event published after the response headers reach
    // the client is delivered (or counted as missed).
    let subscriber = Subscriber {
        events: state.events().subscribe(),
        filter,
        _client: ClientGuard::new(state.metrics()),
        state: state.clone(),
    };
    let hello = SseEvent::default()
        .comment("switchboard events")
        .retry(std::time::Duration::from_secs(2));
    let stream = stream::once(async move { Ok::<_, Infallible>(hello) })
        .chain(subscriber.into_stream())
        .take_until(async move {
            // Err: the state is gone, so is the server.
            let _ = closing.wait_for(|closed| *closed).await;
        });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(state.options().keep_alive))
        .into_response();
    // Tell buffering reverse proxies (nginx) to pass events through at once.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

struct Subscriber {
    events: broadcast::Receiver<Arc<Published>>,
    filter: Filter,
    state: ApiState,
    _client: ClientGuard,
}

impl Subscriber {
    fn into_stream(self) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send {
        stream::unfold(self, |mut sub| async move {
            loop {
                match sub.events.recv().await {
                    Ok(published) => {
                        if sub
                            .filter
                            .admits_event(published.event(), &sub.state.accounts())
                        {
                            let event = SseEvent::default()
                                .id(published.seq().to_string())
                                .event(published.event().kind().as_str())
                                .data(published.json());
                            return Some((Ok(event), sub));
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        sub.state.metrics().sse_missed(missed);
                        let event = SseEvent::default()
                            .event("lagged")
                            .data(format!(r#"{{"missed":{missed}}}"#));
                        return Some((Ok(event), sub));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        })
    }
}

/// Counts the client in `sse_clients` for as long as its stream lives.
struct ClientGuard {
    metrics: Metrics,
}

impl ClientGuard {
    fn new(metrics: &Metrics) -> Self {
        metrics.sse_connected();
        ClientGuard {
            metrics: metrics.clone(),
        }
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.metrics.sse_disconnected();
    }
}
