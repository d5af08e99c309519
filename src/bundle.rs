//! The auditor bundle (`trailscan scan --out DIR`, issue 5): files an auditor can open, keep and verify.
//!
//! ```text
//! DIR/sessions.csv  actions.csv  flags.csv  files.csv            the tables, UTF-8 RFC 4180 CSV
//! DIR/sessions.parquet  actions.parquet  flags.parquet  files.parquet   the same tables as Parquet
//! DIR/README.txt                                                  what each table and column means
//! DIR/summary.json                                                what was read, counts, SHA-256 of the rest
//! ```
//!
//! Every file but summary.json depends only on the input: the tables are sorted on stable keys, the
//! writers' settings are fixed, and nothing here reads the clock, so re-running on the same input gives the
//! same bytes and the same hashes whatever `--threads` is. summary.json adds the run's own time and command
//! line. Each file is rendered in memory, hashed, and written atomically; summary.json is removed first and
//! written last, so a bundle with a summary.json is a complete one.

use crate::correlate::LinkStats;
use crate::detect::{Finding, Severity};
use crate::source::{FileReport, Status};
use crate::tables::{column_doc, columns, TableParts, TABLE_NAMES};
use crate::timefmt::format_rfc3339;
use crate::write;
use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The file that holds the counts and hashes.
pub const SUMMARY: &str = "summary.json";
/// The file that explains the others.
pub const README: &str = "README.txt";

/// What a run read and found, for summary.json.
pub struct Run<'a> {
    pub command_line: &'a [String],
    /// The inputs as the user named them: paths, `s3://` locations, `lookup-events:REGION`.
    pub sources: &'a [String],
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub first_event_at: Option<i64>,
    pub last_event_at: Option<i64>,
    pub files: &'a [FileReport],
    pub stats: &'a LinkStats,
    pub invalid_records: u64,
    pub outside_window: u64,
    pub sessions: usize,
    pub failed_attempts: usize,
    pub findings: &'a [Finding],
}

