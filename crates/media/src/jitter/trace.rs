//! Seeded network traces, their CSV form, a replay harness and the fixed-delay oracle: how the
//! jitter buffer's quality is measured.
//!
//! A trace is one 20 ms audio stream as the network delivered it: each packet's send time and
//! arrival time, or `lost`. [`Trace::generate`] builds one from a [`TraceSpec`] with a seeded
//! generator (SplitMix64, so a seed means the same trace on every platform and forever):
//!
//! * delay = base + route change step + decaying spikes + Pareto (Lomax) jitter, capped;
//! * packets leave the network in FIFO order (a packet cannot overtake the one before it), which
//!   turns spikes into realistic bunches, except for explicit reordering events;
//! * Gilbert-Elliott loss: a good and a bad state with their own loss probability;
//! * optional talk spurts: the sender stops during silences (DTX), so send times jump.
//!
//! [`replay`] runs a [`JitterBuffer`] over a trace with a virtual clock and reports the delay
//! it added and what it concealed; [`Trace::oracle_delay_ms`] is the smallest *fixed* playout
//! delay that loses no more packets to lateness than the buffer did, computed offline with
//! hindsight. A good adaptive buffer gets close to the oracle without knowing the future.
//!
//! CSV columns: `seq,send_ms,arrival_ms`, with `lost` for a lost packet; `seq` is the packet's
//! index (the replay maps it onto wrapping RTP numbers).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::{JitterBuffer, JitterConfig, JitterPacket, JitterStats, Playout};
use crate::Error;

/// SplitMix64: tiny, seedable, identical everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponential with this mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.uniform()).ln()
    }

    /// Lomax (Pareto type II, starting at 0) with this scale and shape: heavy-tailed jitter.
    pub fn lomax(&mut self, scale: f64, shape: f64) -> f64 {
        scale * ((1.0 - self.uniform()).powf(-1.0 / shape) - 1.0)
    }
}

/// Two-state bursty loss: `p_bad` per packet to enter the bad state, `p_good` to leave it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GilbertElliott {
    /// Good → bad transition probability per packet.
    pub p_bad: f64,
    /// Bad → good transition probability per packet.
    pub p_good: f64,
    /// Loss probability in the good state.
    pub loss_good: f64,
    /// Loss probability in the bad state.
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// Independent loss with probability `p`.
    pub fn uniform(p: f64) -> Self {
        Self {
            p_bad: 0.0,
            p_good: 1.0,
            loss_good: p,
            loss_bad: p,
        }
    }
}

/// Delay spikes arriving as a Poisson process; each rises at once and decays linearly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spikes {
    /// Mean time between spikes.
    pub mean_interval_ms: f64,
    /// Peak height (each spike draws 70..130 % of it).
    pub height_ms: f64,
    /// Time for a spike to decay to zero (keep it longer than the height: FIFO order holds).
    pub decay_ms: f64,
}

/// Voice activity: talk spurts and silences with exponential durations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TalkSpurts {
    /// Mean talk spurt duration.
    pub mean_talk_ms: f64,
    /// Mean silence duration (the sender sends nothing).
    pub mean_silence_ms: f64,
}

/// Everything that shapes a generated trace.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSpec {
    /// File stem for the committed CSV.
    pub name: &'static str,
    /// Generator seed.
    pub seed: u64,
    /// Packets sent.
    pub packets: u32,
    /// Packet interval.
    pub frame_ms: f64,
    /// Fixed one-way delay.
    pub base_delay_ms: f64,
    /// Lomax jitter scale.
    pub jitter_scale_ms: f64,
    /// Lomax jitter shape (smaller = heavier tail).
    pub jitter_shape: f64,
    /// Jitter cap.
    pub jitter_cap_ms: f64,
    /// Loss model.
    pub loss: GilbertElliott,
    /// Delay spikes.
    pub spikes: Option<Spikes>,
    /// Probability that a packet is held back and overtaken.
    pub reorder_prob: f64,
    /// Extra delay of a reordered packet: uniform in one frame ..= this.
    pub reorder_max_ms: f64,
    /// DTX talk spurts.
    pub talk: Option<TalkSpurts>,
    /// Route change: (send time, permanent delay step).
    pub route_change: Option<(f64, f64)>,
}

