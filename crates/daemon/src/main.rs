//! `switchboard`: the only binary. It reads the config, opens the sockets, owns the clock and the
//! signals, and feeds the sans-IO engine. No protocol rule lives here: SIP behaviour is in the
//! `engine`, `sip-core` and `registrar` crates.

mod app;
mod logging;
mod media;
mod node;
mod transport;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "SIP/RTP call-routing and media engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the daemon in the foreground; logs go to stderr.
    Run {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Log format; overrides `[log] format` from the config.
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
    },
    /// Validate a configuration file; exit 0 when valid, 1 when not.
    Check {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum LogFormat {
    Human,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Run { config, log_format } => run(&config, log_format),
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match config::load(path) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for error in errors.iter() {
                eprintln!("error: {error}");
            }
            ExitCode::from(1)
        }
    }
}

fn run(path: &std::path::Path, log_format: Option<LogFormat>) -> ExitCode {
    let loaded = match config::load(path) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for error in errors.iter() {
                eprintln!("error: {error}");
            }
            return ExitCode::from(1);
        }
    };
    logging::init(&loaded.config, log_format);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    // One thread: the node task, the socket readers and the TCP connections run on it
    // cooperatively, so a received datagram reaches the engine without waking another thread
    // (a cross-thread wake-up per message cost more than parsing it under REGISTER load).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .thread_name("switchboard")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(node::run(loaded.config, path.to_path_buf())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "stopped");
            ExitCode::from(1)
        }
    }
}
