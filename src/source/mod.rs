//! Sources: where CloudTrail lives, listed as [`ObjectRef`]s for the pipeline to read. Files that are not
//! API-event logs by their name or place (`CloudTrail-Digest`, `-Insight`, `-NetworkActivity`,
//! `-Aggregated`) are set aside here, with a reason, before anything is read.

pub mod disk;

use std::path::PathBuf;

/// One input file (or, later, object) to read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    /// What the user sees in messages and in the files table.
    pub display: String,
    pub path: PathBuf,
    pub size: u64,
}

/// What became of one input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Read,
    Skipped,
    Failed,
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Read => "read",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// The fate of one input file: every file the user pointed at gets one, so a report can prove what it read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileReport {
    pub path: String,
    pub status: Status,
    /// Events taken from the file.
    pub records: u64,
    /// Why it was skipped or failed, or what was wrong with some of its records.
    pub reason: Option<String>,
    /// A short, stable label of the reason for summaries (`CloudTrail digest`, `truncated gzip`, …).
    pub label: Option<String>,
    pub shape: Option<&'static str>,
}

impl FileReport {
    pub fn skipped(path: String, label: &str, reason: String) -> Self {
        FileReport {
            path,
            status: Status::Skipped,
            records: 0,
            reason: Some(reason),
            label: Some(label.to_owned()),
            shape: None,
        }
    }
}

/// The CloudTrail products that share the trail layout but hold no API-call events, by the marker in
/// their folder and file names.
pub const NOT_EVENT_LOGS: [(&str, &str); 4] = [
    ("CloudTrail-Digest", "CloudTrail digest"),
    ("CloudTrail-Insight", "CloudTrail Insights"),
    ("CloudTrail-NetworkActivity", "CloudTrail network activity"),
    ("CloudTrail-Aggregated", "CloudTrail aggregated events"),
];

/// The label of a path that is a non-event CloudTrail product by name.
pub fn not_event_log(path: &str) -> Option<&'static str> {
    NOT_EVENT_LOGS.iter().find(|(marker, _)| path.contains(marker)).map(|(_, label)| *label)
}

/// Lists every input under the sources, sorted, with the files set aside by name.
pub fn list(sources: &[PathBuf]) -> anyhow::Result<(Vec<ObjectRef>, Vec<FileReport>)> {
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    for s in sources {
        disk::list(s, &mut objects, &mut skipped)?;
    }
    objects.sort();
    objects.dedup_by(|a, b| a.path == b.path);
    skipped.sort();
    skipped.dedup();
    Ok((objects, skipped))
}