impl TraceSpec {
    /// A quiet path: nothing but a little jitter and loss.
    fn quiet(name: &'static str, seed: u64) -> Self {
        Self {
            name,
            seed,
            packets: 1500,
            frame_ms: 20.0,
            base_delay_ms: 30.0,
            jitter_scale_ms: 1.0,
            jitter_shape: 3.0,
            jitter_cap_ms: 30.0,
            loss: GilbertElliott::uniform(0.0),
            spikes: None,
            reorder_prob: 0.0,
            reorder_max_ms: 0.0,
            talk: None,
            route_change: None,
        }
    }

    /// The traces committed under `testdata/traces/`, 30 s each.
    pub fn library() -> Vec<TraceSpec> {
        vec![
            TraceSpec {
                loss: GilbertElliott::uniform(0.005),
                ..Self::quiet("calm", 1)
            },
            TraceSpec {
                base_delay_ms: 15.0,
                jitter_scale_ms: 4.0,
                jitter_shape: 2.0,
                jitter_cap_ms: 120.0,
                loss: GilbertElliott {
                    p_bad: 0.01,
                    p_good: 0.25,
                    loss_good: 0.0,
                    loss_bad: 0.6,
                },
                reorder_prob: 0.005,
                reorder_max_ms: 60.0,
                ..Self::quiet("wifi_bursty", 2)
            },
            TraceSpec {
                base_delay_ms: 40.0,
                jitter_scale_ms: 1.5,
                spikes: Some(Spikes {
                    mean_interval_ms: 6000.0,
                    height_ms: 200.0,
                    decay_ms: 400.0,
                }),
                loss: GilbertElliott::uniform(0.005),
                ..Self::quiet("spikes", 3)
            },
            TraceSpec {
                base_delay_ms: 60.0,
                jitter_scale_ms: 12.0,
                jitter_shape: 1.6,
                jitter_cap_ms: 250.0,
                loss: GilbertElliott {
                    p_bad: 0.02,
                    p_good: 0.3,
                    loss_good: 0.005,
                    loss_bad: 0.5,
                },
                reorder_prob: 0.02,
                reorder_max_ms: 80.0,
                ..Self::quiet("mobile", 4)
            },
            TraceSpec {
                base_delay_ms: 25.0,
                jitter_scale_ms: 3.0,
                jitter_shape: 2.5,
                jitter_cap_ms: 60.0,
                loss: GilbertElliott::uniform(0.01),
                talk: Some(TalkSpurts {
                    mean_talk_ms: 1500.0,
                    mean_silence_ms: 800.0,
                }),
                route_change: Some((15_000.0, 40.0)),
                ..Self::quiet("dtx_route_change", 5)
            },
        ]
    }
}

/// One packet of a trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TracePacket {
    /// Index in the stream (0, 1, 2, ...).
    pub seq: u64,
    /// Send time since the start of the trace.
    pub send_ms: f64,
    /// Arrival time since the start of the trace; `None` if the network lost it.
    pub arrival_ms: Option<f64>,
}

/// A network trace: one stream's packets in sending order.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Name (file stem).
    pub name: String,
    /// Packets in sending order.
    pub packets: Vec<TracePacket>,
}

