//! The history dataset in OUT: Hive-partitioned Parquet that Athena, Trino, Spark, DuckDB and Polars read
//! as it is, and that `--history OUT` answers from.
//!
//! ```text
//! OUT/history/sessions/dt=YYYY-MM-DD/part-000007.parquet   sessions final in run 7, by day of assumed_at
//! OUT/history/sessions/dt=YYYY-MM-DD/open-000007.parquet   sessions still open after run 7 (run 8 replaces them)
//! OUT/history/actions/dt=…/{part,open}-NNNNNN.parquet      the same sessions' actions rows
//! OUT/history/flags/dt=YYYY-MM-DD/part-NNNNNN.parquet      findings first reported by run N, by day of detected_at
//! OUT/bundles/run-NNNNNN-<cut-off>/                         run N's auditor bundle (see `bundle`)
//! OUT/findings/run-NNNNNN-<cut-off>.ndjson                  run N's new findings, one JSON object a line
//! ```
//!
//! A session is in exactly one file at a time: an `open-N` part until the run that finds it final writes it
//! to `part-N` and drops the open parts. Files of a run that did not commit (N above the runs STATE
//! records) and open parts that STATE does not name are removed at the start of the next run, before it
//! writes, so a crash never leaves a session twice once the next run has started. Every file is written
//! through a temporary name (a dot file, which Hive-style readers skip) and renamed.

use crate::tables::{self, Tables};
use crate::write;
use anyhow::{Context, Result};
use polars::prelude::*;
use std::path::{Path, PathBuf};

/// The tables of the history, in the order they are written.
pub const TABLES: [&str; 3] = ["sessions", "actions", "flags"];

/// Final or open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Final,
    Open,
}

impl Part {
    fn prefix(self) -> &'static str {
        match self {
            Part::Final => "part",
            Part::Open => "open",
        }
    }
}

/// `dt=YYYY-MM-DD` of a time.
pub fn partition(t: i64) -> String {
    let (y, m, d) = crate::timefmt::utc_date(t);
    format!("dt={y:04}-{m:02}-{d:02}")
}

/// The run number in a file name such as `part-000007.parquet`, `open-000007.parquet`, `run-000007-…`.
fn run_of(name: &str) -> Option<(&str, u64)> {
    let (kind, rest) = name.split_once('-')?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((kind, digits.parse().ok()?))
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Every history file, relative to OUT, sorted.
pub fn files(out: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for table in TABLES {
        for part in entries(&out.join("history").join(table)) {
            for f in entries(&part) {
                let rel = f.strip_prefix(out).unwrap_or(&f).to_string_lossy().replace('\\', "/");
                files.push((rel, f));
            }
        }
    }
    files
}

fn remove(path: &Path) -> Result<()> {
    let r = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(anyhow::Error::new(e).context(format!("cannot remove {}", path.display())))
        }
        _ => Ok(()),
    }
}

/// Whether `rel` (a file of OUT, or a bundle folder, relative to OUT with `/` separators) is something no
/// commit covers: written by a run after `committed`, an open part other than `open_parts`, or a temporary
/// file left by a killed writer. The same test serves a local OUT and the keys of one on S3.
pub fn is_stale(rel: &str, committed: u64, open_parts: &[String]) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        ["history", table, _, name] if TABLES.contains(table) => {
            name.starts_with('.')
                || match run_of(name) {
                    Some((_, n)) if n > committed => true,
                    Some(("open", _)) => !open_parts.iter().any(|p| p == rel),
                    _ => false,
                }
        }
        ["bundles" | "findings", name, ..] => name.starts_with('.') || run_of(name).is_some_and(|(_, n)| n > committed),
        _ => false,
    }
}