/// summary.json, in the order its fields are written.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub tool: &'static str,
    pub version: &'static str,
    /// When this bundle was written: the only value that differs between two runs on the same input with
    /// the same command.
    pub generated_at: String,
    /// The command line, as typed.
    pub command: Vec<String>,
    pub inputs: Inputs,
    pub time_range: TimeRange,
    pub counts: Counts,
    /// Every input that could not be read, with why (files.csv has all inputs).
    pub failed_files: Vec<FailedFile>,
    /// File name → SHA-256 (lower-case hex) of every other file in the bundle.
    pub sha256: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct Inputs {
    /// The `--source` paths (or trailscan.toml's), as given.
    pub sources: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TimeRange {
    /// `--since`, resolved: events before it were not read.
    pub since: Option<String>,
    /// `--until`, resolved: events at or after it were not read.
    pub until: Option<String>,
    /// The earliest and latest eventTime among the events read.
    pub first_event_at: Option<String>,
    pub last_event_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Counts {
    pub files: FileCounts,
    pub records: RecordCounts,
    pub sessions: SessionCounts,
    pub findings: FindingCounts,
    /// Rows per table.
    pub rows: BTreeMap<&'static str, usize>,
}

#[derive(Debug, Serialize)]
pub struct FileCounts {
    pub total: usize,
    pub read: usize,
    /// Read, but some of their records could not be (files.csv says how many and why).
    pub read_with_problems: usize,
    pub skipped: usize,
    pub failed: usize,
    pub skipped_by_reason: BTreeMap<String, usize>,
    pub failed_by_reason: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct RecordCounts {
    /// Unique events read (by eventID), inside the time range.
    pub unique: u64,
    pub duplicates_dropped: u64,
    pub without_readable_event_time: u64,
    pub outside_time_range: u64,
    /// Assumption records and console switches among the unique events.
    pub assumptions: u64,
    /// Calls linked to a session.
    pub linked_to_sessions: u64,
    /// Calls that belong to no session (long-term keys, services acting as themselves, ...).
    pub in_no_session: u64,
}

#[derive(Debug, Serialize)]
pub struct SessionCounts {
    pub total: usize,
    pub failed_attempts: usize,
    pub inferred: u64,
    pub cross_account_copies_merged: u64,
    pub ambiguous_links: u64,
}

#[derive(Debug, Serialize)]
pub struct FindingCounts {
    pub total: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
}

#[derive(Debug, Serialize)]
pub struct FailedFile {
    pub path: String,
    pub reason: String,
}

fn by_label(files: &[FileReport], status: Status) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for f in files.iter().filter(|f| f.status == status) {
        *m.entry(f.label.clone().unwrap_or_else(|| "other".into())).or_default() += 1;
    }
    m
}

impl Summary {
    /// The summary of a run, without hashes (they are added as the files are written).
    pub fn new(run: &Run, generated_at: i64) -> Summary {
        let count = |s: Status| run.files.iter().filter(|f| f.status == s).count();
        let severity = |s: Severity| run.findings.iter().filter(|f| f.severity == s).count();
        let st = run.stats;
        let ts = |t: Option<i64>| t.map(format_rfc3339);
        Summary {
            tool: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            generated_at: format_rfc3339(generated_at),
            command: run.command_line.to_vec(),
            inputs: Inputs { sources: run.sources.to_vec() },
            time_range: TimeRange {
                since: ts(run.since),
                until: ts(run.until),
                first_event_at: ts(run.first_event_at),
                last_event_at: ts(run.last_event_at),
            },
            counts: Counts {
                files: FileCounts {
                    total: run.files.len(),
                    read: count(Status::Read),
                    read_with_problems: run
                        .files
                        .iter()
                        .filter(|f| f.status == Status::Read && f.reason.is_some())
                        .count(),
                    skipped: count(Status::Skipped),
                    failed: count(Status::Failed),
                    skipped_by_reason: by_label(run.files, Status::Skipped),
                    failed_by_reason: by_label(run.files, Status::Failed),
                },
                records: RecordCounts {
                    unique: st.records,
                    duplicates_dropped: st.duplicates,
                    without_readable_event_time: run.invalid_records,
                    outside_time_range: run.outside_window,
                    assumptions: st.assumption_records,
                    linked_to_sessions: st.linked_events,
                    in_no_session: st.unlinked_events,
                },
                sessions: SessionCounts {
                    total: run.sessions,
                    failed_attempts: run.failed_attempts,
                    inferred: st.inferred_sessions,
                    cross_account_copies_merged: st.merged_copies,
                    ambiguous_links: st.ambiguous_links,
                },
                findings: FindingCounts {
                    total: run.findings.len(),
                    high: severity(Severity::High),
                    medium: severity(Severity::Medium),
                    low: severity(Severity::Low),
                },
                rows: BTreeMap::new(),
            },
            failed_files: run
                .files
                .iter()
                .filter(|f| f.status == Status::Failed)
                .map(|f| FailedFile { path: f.path.clone(), reason: f.reason.clone().unwrap_or_default() })
                .collect(),
            sha256: BTreeMap::new(),
        }
    }
}

/// The names of the files a bundle holds, summary.json last.
pub fn file_names() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for ext in ["csv", "parquet"] {
        names.extend(TABLE_NAMES.iter().map(|n| format!("{n}.{ext}")));
    }
    names.push(README.into());
    names.push(SUMMARY.into());
    names
}

/// Writes the bundle into `dir` (created if needed). Each table is written as CSV and as Parquet a part at
/// a time ([`TableParts`]), never held whole: a night's actions table held whole was a nightly run's memory
/// peak. The files are [`file_names`].
pub fn write(dir: &Path, tables: &dyn TableParts, mut summary: Summary) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("--out {}: cannot create the folder", dir.display()))?;
    let summary_path = dir.join(SUMMARY);
    match std::fs::remove_file(&summary_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(anyhow::Error::new(e).context(format!("cannot replace {}", summary_path.display())))
        }
        _ => {}
    }
    // Each file is hashed as it is written: a night's actions table is a hundred MB of CSV, and holding it
    // whole to hash it was the peak of a nightly run's memory.
    let hashed = |name: &str, fill: &mut dyn FnMut(&mut dyn Write) -> Result<()>| -> Result<String> {
        let mut digest = Sha256::new();
        write::atomically(&dir.join(name), |w| {
            let mut hashing = Hashing { inner: w, digest: Sha256::new() };
            fill(&mut hashing)?;
            digest = hashing.digest;
            Ok(())
        })?;
        Ok(format!("{:x}", digest.finalize()))
    };
    for name in TABLE_NAMES {
        // The CSV and the Parquet file are written side by side, a part of the table at a time.
        let (csv, parquet) = (format!("{name}.csv"), format!("{name}.parquet"));
        let (mut rows, mut parquet_hash) = (0, String::new());
        let csv_hash = hashed(&csv, &mut |csv_out| {
            parquet_hash = hashed(&parquet, &mut |parquet_out| {
                let part = |range| tables.part(name, range);
                rows =
                    write::parquet_in_parts(tables.rows(name), write::PARQUET_PART, part, parquet_out, Some(csv_out))
                        .with_context(|| format!("cannot render {csv} and {parquet}"))?;
                Ok(())
            })?;
            Ok(())
        })?;
        summary.sha256.insert(csv, csv_hash);
        summary.sha256.insert(parquet, parquet_hash);
        summary.counts.rows.insert(name, rows);
        crate::messages::phase(name);
    }
    let readme = readme();
    let readme_hash = hashed(README, &mut |w| Ok(w.write_all(readme.as_bytes())?))?;
    summary.sha256.insert(README.into(), readme_hash);
    let mut json = serde_json::to_vec_pretty(&summary)?;
    json.push(b'\n');
    write::atomically(&summary_path, |w| Ok(w.write_all(&json)?))?;
    warn_about_strangers(dir);
    Ok(())
}