impl Trace {
    /// Generates the trace a spec describes. Same spec, same trace.
    pub fn generate(spec: &TraceSpec) -> Trace {
        let mut rng = Rng::new(spec.seed);
        let mut packets = Vec::with_capacity(spec.packets as usize);
        let mut send = 0.0f64;
        let mut bad = false;
        let mut talk_until = spec.talk.map(|t| rng.exponential(t.mean_talk_ms));
        let mut next_spike = spec.spikes.map(|s| rng.exponential(s.mean_interval_ms));
        let mut spike: Option<(f64, f64)> = None; // (start, height)
        let mut fifo = f64::NEG_INFINITY;
        for seq in 0..u64::from(spec.packets) {
            if let (Some(t), Some(until)) = (spec.talk, talk_until) {
                if send >= until {
                    let silence = (rng.exponential(t.mean_silence_ms) / spec.frame_ms).round();
                    send += silence * spec.frame_ms;
                    talk_until = Some(send + rng.exponential(t.mean_talk_ms).max(spec.frame_ms));
                }
            }
            if let (Some(s), Some(at)) = (spec.spikes, next_spike) {
                if send >= at {
                    spike = Some((at, s.height_ms * (0.7 + 0.6 * rng.uniform())));
                    next_spike = Some(at + rng.exponential(s.mean_interval_ms));
                }
            }
            let loss = spec.loss;
            bad = if bad {
                rng.uniform() >= loss.p_good
            } else {
                rng.uniform() < loss.p_bad
            };
            let lost = rng.uniform() < if bad { loss.loss_bad } else { loss.loss_good };
            let mut delay = spec.base_delay_ms
                + rng
                    .lomax(spec.jitter_scale_ms, spec.jitter_shape)
                    .min(spec.jitter_cap_ms);
            if let Some((at, step)) = spec.route_change {
                if send >= at {
                    delay += step;
                }
            }
            if let (Some(s), Some((start, height))) = (spec.spikes, spike) {
                let age = send - start;
                if age < s.decay_ms {
                    delay += height * (1.0 - age / s.decay_ms);
                }
            }
            let reordered = rng.uniform() < spec.reorder_prob;
            let arrival_ms = if reordered {
                let extra = spec.frame_ms + rng.uniform() * (spec.reorder_max_ms - spec.frame_ms);
                Some(send + delay + extra.max(spec.frame_ms))
            } else {
                // FIFO: never before the previous in-order packet (50 µs serialisation).
                let at = (send + delay).max(fifo + 0.05);
                if !lost {
                    fifo = at;
                }
                Some(at)
            };
            packets.push(TracePacket {
                seq,
                send_ms: send,
                arrival_ms: if lost { None } else { arrival_ms },
            });
            send += spec.frame_ms;
        }
        Trace {
            name: spec.name.to_string(),
            packets,
        }
    }

    /// The CSV text (`seq,send_ms,arrival_ms`, µs precision, `lost` for lost packets).
    pub fn to_csv(&self) -> String {
        let mut s = String::from("seq,send_ms,arrival_ms\n");
        for p in &self.packets {
            // Writing to a String cannot fail.
            let _ = match p.arrival_ms {
                Some(a) => writeln!(s, "{},{:.3},{:.3}", p.seq, p.send_ms, a),
                None => writeln!(s, "{},{:.3},lost", p.seq, p.send_ms),
            };
        }
        s
    }

