//! The node's Prometheus metrics, and the cheap calls that record them.
//!
//! Every recording method touches atomics only: labelled counters are created once, for every
//! label value, when [`Metrics::new`] runs, and kept as handles (a `Family` lookup would take a
//! lock); histograms are our own fixed-bucket atomic ones (the library's takes a mutex per
//! observation). So the engine can record from its hot loop. `GET /metrics` encodes the
//! registry in the OpenMetrics text format, which Prometheus scrapes natively.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// How a call ended: the `outcome` label of `switchboard_calls_total`, and the value the
/// engine should put in [`crate::CallView::outcome`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    /// An agent answered.
    Answered,
    /// The caller hung up before anybody answered.
    Abandoned,
    /// Every step rang out; the fallback played or hung up.
    NoAnswer,
    /// Outside business hours: the closed route.
    Closed,
    /// Refused before routing: unknown number, untrusted trunk, overload.
    Rejected,
    /// An internal or transport failure ended the call.
    Failed,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 6] = [
        CallOutcome::Answered,
        CallOutcome::Abandoned,
        CallOutcome::NoAnswer,
        CallOutcome::Closed,
        CallOutcome::Rejected,
        CallOutcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Answered => "answered",
            CallOutcome::Abandoned => "abandoned",
            CallOutcome::NoAnswer => "no_answer",
            CallOutcome::Closed => "closed",
            CallOutcome::Rejected => "rejected",
            CallOutcome::Failed => "failed",
        }
    }
}

/// What a REGISTER request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegistrationResult {
    /// Binding added or refreshed.
    Registered,
    /// Binding removed (expires 0).
    Unregistered,
    /// 401 with a fresh nonce (the normal first step).
    Challenged,
    /// Bad credentials or unknown user (403/404).
    Rejected,
    /// Too many failures from the source (rate limited).
    Throttled,
}

impl RegistrationResult {
    pub const ALL: [RegistrationResult; 5] = [
        RegistrationResult::Registered,
        RegistrationResult::Unregistered,
        RegistrationResult::Challenged,
        RegistrationResult::Rejected,
        RegistrationResult::Throttled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationResult::Registered => "registered",
            RegistrationResult::Unregistered => "unregistered",
            RegistrationResult::Challenged => "challenged",
            RegistrationResult::Rejected => "rejected",
            RegistrationResult::Throttled => "throttled",
        }
    }
}

/// How one forked branch (one agent contact) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForkOutcome {
    /// This branch won.
    Answered,
    /// 486/603 or declined through the API.
    Declined,
    /// Rang until the step's timeout.
    NoAnswer,
    /// Cancelled because another branch won or the caller left.
    Cancelled,
    /// 408, 5xx or a transport error.
    Failed,
    /// A 2xx that lost the race (ACK then BYE).
    LateAnswer,
}

impl ForkOutcome {
    pub const ALL: [ForkOutcome; 6] = [
        ForkOutcome::Answered,
        ForkOutcome::Declined,
        ForkOutcome::NoAnswer,
        ForkOutcome::Cancelled,
        ForkOutcome::Failed,
        ForkOutcome::LateAnswer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ForkOutcome::Answered => "answered",
            ForkOutcome::Declined => "declined",
            ForkOutcome::NoAnswer => "no_answer",
            ForkOutcome::Cancelled => "cancelled",
            ForkOutcome::Failed => "failed",
            ForkOutcome::LateAnswer => "late_answer",
        }
    }
}

const METHODS: [&str; 3] = ["GET", "POST", "other"];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

type Labels = [(&'static str, &'static str); 1];
type RequestLabels = [(&'static str, &'static str); 2];

/// The metrics. Cloning shares them.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    calls: [Counter; CallOutcome::ALL.len()],
    ringing: AtomicHistogram,
    registrations: [Counter; RegistrationResult::ALL.len()],
    fork: [Counter; ForkOutcome::ALL.len()],
    active_calls: Gauge,
    rtp_lost: AtomicHistogram,
    rtp_jitter: AtomicHistogram,
    loop_lag: AtomicHistogram,
    sse_clients: Gauge,
    sse_missed: Counter,
    requests: [[Counter; STATUS_CLASSES.len()]; METHODS.len()],
}