/// Passes bytes on to `inner`, hashing them on the way.
struct Hashing<'a> {
    inner: &'a mut dyn Write,
    digest: Sha256,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Says so when the folder holds files that are not part of the bundle: an auditor must not mistake them
/// for output of this run. They are left alone.
fn warn_about_strangers(dir: &Path) {
    let ours = file_names();
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut strangers: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !ours.contains(n))
        .collect();
    strangers.sort();
    if !strangers.is_empty() {
        crate::messages::warn(&format!(
            "{} also holds {} file(s) that are not part of the bundle (not in summary.json): {}",
            dir.display(),
            strangers.len(),
            strangers.join(", ")
        ));
    }
}

/// What each table holds, for README.txt, in [`TABLE_NAMES`] order.
const TABLE_DOCS: [(&str, &str); 4] = [
    (
        "sessions",
        "One row per role-assumption session: every assumption attempt (failed ones included), console role \
         switch, and session inferred from calls whose assumption is not in the input. Ordered by assumed_at, \
         then event_id.",
    ),
    (
        "actions",
        "One row per session and API call made with its credentials (eventSource, eventName). Ordered as \
         the sessions, then by event_source and event_name. The counts of a session add up to its \
         sessions.event_count.",
    ),
    ("flags", "One row per finding of the detections, ordered by detected_at, rule and session."),
    (
        "files",
        "One row per input file, ordered by path: whether it was read, skipped or failed, and why. Proof of \
         what the tables are made of.",
    ),
];

/// Wraps `text` at 100 columns: it starts at column `first`, and lines after the first are indented by
/// `indent` spaces.
fn wrap(text: &str, first: usize, indent: usize) -> String {
    let mut out = String::new();
    let (mut col, mut line_empty) = (first, true);
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if !line_empty && col + 1 + len > 100 {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            (col, line_empty) = (indent, true);
        }
        if !line_empty {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += len;
        line_empty = false;
    }
    out
}

/// README.txt: the layout of the bundle, how to verify it, and one line per column.
pub fn readme() -> String {
    let mut s = format!(
        "trailscan {version} audit bundle\n\
         \n\
         {intro}\n\
         \n\
         {verify}\n\
         \n\
         {format}\n",
        version = env!("CARGO_PKG_VERSION"),
        intro = wrap(
            "Written by `trailscan scan --out DIR`, which rebuilds AWS STS role-assumption sessions (who became \
             what) from CloudTrail logs. summary.json records the command, the inputs, the time range, the counts \
             (files read, skipped and failed with reasons; records; sessions; findings by severity) and the \
             SHA-256 of every other file here. Running the same command on the same input writes the same \
             bytes; only generated_at in summary.json changes.",
            0,
            0
        ),
        verify = "Verify the files against summary.json (needs jq):\n\n    \
                  jq -r '.sha256 | to_entries[] | \"\\(.value)  \\(.key)\"' summary.json | sha256sum -c -",
        format = wrap(
            "Each table is here twice with the same rows and columns: NAME.csv (UTF-8, RFC 4180, header row) and \
             NAME.parquet. Times are RFC 3339 UTC text (2026-11-20T10:00:00Z) in both; booleans are true/false; \
             an empty cell has no value. In CSV, a cell a spreadsheet would run as a formula (one starting with \
             =, +, -, @, tab or carriage return) is prefixed with a ' that is not part of the value. Tables join \
             on sessions.event_id = actions.session_event_id = flags.session_event_id.",
            0,
            0
        ),
    );
    for (name, doc) in TABLE_DOCS {
        s.push_str(&format!("\n{name}.csv, {name}.parquet\n{}\n\n", wrap(doc, 0, 0)));
        let columns = columns(name);
        let width = columns.iter().map(|c| c.len()).max().unwrap_or(0);
        for c in columns {
            let doc = column_doc(name, c).unwrap_or("(not documented)");
            s.push_str(&format!("  {c:<width$}  {}\n", wrap(doc, width + 4, width + 4)));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_lines_are_short_and_cover_every_column() {
        let t = crate::tables::empty().unwrap();
        let text = readme();
        for line in text.lines() {
            assert!(line.chars().count() <= 100 || line.contains("jq -r"), "too long: {line}");
        }
        for (name, df) in t.named() {
            for c in df.get_column_names() {
                assert!(text.contains(&format!("  {c} ")), "{name}.{c} missing from README.txt");
            }
        }
        assert!(!text.contains("(not documented)"));
    }

    #[test]
    fn wrapping() {
        assert_eq!(wrap("a b", 0, 0), "a b");
        let long = "word ".repeat(40);
        let w = wrap(&long, 10, 10);
        assert!(w.lines().skip(1).all(|l| l.starts_with("          word")), "{w}");
        assert!(w.lines().next().unwrap().len() <= 90 && w.lines().all(|l| l.len() <= 100), "{w}");
    }
}