    /// Parses the CSV form. Blank lines and `#` comments are skipped; so is the header.
    pub fn parse_csv(name: &str, text: &str) -> Result<Trace, Error> {
        let mut packets = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("seq") {
                continue;
            }
            let err = |reason: String| Error::Trace {
                line: n + 1,
                reason,
            };
            let mut cols = line.split(',').map(str::trim);
            let (Some(seq), Some(send), Some(arrival), None) =
                (cols.next(), cols.next(), cols.next(), cols.next())
            else {
                return Err(err(format!("want 3 columns: {line:?}")));
            };
            let seq = seq
                .parse::<u64>()
                .map_err(|e| err(format!("seq {seq:?}: {e}")))?;
            let send_ms = parse_ms(send).map_err(|e| err(format!("send_ms {send:?}: {e}")))?;
            let arrival_ms = if arrival == "lost" {
                None
            } else {
                let a =
                    parse_ms(arrival).map_err(|e| err(format!("arrival_ms {arrival:?}: {e}")))?;
                if a < send_ms {
                    return Err(err(format!(
                        "arrives at {a} before it is sent at {send_ms}"
                    )));
                }
                Some(a)
            };
            if let Some(prev) = packets.last().map(|p: &TracePacket| p.seq) {
                if seq <= prev {
                    return Err(err(format!("seq {seq} after {prev}")));
                }
            }
            packets.push(TracePacket {
                seq,
                send_ms,
                arrival_ms,
            });
        }
        Ok(Trace {
            name: name.to_string(),
            packets,
        })
    }

    /// Network delays (arrival − send) of the packets that arrived.
    fn delays(&self) -> impl Iterator<Item = f64> + '_ {
        self.packets
            .iter()
            .filter_map(|p| p.arrival_ms.map(|a| a - p.send_ms))
    }

    /// The fastest network delay of the trace (the oracle's reference point).
    pub fn base_delay_ms(&self) -> f64 {
        self.delays().fold(f64::INFINITY, f64::min)
    }

    /// Packets the network lost.
    pub fn network_lost(&self) -> usize {
        self.packets
            .iter()
            .filter(|p| p.arrival_ms.is_none())
            .count()
    }

    /// Packets a fixed playout delay of `base + delay_ms` would find late.
    pub fn late_at(&self, delay_ms: f64) -> usize {
        let base = self.base_delay_ms();
        self.delays().filter(|d| *d - base > delay_ms).count()
    }

    /// The oracle: the smallest fixed delay above base with at most `allowed_late` late packets.
    pub fn oracle_delay_ms(&self, allowed_late: usize) -> f64 {
        let base = self.base_delay_ms();
        let mut rel: Vec<f64> = self.delays().map(|d| d - base).collect();
        rel.sort_by(|a, b| b.total_cmp(a));
        // Late means strictly above d: d = the (allowed_late + 1)-th largest delay.
        rel.get(allowed_late).copied().unwrap_or(0.0).max(0.0)
    }
}

fn parse_ms(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err("not a finite non-negative number".into())
    }
}

/// How a trace is replayed.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayConfig {
    /// The buffer under test (its `frame_samples` should match the trace's 20 ms).
    pub jitter: JitterConfig,
    /// Offset of the pop clock from the trace's time zero.
    pub pop_phase: Duration,
    /// RTP sequence number of trace packet 0 (near 65535 to exercise the wrap).
    pub seq_start: u16,
    /// RTP timestamp of trace time 0 (near 2^32 to exercise the wrap).
    pub ts_start: u32,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            jitter: JitterConfig::default(),
            pop_phase: Duration::from_micros(7_300),
            seq_start: 65_000,
            ts_start: u32::MAX - 400_000,
        }
    }
}

/// What the buffer did with a trace, and what the oracle would have done.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayReport {
    /// Trace name.
    pub name: String,
    /// Packets sent.
    pub sent: usize,
    /// Packets the network lost.
    pub net_lost: usize,
    /// Packets that arrived.
    pub arrived: usize,
    /// Packets played.
    pub played: usize,
    /// Mean time a played packet waited in the buffer.
    pub mean_buffer_ms: f64,
    /// Mean playout delay above the trace's fastest network delay (send → play − base).
    pub mean_delay_ms: f64,
    /// 95th percentile of that.
    pub p95_delay_ms: f64,
    /// Longest a played packet waited in the buffer.
    pub max_buffer_ms: f64,
    /// Target delay range over the replay.
    pub min_target_ms: f64,
    /// Target delay range over the replay.
    pub max_target_ms: f64,
    /// Smallest fixed delay (above base) losing no more arrived packets than the buffer did.
    pub oracle_delay_ms: f64,
    /// Arrived packets a fixed delay equal to our mean would have found late.
    pub oracle_late_at_mean: usize,
    /// The buffer's own counters at the end.
    pub stats: JitterStats,
}