/// Creates one counter per label value in `family` and returns their handles, in order.
fn label_handles<const N: usize>(
    family: &Family<Labels, Counter>,
    key: &'static str,
    values: [&'static str; N],
) -> [Counter; N] {
    values.map(|value| family.get_or_create(&[(key, value)]).clone())
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("switchboard");

        let calls_family = Family::<Labels, Counter>::default();
        let calls = label_handles(
            &calls_family,
            "outcome",
            CallOutcome::ALL.map(|o| o.as_str()),
        );
        registry.register("calls", "Calls ended, by outcome", calls_family);

        let ringing = AtomicHistogram::new(&[
            0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0,
        ]);
        registry.register(
            "call_ringing_seconds",
            "Time from the first agent rung to answer or give-up, per call",
            ringing.clone(),
        );

        let reg_family = Family::<Labels, Counter>::default();
        let registrations = label_handles(
            &reg_family,
            "result",
            RegistrationResult::ALL.map(|r| r.as_str()),
        );
        registry.register("registrations", "REGISTER requests, by result", reg_family);

        let fork_family = Family::<Labels, Counter>::default();
        let fork = label_handles(
            &fork_family,
            "outcome",
            ForkOutcome::ALL.map(|o| o.as_str()),
        );
        registry.register(
            "fork_outcomes",
            "Forked branches (one per agent contact rung), by how they ended",
            fork_family,
        );

        let active_calls = Gauge::default();
        registry.register("active_calls", "Calls in progress", active_calls.clone());

        let rtp_lost =
            AtomicHistogram::new(&[0.0, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0]);
        registry.register(
            "rtp_packets_lost",
            "RTP packets lost on the caller leg, per call at its end",
            rtp_lost.clone(),
        );

        let rtp_jitter =
            AtomicHistogram::new(&[1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0, 500.0]);
        registry.register(
            "rtp_jitter_ms",
            "RTP interarrival jitter (RFC 3550) in milliseconds, per call at its end",
            rtp_jitter.clone(),
        );

        let loop_lag = AtomicHistogram::new(&[
            0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
            0.25, 1.0,
        ]);
        registry.register(
            "event_loop_lag_seconds",
            "How late the engine's loop woke up for a due timer",
            loop_lag.clone(),
        );

        let sse_clients = Gauge::default();
        registry.register(
            "sse_clients",
            "Connected server-sent-events clients",
            sse_clients.clone(),
        );

        let sse_missed = Counter::default();
        registry.register(
            "sse_events_missed",
            "Events a lagging SSE client lost (it was sent a `lagged` event instead)",
            sse_missed.clone(),
        );

        let request_family = Family::<RequestLabels, Counter>::default();
        let requests = METHODS.map(|method| {
            STATUS_CLASSES.map(|status| {
                request_family
                    .get_or_create(&[("method", method), ("status", status)])
                    .clone()
            })
        });
        registry.register(
            "api_requests",
            "HTTP API requests, by method and status class",
            request_family,
        );

        Metrics {
            inner: Arc::new(Inner {
                registry,
                calls,
                ringing,
                registrations,
                fork,
                active_calls,
                rtp_lost,
                rtp_jitter,
                loop_lag,
                sse_clients,
                sse_missed,
                requests,
            }),
        }
    }

    /// A call was received (counts toward `active_calls`).
    pub fn call_started(&self) {
        self.inner.active_calls.inc();
    }

    /// A call ended: one fewer active, one more in `calls_total{outcome}`.
    pub fn call_ended(&self, outcome: CallOutcome) {
        self.inner.active_calls.dec();
        self.inner.calls[outcome as usize].inc();
    }

    /// Re-synchronises `active_calls` with the engine's own count.
    pub fn set_active_calls(&self, n: usize) {
        self.inner
            .active_calls
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// How long a call rang before it was answered or given up.
    pub fn ringing_time(&self, rang: Duration) {
        self.inner.ringing.observe(rang.as_secs_f64());
    }

    pub fn registration(&self, result: RegistrationResult) {
        self.inner.registrations[result as usize].inc();
    }

    pub fn fork_branch(&self, outcome: ForkOutcome) {
        self.inner.fork[outcome as usize].inc();
    }

    /// A call's media quality at its end (caller leg, from the relay's RTCP-style counters).
    pub fn rtp_call_quality(&self, packets_lost: u64, jitter: Duration) {
        self.inner.rtp_lost.observe(packets_lost as f64);
        self.inner.rtp_jitter.observe(jitter.as_secs_f64() * 1000.0);
    }

    /// How late the engine woke up for a timer.
    pub fn event_loop_lag(&self, lag: Duration) {
        self.inner.loop_lag.observe(lag.as_secs_f64());
    }

    pub(crate) fn sse_connected(&self) {
        self.inner.sse_clients.inc();
    }

    pub(crate) fn sse_disconnected(&self) {
        self.inner.sse_clients.dec();
    }

    pub(crate) fn sse_missed(&self, events: u64) {
        self.inner.sse_missed.inc_by(events);
    }

    pub(crate) fn api_request(&self, method: &axum::http::Method, status: u16) {
        let m = match *method {
            axum::http::Method::GET => 0,
            axum::http::Method::POST => 1,
            _ => 2,
        };
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.inner.requests[m][class].inc();
    }

    /// Current number of connected SSE clients.
    pub fn sse_clients(&self) -> i64 {
        self.inner.sse_clients.get()
    }

    /// The whole registry in the OpenMetrics text format (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail; the encoder's own error is for broken label
        // encoders, which ours (static strings) are not.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// A histogram with fixed buckets and no lock: one atomic per bucket, the sum as f64 bits.
/// A scrape racing an observation may see the count one ahead of the sum; the buckets and the
/// count always agree (the count is the buckets' total).
#[derive(Clone, Debug)]
struct AtomicHistogram {
    inner: Arc<HistogramInner>,
}

#[derive(Debug)]
struct HistogramInner {
    /// Upper bounds, increasing; the `+Inf` bucket is implicit (last of `counts`).
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    sum_bits: AtomicU64,
}

impl AtomicHistogram {
    fn new(bounds: &[f64]) -> Self {
        AtomicHistogram {
            inner: Arc::new(HistogramInner {
                bounds: bounds.to_vec(),
                counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                sum_bits: AtomicU64::new(0f64.to_bits()),
            }),
        }
    }

    fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        let bucket = self.inner.bounds.partition_point(|bound| *bound < v);
        self.inner.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let mut current = self.inner.sum_bits.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + v).to_bits();
            match self.inner.sum_bits.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
    }
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = self
            .inner
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.inner.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = f64::from_bits(self.inner.sum_bits.load(Ordering::Relaxed));
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn families_are_present_from_the_start() {
        let text = Metrics::new().encode();
        for family in [
            "switchboard_calls_total{outcome=\"answered\"} 0",
            "switchboard_call_ringing_seconds_count 0",
            "switchboard_registrations_total{result=\"challenged\"} 0",
            "switchboard_fork_outcomes_total{outcome=\"late_answer\"} 0",
            "switchboard_active_calls 0",
            "switchboard_rtp_packets_lost_count 0",
            "switchboard_rtp_jitter_ms_count 0",
            "switchboard_event_loop_lag_seconds_count 0",
            "switchboard_sse_clients 0",
            "switchboard_sse_events_missed_total 0",
            "switchboard_api_requests_total{method=\"GET\",status=\"2xx\"} 0",
        ] {
            assert!(text.contains(family), "{family} missing in\n{text}");
        }
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[test]
    fn recordings_show_up() {
        let m = Metrics::new();
        m.call_started();
        m.call_started();
        m.call_ended(CallOutcome::Abandoned);
        m.ringing_time(Duration::from_millis(2500));
        m.ringing_time(Duration::from_secs(100));
        m.registration(RegistrationResult::Registered);
        m.fork_branch(ForkOutcome::LateAnswer);
        m.rtp_call_quality(3, Duration::from_millis(12));
        m.event_loop_lag(Duration::from_micros(300));
        m.api_request(&axum::http::Method::DELETE, 404);
        let text = m.encode();
        let expect = [
            "switchboard_active_calls 1",
            "switchboard_calls_total{outcome=\"abandoned\"} 1",
            "switchboard_call_ringing_seconds_count 2",
            "switchboard_call_ringing_seconds_sum 102.5",
            "switchboard_call_ringing_seconds_bucket{le=\"3.0\"} 1",
            "switchboard_call_ringing_seconds_bucket{le=\"120.0\"} 2",
            "switchboard_call_ringing_seconds_bucket{le=\"+Inf\"} 2",
            "switchboard_registrations_total{result=\"registered\"} 1",
            "switchboard_fork_outcomes_total{outcome=\"late_answer\"} 1",
            "switchboard_rtp_packets_lost_bucket{le=\"5.0\"} 1",
            "switchboard_rtp_jitter_ms_bucket{le=\"10.0\"} 0",
            "switchboard_rtp_jitter_ms_bucket{le=\"20.0\"} 1",
            "switchboard_event_loop_lag_seconds_bucket{le=\"0.0005\"} 1",
            "switchboard_api_requests_total{method=\"other\",status=\"4xx\"} 1",
        ];
        for e in expect {
            let prefix = e.rsplit_once(' ').map(|(p, _)| p).unwrap_or(e);
            assert_eq!(line(&text, prefix), Some(e), "in\n{text}");
        }
    }

    #[test]
    fn label_handles_are_indexed_by_discriminant() {
        for (i, o) in CallOutcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
        for (i, r) in RegistrationResult::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, o) in ForkOutcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
    }

    #[test]
    fn histogram_bucket_edges_are_inclusive() {
        let h = AtomicHistogram::new(&[1.0, 2.0]);
        for v in [1.0, 1.5, 2.0, 3.0, f64::NAN] {
            h.observe(v);
        }
        let counts: Vec<u64> = h
            .inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts, [1, 2, 1]);
        assert_eq!(
            f64::from_bits(h.inner.sum_bits.load(Ordering::Relaxed)),
            7.5
        );
    }
}
