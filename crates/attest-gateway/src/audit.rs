//! The audit log: one JSON line per access decision, appended to a file.
//!
//! Each line is a JSON object with exactly these members, in this order:
//!
//! | member | value |
//! |---|---|
//! | `time` | the decision's time, RFC 3339 UTC to the second (`2026-09-21T14:13:20Z`) |
//! | `session` | the MCP session id, or `null` (stateless requests) |
//! | `issuer` | the verified `iss`, or `null` for an unattested request |
//! | `subject` | the verified `sub`, or `null` for an unattested request |
//! | `method` | the JSON-RPC method, e.g. `tools/call` |
//! | `name` | the tool or prompt name, or the resource URI; `""` if the method names none |
//! | `decision` | `"allow"` or `"deny"` |
//! | `reason` | a stable snake_case reason, e.g. `rule_allow`, `safety_level_too_low` |
//! | `rule` | the name of the rule that decided, or `null` for the default |
//!
//! A record takes no token, so none can be written. Strings are JSON-escaped (a name holding a
//! newline cannot forge a second line) and cut to [`MAX_FIELD_BYTES`] (at a character
//! boundary, followed by `…`), so a peer cannot make one line arbitrarily long. The time is a
//! parameter: formatting never reads the clock.
//!
//! Writing never fails a request and never panics: each line is one `write_all` under a mutex
//! to a file opened for appending, so concurrent sessions produce whole lines; an I/O error is
//! counted ([`AuditLog::failures`]) and logged with `tracing` (the 1st, 2nd, 4th, 8th, ...
//! failure, so a full disk does not flood the log).

use std::borrow::Cow;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use attest_core::{Claims, UnixTime};
use serde::Serialize;

use crate::error::GatewayError;
use crate::policy::Decision;

#[cfg(test)]
mod tests;

/// The longest string member of an audit line, in bytes, before it is cut.
pub const MAX_FIELD_BYTES: usize = 1024;

/// One decision, as the audit log records it. Borrowed: building one allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRecord<'a> {
    /// When the decision was taken, in seconds since the Unix epoch (written as RFC 3339 UTC).
    pub time: u64,
    /// The MCP session id, if the request belongs to a session.
    pub session: Option<&'a str>,
    /// The verified issuer, if the request was attested.
    pub issuer: Option<&'a str>,
    /// The verified subject, if the request was attested.
    pub subject: Option<&'a str>,
    /// The JSON-RPC method.
    pub method: &'a str,
    /// The tool or prompt name or resource URI; empty when the method names none.
    pub name: &'a str,
    /// True if the request was let through.
    pub allowed: bool,
    /// Why: a stable snake_case string, such as [`Decision::reason`].
    pub reason: &'a str,
    /// The rule that decided, if one did.
    pub rule: Option<&'a str>,
}

impl<'a> AuditRecord<'a> {
    /// The record of a policy [`Decision`] about `name`, for `agent` (`None`: unattested).
    pub fn from_decision(
        time: u64,
        session: Option<&'a str>,
        agent: Option<&'a Claims>,
        method: &'a str,
        name: &'a str,
        decision: &'a Decision,
    ) -> AuditRecord<'a> {
        AuditRecord {
            time,
            session,
            issuer: agent.map(|c| c.iss.as_str()),
            subject: agent.map(|c| c.sub.as_str()),
            method,
            name,
            allowed: decision.allowed,
            reason: &decision.reason,
            rule: decision.rule.as_deref(),
        }
    }

    /// The record as one line of JSON, newline included.
    pub fn to_json_line(&self) -> String {
        let line = Line {
            time: UnixTime::from_secs(self.time).to_rfc3339(),
            session: self.session.map(cap),
            issuer: self.issuer.map(cap),
            subject: self.subject.map(cap),
            method: cap(self.method),
            name: cap(self.name),
            decision: if self.allowed { "allow" } else { "deny" },
            reason: cap(self.reason),
            rule: self.rule.map(cap),
        };
        // Serializing strings cannot fail; should it ever, the line still says what it can.
        let mut text = serde_json::to_string(&line).unwrap_or_else(|_| {
            format!(
                r#"{{"time":"{}","decision":"{}","reason":"audit_format_error"}}"#,
                line.time, line.decision
            )
        });
        text.push('\n');
        text
    }
}

