//! Replays the committed network traces through the jitter buffer and prints the quality table.
//!
//! ```text
//! cargo run -p media --example jitter_traces --release               # print the table
//! cargo run -p media --example jitter_traces --release -- --regenerate   # rewrite testdata/traces
//! ```
//!
//! Columns: late/dropped = arrived but not played (too late, shed or dropped to cut delay);
//! delay = playout time − send time − the trace's fastest network delay; oracle = the smallest
//! fixed delay that would have lost no more arrived packets than we did.

use std::path::PathBuf;
use std::time::Instant;

use media::jitter::trace::{replay, table, ReplayConfig, Trace, TraceSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/traces");
    if std::env::args().any(|a| a == "--regenerate") {
        std::fs::create_dir_all(&dir)?;
        for spec in TraceSpec::library() {
            let path = dir.join(format!("{}.csv", spec.name));
            std::fs::write(&path, Trace::generate(&spec).to_csv())?;
            println!("wrote {}", path.display());
        }
    }
    let start = Instant::now();
    let mut reports = Vec::new();
    for spec in TraceSpec::library() {
        let path = dir.join(format!("{}.csv", spec.name));
        let trace = Trace::parse_csv(spec.name, &std::fs::read_to_string(&path)?)?;
        reports.push(replay(&trace, &ReplayConfig::default(), start)?);
    }
    print!("{}", table(&reports));
    Ok(())
}
