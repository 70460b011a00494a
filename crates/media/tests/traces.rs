//! Replays the committed network traces (`testdata/traces/*.csv`) and checks the buffer's
//! quality against the fixed-delay oracle. Only invariants and generous bounds are asserted;
//! the numbers themselves are printed (`cargo test -p media --test traces -- --nocapture`).

use std::path::PathBuf;
use std::time::Instant;

use media::jitter::trace::{replay, table, ReplayConfig, ReplayReport, Trace, TraceSpec};

fn load(spec: &TraceSpec) -> Trace {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/traces")
        .join(format!("{}.csv", spec.name));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Trace::parse_csv(spec.name, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn reports() -> Vec<ReplayReport> {
    let start = Instant::now();
    TraceSpec::library()
        .iter()
        .map(|spec| replay(&load(spec), &ReplayConfig::default(), start).expect("replays"))
        .collect()
}

#[test]
fn committed_traces_are_what_the_generator_makes() {
    for spec in TraceSpec::library() {
        let committed = load(&spec);
        let fresh = Trace::generate(&spec);
        assert_eq!(
            committed.packets.len(),
            fresh.packets.len(),
            "{}",
            spec.name
        );
        for (c, f) in committed.packets.iter().zip(&fresh.packets) {
            assert_eq!(c.seq, f.seq);
            assert!(
                (c.send_ms - f.send_ms).abs() < 0.002,
                "{}: {c:?} vs {f:?}",
                spec.name
            );
            match (c.arrival_ms, f.arrival_ms) {
                (Some(a), Some(b)) => {
                    assert!((a - b).abs() < 0.002, "{}: {c:?} vs {f:?}", spec.name)
                }
                (None, None) => {}
                _ => panic!("{}: loss pattern differs at {}", spec.name, c.seq),
            }
        }
    }
}

#[test]
fn traces_replay_within_bounds_of_the_oracle() {
    let reports = reports();
    println!("{}", table(&reports));
    for r in &reports {
        let s = &r.stats;
        // Invariants.
        assert!(
            r.max_buffer_ms <= 500.0,
            "{}: waited {} ms",
            r.name,
            r.max_buffer_ms
        );
        assert!(
            r.min_target_ms >= 20.0 && r.max_target_ms <= 500.0,
            "{}",
            r.name
        );
        assert_eq!(s.played as usize, r.played);
        assert_eq!(
            s.received,
            s.played + s.late + s.duplicates + s.overflow + s.shed + s.accelerated,
            "{}: every arrived packet accounted for",
            r.name
        );
        assert_eq!(s.received as usize, r.arrived);
        // Sane bounds against a fixed buffer that knew the whole trace in advance:
        // at our mean delay, we miss at most 1.5 percentage points more packets than it...
        assert!(
            r.missing_pct() <= r.oracle_missing_pct_at_mean() + 1.5,
            "{}: missing {:.2} % vs oracle {:.2} %",
            r.name,
            r.missing_pct(),
            r.oracle_missing_pct_at_mean()
        );
        // ...and for what we lost to lateness, our mean delay is within two frames of its.
        assert!(
            r.mean_delay_ms <= r.oracle_delay_ms + 40.0,
            "{}: mean delay {:.1} ms vs oracle {:.1} ms",
            r.name,
            r.mean_delay_ms,
            r.oracle_delay_ms
        );
        // Concealment: what was missing, plus at most 3 PLC frames each time the buffer ran dry
        // (talk spurt ends under DTX look the same as a loss until the next packet arrives).
        assert!(
            r.concealed_pct() <= r.oracle_missing_pct_at_mean() + 5.0,
            "{}: concealed {:.2} %",
            r.name,
            r.concealed_pct()
        );
    }
}
