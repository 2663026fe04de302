//! Logging to stdout and to daily-rotated files in `logging.dir`, keeping
//! `logging.max_days` files.

use tracing::level_filters::LevelFilter;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use crate::config::LoggingConfig;
use crate::error::{Error, Result};

/// Accepted level names (`warning` as an alias of `warn`).
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    match s.to_ascii_lowercase().as_str() {
        "debug" => Some(LevelFilter::DEBUG),
        "info" => Some(LevelFilter::INFO),
        "warn" | "warning" => Some(LevelFilter::WARN),
        "error" => Some(LevelFilter::ERROR),
        "trace" => Some(LevelFilter::TRACE),
        _ => None,
    }
}

/// Installs the global subscriber. Keep the returned guard alive until exit:
/// dropping it flushes the file writer.
pub fn init(cfg: &LoggingConfig) -> Result<WorkerGuard> {
    let level = parse_level(&cfg.level).unwrap_or(LevelFilter::INFO);
    std::fs::create_dir_all(&cfg.dir)
        .map_err(|e| Error::io(format!("cannot create log directory {}", cfg.dir.display()), e))?;
    let appender = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("pulsemq")
        .filename_suffix("log")
        .max_log_files(cfg.max_days)
        .build(&cfg.dir)
        .map_err(|e| Error::Other(format!("cannot open log file in {}: {e}", cfg.dir.display())))?;
    let (file_writer, guard) = tracing_appender::non_blocking(appender);
    // Our own crates at the configured level; chatty dependencies at warn.
    let filter = || EnvFilter::new(format!("warn,pulsemq={level},pulsemq_client={level}"));
    let stdout = fmt::layer().with_target(false).with_filter(filter());
    let file = fmt::layer().with_ansi(false).with_writer(file_writer).with_filter(filter());
    tracing_subscriber::registry().with(stdout).with(file).try_init().map_err(|e| Error::Other(e.to_string()))?;
    Ok(guard)
}
