//! `tracing` to stderr: human-readable by default, one JSON object per line with `--log-format
//! json` or `[log] format = "json"`. `RUST_LOG` overrides the configured level.

use tracing_subscriber::{fmt, EnvFilter};

use crate::LogFormat;

pub fn init(config: &config::Config, cli_format: Option<LogFormat>) {
    let format = cli_format.unwrap_or(match config.log.format {
        config::LogFormat::Json => LogFormat::Json,
        config::LogFormat::Human => LogFormat::Human,
    });
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.log.level.as_str()));
    use std::io::IsTerminal;
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder.with_target(false).try_init(),
    };
    if let Err(e) = result {
        eprintln!("logging already initialised: {e}");
    }
}