impl ReplayReport {
    fn pct(&self, n: f64) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        100.0 * n / self.sent as f64
    }

    /// Network loss, % of sent.
    pub fn net_loss_pct(&self) -> f64 {
        self.pct(self.net_lost as f64)
    }

    /// Arrived but not played (late, or dropped to cut delay), % of sent.
    pub fn unplayed_pct(&self) -> f64 {
        self.pct((self.arrived - self.played) as f64)
    }

    /// Concealment frames output, % of sent.
    pub fn concealed_pct(&self) -> f64 {
        self.pct(self.stats.concealed as f64)
    }

    /// A fixed buffer at our mean delay: late + network loss, % of sent.
    pub fn oracle_missing_pct_at_mean(&self) -> f64 {
        self.pct((self.oracle_late_at_mean + self.net_lost) as f64)
    }

    /// Our packets missing at playout (network loss + unplayed), % of sent.
    pub fn missing_pct(&self) -> f64 {
        self.pct((self.sent - self.played) as f64)
    }
}

/// Replays a trace through a fresh buffer with a virtual clock starting at `start`.
///
/// Packets are inserted in arrival order at their arrival time; the buffer is popped every
/// frame from `start + pop_phase` until everything has drained.
pub fn replay(trace: &Trace, cfg: &ReplayConfig, start: Instant) -> Result<ReplayReport, Error> {
    let mut jb = JitterBuffer::<u32>::new(cfg.jitter.clone())?;
    let frame = cfg.jitter.frame_duration();
    let frame_ms = frame.as_secs_f64() * 1e3;
    let clock = f64::from(cfg.jitter.clock_rate);
    let at = |ms: f64| start + Duration::from_micros((ms * 1e3).round().max(0.0) as u64);

    let mut arrivals: Vec<(f64, u32)> = Vec::with_capacity(trace.packets.len());
    for (i, p) in trace.packets.iter().enumerate() {
        if let Some(a) = p.arrival_ms {
            let i = u32::try_from(i).map_err(|_| Error::Trace {
                line: i + 2,
                reason: "trace longer than 2^32 packets".into(),
            })?;
            arrivals.push((a, i));
        }
    }
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let end_ms = arrivals.last().map_or(0.0, |a| a.0) + cfg.jitter.max_delay.as_secs_f64() * 1e3;

    let mut played_at: Vec<Option<f64>> = vec![None; trace.packets.len()];
    let mut next = 0;
    let (mut min_target, mut max_target) = (f64::INFINITY, 0.0f64);
    let mut k = 0u32;
    loop {
        let now_ms = cfg.pop_phase.as_secs_f64() * 1e3 + f64::from(k) * frame_ms;
        if now_ms > end_ms + 10.0 * frame_ms {
            break;
        }
        let now = start + cfg.pop_phase + frame * k;
        while let Some(&(a, i)) = arrivals.get(next) {
            if at(a) > now {
                break;
            }
            let p = &trace.packets[i as usize];
            let prev_send = i.checked_sub(1).map(|j| trace.packets[j as usize].send_ms);
            let marker = prev_send.is_none_or(|s| p.send_ms - s > 1.5 * frame_ms);
            let ticks = (p.send_ms * clock / 1e3).round() as u64;
            let packet = JitterPacket {
                seq: cfg.seq_start.wrapping_add(p.seq as u16),
                // RTP timestamps wrap: truncation is intended.
                timestamp: cfg.ts_start.wrapping_add(ticks as u32),
                ssrc: 0x7EA5,
                marker,
                comfort_noise: false,
                payload: i,
                arrival: at(a),
            };
            jb.insert(packet, at(a));
            next += 1;
        }
        if let Playout::Frame(p) = jb.pop(now) {
            played_at[p.payload as usize] = Some(now_ms);
        }
        let t = jb.target_delay().as_secs_f64() * 1e3;
        min_target = min_target.min(t);
        max_target = max_target.max(t);
        k += 1;
    }

    let base = trace.base_delay_ms();
    let mut delays = Vec::new();
    let mut buffer_sum = 0.0;
    let mut max_buffer = 0.0f64;
    for (p, t) in trace.packets.iter().zip(&played_at) {
        if let (Some(t), Some(a)) = (t, p.arrival_ms) {
            delays.push(t - p.send_ms - base);
            buffer_sum += t - a;
            max_buffer = max_buffer.max(t - a);
        }
    }
    let played = delays.len();
    let mean = |sum: f64| {
        if played == 0 {
            0.0
        } else {
            sum / played as f64
        }
    };
    let mean_delay = mean(delays.iter().sum());
    delays.sort_by(f64::total_cmp);
    let p95 = delays
        .get((played as f64 * 0.95).ceil() as usize)
        .or(delays.last())
        .copied()
        .unwrap_or(0.0);
    let net_lost = trace.network_lost();
    let arrived = trace.packets.len() - net_lost;
    Ok(ReplayReport {
        name: trace.name.clone(),
        sent: trace.packets.len(),
        net_lost,
        arrived,
        played,
        mean_buffer_ms: mean(buffer_sum),
        mean_delay_ms: mean_delay,
        p95_delay_ms: p95,
        max_buffer_ms: max_buffer,
        min_target_ms: min_target,
        max_target_ms: max_target,
        oracle_delay_ms: trace.oracle_delay_ms(arrived - played),
        oracle_late_at_mean: trace.late_at(mean_delay),
        stats: jb.stats(),
    })
}

