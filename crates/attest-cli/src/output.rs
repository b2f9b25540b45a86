//! What every command shares: the error type and exit codes, reading tokens and files with
//! caps, the RNG, and the small formatters for times and JSON.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use attest_core::UnixTime;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

/// Exit status of a usage or configuration error: bad flags, unreadable or invalid files.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status of a negative answer (a rejected token) or an operation that failed.
pub(crate) const EXIT_FAILED: u8 = 1;

/// Largest token read from the command line or standard input. Far above any token a verifier
/// accepts (8 KiB), so an oversized token still reaches the verifier and is rejected by it.
pub(crate) const MAX_TOKEN_INPUT: u64 = 1024 * 1024;
/// Largest key or JWKS file read (attest-core refuses a JWKS over 64 KiB anyway).
pub(crate) const MAX_KEY_FILE: u64 = 64 * 1024;
/// Largest system-prompt or configuration file hashed into `agent_integrity`.
pub(crate) const MAX_HASHED_FILE: u64 = 64 * 1024 * 1024;

/// Why a command failed. `main` prints it as one `error: ...` line.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Bad flags, or an unreadable or invalid file: exit status 2.
    Usage(String),
    /// The command ran and failed: exit status 1.
    Failed(String),
}

impl CliError {
    /// A usage or configuration error.
    pub(crate) fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }

    /// A failure of the operation itself.
    pub(crate) fn failed(message: impl Into<String>) -> CliError {
        CliError::Failed(message.into())
    }

    /// The process exit status.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(EXIT_USAGE),
            CliError::Failed(_) => ExitCode::from(EXIT_FAILED),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (CliError::Usage(message) | CliError::Failed(message)) = self;
        f.write_str(&one_line(message))
    }
}

/// `text` on one line: control characters (newlines included) become spaces, so that an
/// error quoting hostile input still prints as one line.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Text or JSON output.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Format {
    /// For people.
    #[default]
    Text,
    /// One JSON object, for scripts.
    Json,
}

/// Reads the token from `arg`, or from standard input when `arg` is `None` or `-`, trimmed.
///
/// Reading stops after [`MAX_TOKEN_INPUT`] bytes, and bytes that are not UTF-8 become U+FFFD.
/// Either way the result is still judged by attest-core, whose size cap (8 KiB) and strict
/// base64url refuse it: the verifier, not the reader, decides what is a token.
pub(crate) fn read_token(arg: Option<&str>) -> Result<String, CliError> {
    let raw = match arg {
        Some(token) if token != "-" => return Ok(token.trim().to_owned()),
        _ => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .take(MAX_TOKEN_INPUT.saturating_add(1))
                .read_to_end(&mut bytes)
                .map_err(|e| CliError::failed(format!("reading the token from stdin: {e}")))?;
            bytes
        }
    };
    Ok(String::from_utf8_lossy(&raw).trim().to_owned())
}

/// Reads a whole file of at most `max` bytes. Every failure is a usage error naming the file.
pub(crate) fn read_capped(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, CliError> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::usage(format!("cannot read {what} {shown}: {e}")))?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::usage(format!("cannot read {what} {shown}: {e}")))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        return Err(CliError::usage(format!(
            "{what} {shown} is larger than {max} bytes"
        )));
    }
    Ok(bytes)
}

/// Reads a UTF-8 text file of at most `max` bytes.
pub(crate) fn read_text(path: &Path, max: u64, what: &str) -> Result<String, CliError> {
    String::from_utf8(read_capped(path, max, what)?)
        .map_err(|_| CliError::usage(format!("{what} {} is not UTF-8 text", path.display())))
}

/// A ChaCha20 generator seeded by the operating system. A failing system RNG is an error,
/// never a weak seed.
pub(crate) fn os_rng() -> Result<ChaCha20Rng, CliError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| CliError::failed(format!("the system random generator failed: {e}")))?;
    Ok(ChaCha20Rng::from_seed(seed))
}

/// Server logs as plain lines on stderr: attest's own events at INFO (refusals, Redis and JWKS
/// health), everything else (rmcp, hyper) at WARN.
pub(crate) fn init_logging() {
    use tracing::Level;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let targets = [
        "attest_mcp_server",
        "attest_cache",
        "attest_jwks",
        "attest_observe",
    ]
    .into_iter()
    .fold(Targets::new().with_default(Level::WARN), |targets, name| {
        targets.with_target(name, Level::INFO)
    });
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .with(targets)
        .try_init();
}

/// Now, by the system clock.
pub(crate) fn now() -> UnixTime {
    UnixTime::from(std::time::SystemTime::now())
}

/// Pretty JSON. Serializing a `serde_json::Value` cannot fail; the fallback is compact.
pub(crate) fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A duration in seconds for people: `45s`, `4m 12s`, `2h 5m`, `3d 4h`.
pub(crate) fn human_duration(secs: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    if secs >= DAY {
        format!("{}d {}h", secs / DAY, (secs % DAY) / HOUR)
    } else if secs >= HOUR {
        format!("{}h {}m", secs / HOUR, (secs % HOUR) / MINUTE)
    } else if secs >= MINUTE {
        format!("{}m {}s", secs / MINUTE, secs % MINUTE)
    } else {
        format!("{secs}s")
    }
}

/// An expiry relative to `now`: `expires in 4m 12s` or `expired 3m 5s ago`.
pub(crate) fn expiry_relative(exp: u64, now: UnixTime) -> String {
    let now = now.as_secs();
    if exp > now {
        format!("expires in {}", human_duration(exp.saturating_sub(now)))
    } else {
        format!("expired {} ago", human_duration(now.saturating_sub(exp)))
    }
}

/// A past or future instant relative to `now`: `in 4m 12s`, `3m 5s ago` or `now`.
pub(crate) fn relative(at: u64, now: UnixTime) -> String {
    let now = now.as_secs();
    match at.cmp(&now) {
        std::cmp::Ordering::Greater => format!("in {}", human_duration(at.saturating_sub(now))),
        std::cmp::Ordering::Less => format!("{} ago", human_duration(now.saturating_sub(at))),
        std::cmp::Ordering::Equal => "now".into(),
    }
}

#[cfg(test)]
mod tests;