/// Removes what runs after `committed` wrote (a crashed run's), open parts other than `open_parts`, and
/// temporary files left by a killed writer ([`is_stale`]). Returns how many were removed.
pub fn clean(out: &Path, committed: u64, open_parts: &[String]) -> Result<usize> {
    let mut candidates = files(out);
    for dir in ["bundles", "findings"] {
        for path in entries(&out.join(dir)) {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            candidates.push((format!("{dir}/{name}"), path));
        }
    }
    let mut removed = 0;
    for (rel, path) in candidates {
        if is_stale(&rel, committed, open_parts) {
            remove(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes open parts once the state that replaces them is committed.
pub fn drop_parts(out: &Path, parts: &[String]) {
    for rel in parts {
        std::fs::remove_file(out.join(rel)).ok();
    }
}

/// Writes one part of `table` for partition `dt`, the table of `rows` source rows that `build` makes a range
/// at a time (see [`write::parquet_in_parts`]); returns its path relative to OUT.
pub fn write_part(
    out: &Path,
    (table, dt): (&str, &str),
    (part, run): (Part, u64),
    rows: usize,
    build: impl Fn(std::ops::Range<usize>) -> PolarsResult<DataFrame>,
) -> Result<String> {
    let rel = format!("history/{table}/{dt}/{}-{run:06}.parquet", part.prefix());
    let path = out.join(&rel);
    let dir = path.parent().expect("has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write::atomically(&path, |w| write::parquet_in_parts(rows, write::PARQUET_PART, &build, w, None).map(drop))?;
    Ok(rel)
}

/// Reads the history in `out` as tables (`files` is empty: the history does not keep the inputs' fates;
/// each run's bundle does).
pub fn read(out: &Path) -> Result<Tables> {
    let root = out.join("history");
    if !root.is_dir() {
        anyhow::bail!(
            "--history {}: no history there (expected {}): give the --out folder of `trailscan nightly`",
            out.display(),
            root.display()
        );
    }
    let mut t = tables::empty()?;
    let mut frames: [Vec<DataFrame>; 3] = Default::default();
    for (rel, path) in files(out) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with('.') || !name.ends_with(".parquet") {
            continue;
        }
        let Some(i) = TABLES.iter().position(|t| rel.starts_with(&format!("history/{t}/"))) else { continue };
        let file = std::fs::File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let df = anyhow::Context::with_context(ParquetReader::new(file).finish(), || {
            format!("{} is not readable Parquet", path.display())
        })?;
        frames[i].push(df);
    }
    let [sessions, actions, flags] = frames;
    let stack = |empty: &DataFrame, parts: Vec<DataFrame>, keys: &[&str]| -> Result<DataFrame> {
        let mut df = empty.clone();
        for p in parts {
            anyhow::Context::context(df.vstack_mut(&p), "the history's files do not share one schema")?;
        }
        Ok(df.sort(keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(), SortMultipleOptions::default())?)
    };
    t.sessions = stack(&t.sessions, sessions, &["assumed_at", "event_id"])?;
    t.actions = stack(&t.actions, actions, &["session_event_id", "event_source", "event_name"])?;
    t.flags = stack(&t.flags, flags, &["detected_at", "rule", "session_event_id"])?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_numbers_in_names() {
        let cases = [
            ("part-000007.parquet", Some(("part", 7))),
            ("open-000012.parquet", Some(("open", 12))),
            ("run-000003-2026-11-21T000000Z", Some(("run", 3))),
            ("run-000003-2026-11-21T000000Z.ndjson", Some(("run", 3))),
            ("README.txt", None),
            ("part-.parquet", None),
        ];
        for (name, want) in cases {
            assert_eq!(run_of(name), want, "{name}");
        }
    }

    #[test]
    fn partitions_are_utc_days() {
        assert_eq!(partition(0), "dt=1970-01-01");
        assert_eq!(partition(1_795_305_599), "dt=2026-11-21");
        assert_eq!(partition(1_795_305_600), "dt=2026-11-22");
    }

    #[test]
    fn stale_keys_of_an_out_on_s3() {
        let open = vec!["history/actions/dt=2026-11-21/open-000002.parquet".to_owned()];
        let cases = [
            ("history/actions/dt=2026-11-21/open-000002.parquet", false),
            ("history/actions/dt=2026-11-21/open-000001.parquet", true),
            ("history/actions/dt=2026-11-21/part-000002.parquet", false),
            ("history/actions/dt=2026-11-21/part-000003.parquet", true),
            ("bundles/run-000003-2026-11-23T000000Z/summary.json", true),
            ("bundles/run-000002-2026-11-22T000000Z/tables/sessions.csv", false),
            ("findings/run-000003-x.ndjson", true),
            ("history/other/dt=2026-11-21/part-000009.parquet", false),
            ("notes/run-000009.txt", false),
        ];
        for (rel, want) in cases {
            assert_eq!(is_stale(rel, 2, &open), want, "{rel}");
        }
    }

    #[test]
    fn clean_removes_what_no_commit_covers() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let files = [
            "history/sessions/dt=2026-11-20/part-000001.parquet",
            "history/sessions/dt=2026-11-20/open-000001.parquet",
            "history/sessions/dt=2026-11-21/open-000002.parquet",
            "history/sessions/dt=2026-11-21/part-000003.parquet",
            "history/flags/dt=2026-11-21/.part-000002.parquet.77.tmp",
            "findings/run-000003-x.ndjson",
            "findings/run-000002-x.ndjson",
            "bundles/run-000003-x/summary.json",
        ];
        for f in files {
            std::fs::create_dir_all(out.join(f).parent().unwrap()).unwrap();
            std::fs::write(out.join(f), b"x").unwrap();
        }
        let open = vec!["history/sessions/dt=2026-11-21/open-000002.parquet".to_owned()];
        assert_eq!(clean(out, 2, &open).unwrap(), 5);
        let left: Vec<&str> = files.iter().copied().filter(|f| out.join(f).exists()).collect();
        assert_eq!(
            left,
            [
                "history/sessions/dt=2026-11-20/part-000001.parquet",
                "history/sessions/dt=2026-11-21/open-000002.parquet",
                "findings/run-000002-x.ndjson"
            ]
        );
    }
}