/// The results as a Markdown table.
pub fn table(reports: &[ReplayReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| trace | pkts | net loss % | late/dropped % | concealed % | buffer mean ms | delay mean ms | delay p95 ms | oracle ms (same late) | oracle missing % @ our mean | our missing % | stalls | accel | inserted |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in reports {
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {} | {} | {} |",
            r.name,
            r.sent,
            r.net_loss_pct(),
            r.unplayed_pct(),
            r.concealed_pct(),
            r.mean_buffer_ms,
            r.mean_delay_ms,
            r.p95_delay_ms,
            r.oracle_delay_ms,
            r.oracle_missing_pct_at_mean(),
            r.missing_pct(),
            r.stats.stalled,
            r.stats.accelerated,
            r.stats.inserted,
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_stable() {
        let mut r = Rng::new(42);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut r = Rng::new(42);
        assert_eq!(first, (0..3).map(|_| r.next_u64()).collect::<Vec<_>>());
        let u = Rng::new(7).uniform();
        assert!((0.0..1.0).contains(&u));
    }

    #[test]
    fn gilbert_elliott_loss_is_bursty() {
        let spec = TraceSpec {
            packets: 20_000,
            loss: GilbertElliott {
                p_bad: 0.01,
                p_good: 0.2,
                loss_good: 0.0,
                loss_bad: 1.0,
            },
            ..TraceSpec::quiet("ge", 9)
        };
        let t = Trace::generate(&spec);
        let lost: Vec<bool> = t.packets.iter().map(|p| p.arrival_ms.is_none()).collect();
        let rate = lost.iter().filter(|l| **l).count() as f64 / lost.len() as f64;
        // Stationary bad share = p_bad / (p_bad + p_good) ≈ 4.8 %.
        assert!((0.03..0.07).contains(&rate), "{rate}");
        // Mean burst length 1 / p_good = 5 packets, far above independent loss.
        let bursts = lost.windows(2).filter(|w| !w[0] && w[1]).count();
        let mean_burst = lost.iter().filter(|l| **l).count() as f64 / bursts as f64;
        assert!(mean_burst > 3.0, "{mean_burst}");
    }

    #[test]
    fn fifo_holds_except_reordering() {
        let spec = TraceSpec {
            packets: 3000,
            jitter_scale_ms: 20.0,
            jitter_shape: 1.5,
            jitter_cap_ms: 300.0,
            ..TraceSpec::quiet("fifo", 11)
        };
        let t = Trace::generate(&spec);
        let arr: Vec<f64> = t.packets.iter().filter_map(|p| p.arrival_ms).collect();
        assert!(arr.windows(2).all(|w| w[0] < w[1]));
        let spec = TraceSpec {
            reorder_prob: 0.05,
            reorder_max_ms: 80.0,
            ..spec
        };
        let t = Trace::generate(&spec);
        let arr: Vec<f64> = t.packets.iter().filter_map(|p| p.arrival_ms).collect();
        assert!(arr.windows(2).any(|w| w[0] > w[1]));
    }

    #[test]
    fn talk_spurts_leave_send_gaps() {
        let spec = TraceSpec {
            talk: Some(TalkSpurts {
                mean_talk_ms: 1000.0,
                mean_silence_ms: 500.0,
            }),
            ..TraceSpec::quiet("dtx", 12)
        };
        let t = Trace::generate(&spec);
        let gaps = t
            .packets
            .windows(2)
            .filter(|w| w[1].send_ms - w[0].send_ms > 20.0)
            .count();
        assert!(gaps > 10, "{gaps}");
        assert!(t.packets.iter().all(|p| (p.send_ms / 20.0).fract() == 0.0));
    }

    #[test]
    fn spikes_raise_delay_then_decay() {
        let spec = TraceSpec {
            spikes: Some(Spikes {
                mean_interval_ms: 3000.0,
                height_ms: 200.0,
                decay_ms: 400.0,
            }),
            ..TraceSpec::quiet("sp", 13)
        };
        let t = Trace::generate(&spec);
        let max = t.delays().fold(0.0, f64::max);
        assert!(max > 30.0 + 130.0, "{max}");
        assert!(t.late_at(100.0) > 0);
    }

    #[test]
    fn csv_round_trip_and_errors() {
        let t = Trace::generate(&TraceSpec {
            packets: 50,
            loss: GilbertElliott::uniform(0.2),
            ..TraceSpec::quiet("rt", 5)
        });
        let back = Trace::parse_csv("rt", &t.to_csv()).expect("parses");
        assert_eq!(back.packets.len(), 50);
        for (a, b) in t.packets.iter().zip(&back.packets) {
            assert_eq!(a.seq, b.seq);
            assert_eq!(a.arrival_ms.is_some(), b.arrival_ms.is_some());
            assert!((a.send_ms - b.send_ms).abs() < 1e-3);
        }
        let err = Trace::parse_csv("x", "seq,send_ms,arrival_ms\n0,0,1\n1,20\n").unwrap_err();
        assert_eq!(
            err,
            Error::Trace {
                line: 3,
                reason: "want 3 columns: \"1,20\"".into()
            }
        );
        assert!(
            Trace::parse_csv("x", "0,20,10\n").is_err(),
            "arrives before sent"
        );
        assert!(
            Trace::parse_csv("x", "1,0,1\n0,20,30\n").is_err(),
            "seq goes back"
        );
        assert!(Trace::parse_csv("x", "0,abc,1\n").is_err());
        assert!(Trace::parse_csv("x", "0,NaN,1\n").is_err());
    }

    #[test]
    fn oracle_picks_smallest_sufficient_delay() {
        let t = Trace::parse_csv(
            "o",
            "0,0,10\n1,20,35\n2,40,50\n3,60,lost\n4,80,130\n5,100,110\n",
        )
        .expect("parses");
        // Relative delays above base 10: 0, 5, 0, 40, 0.
        assert_eq!(t.base_delay_ms(), 10.0);
        assert_eq!(t.network_lost(), 1);
        assert_eq!(t.oracle_delay_ms(0), 40.0);
        assert_eq!(t.oracle_delay_ms(1), 5.0);
        assert_eq!(t.oracle_delay_ms(2), 0.0);
        assert_eq!(t.oracle_delay_ms(10), 0.0);
        assert_eq!(t.late_at(4.0), 2);
        assert_eq!(t.late_at(40.0), 0);
    }

    #[test]
    fn replay_of_a_perfect_network_plays_everything() {
        let t = Trace::generate(&TraceSpec {
            packets: 200,
            jitter_scale_ms: 0.0,
            ..TraceSpec::quiet("perfect", 1)
        });
        let r = replay(&t, &ReplayConfig::default(), Instant::now()).expect("replays");
        // Everything but the frames dropped when the 60 ms warm-up target fell to ~20 ms.
        assert_eq!(r.played as u64 + r.stats.accelerated, 200);
        assert!(r.stats.accelerated <= 2);
        assert_eq!(r.stats.concealed, 3, "only the tail after the last packet");
        assert_eq!(r.oracle_delay_ms, 0.0);
        assert!(r.max_buffer_ms <= 500.0);
    }
}