/// The serialized form: the member order is the documented one.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    session: Option<Cow<'a, str>>,
    issuer: Option<Cow<'a, str>>,
    subject: Option<Cow<'a, str>>,
    method: Cow<'a, str>,
    name: Cow<'a, str>,
    decision: &'static str,
    reason: Cow<'a, str>,
    rule: Option<Cow<'a, str>>,
}

/// `text`, cut to at most [`MAX_FIELD_BYTES`] at a character boundary and marked with `…`.
fn cap(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_FIELD_BYTES {
        return Cow::Borrowed(text);
    }
    let mut end = MAX_FIELD_BYTES;
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    let mut cut = text.get(..end).unwrap_or_default().to_owned();
    cut.push('…');
    Cow::Owned(cut)
}

/// Where audit records go: an append-only file, or nowhere.
///
/// Cloning is cheap and clones share the file, the lock and the counters.
#[derive(Clone)]
pub struct AuditLog {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    path: PathBuf,
    file: Mutex<File>,
    written: AtomicU64,
    failures: AtomicU64,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("AuditLog(disabled)"),
            Some(inner) => f
                .debug_struct("AuditLog")
                .field("path", &inner.path)
                .field("written", &inner.written.load(Ordering::Relaxed))
                .field("failures", &inner.failures.load(Ordering::Relaxed))
                .finish(),
        }
    }
}

impl AuditLog {
    /// Opens `path` for appending, creating it if needed (mode 0640 on Unix).
    pub fn open(path: &Path) -> Result<AuditLog, GatewayError> {
        let file = open_append(path)?;
        Ok(AuditLog {
            inner: Some(Arc::new(Inner {
                path: path.to_path_buf(),
                file: Mutex::new(file),
                written: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            })),
        })
    }

    /// A log that records nothing (no `--audit-log`).
    pub fn disabled() -> AuditLog {
        AuditLog { inner: None }
    }

    /// True if records go to a file.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Appends one line for `record`. Never fails and never panics: an I/O error is counted
    /// and logged, and the request goes on. The line is written by a single `write_all` under
    /// a lock, so concurrent callers never interleave.
    pub fn record(&self, record: &AuditRecord<'_>) {
        let Some(inner) = &self.inner else {
            return;
        };
        let line = record.to_json_line();
        let result = {
            // A panic while the lock was held cannot have left a half-written line in memory:
            // the file is all the state there is.
            let mut file = inner.file.lock().unwrap_or_else(PoisonError::into_inner);
            file.write_all(line.as_bytes())
        };
        match result {
            Ok(()) => {
                inner.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                let failures = inner
                    .failures
                    .fetch_add(1, Ordering::Relaxed)
                    .saturating_add(1);
                if failures.is_power_of_two() {
                    tracing::warn!(
                        path = %inner.path.display(),
                        %error,
                        failures,
                        "audit log write failed"
                    );
                }
            }
        }
    }

    /// Opens the file again by its path, for log rotation (after the old file was moved
    /// away). On error the current file stays in use.
    pub fn reopen(&self) -> Result<(), GatewayError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let file = open_append(&inner.path)?;
        *inner.file.lock().unwrap_or_else(PoisonError::into_inner) = file;
        Ok(())
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.written.load(Ordering::Relaxed))
    }

    /// Records lost to I/O errors so far.
    pub fn failures(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.failures.load(Ordering::Relaxed))
    }
}

fn open_append(path: &Path) -> Result<File, GatewayError> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
    options.open(path).map_err(|e| GatewayError::AuditOpen {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
