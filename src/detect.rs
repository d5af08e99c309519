//! Detect: anomaly findings over whole sessions and chains (issue 4). Rules see plain `Session`s — no I/O,
//! no threads, no Polars — so each is a table-driven unit test away from being checked.

use crate::correlate::Sessions;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One finding: a rule that fired on a session (or a principal), with the events that prove it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    /// Unix seconds: when the evidence happened (the first event that made the rule fire).
    pub detected_at: i64,
    /// Index of the session in `Sessions::sessions`, when the finding is about one session.
    pub session: Option<usize>,
    pub session_arn: Option<String>,
    pub access_key_id: Option<String>,
    /// The origin principal.
    pub principal: String,
    pub role_arn: Option<String>,
    /// One line a human understands.
    pub summary: String,
    pub event_ids: Vec<String>,
}

/// Runs every rule. Findings are sorted by time, then rule, then session.
pub fn detect(_sessions: &Sessions) -> Vec<Finding> {
    Vec::new()
}
