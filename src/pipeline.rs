//! Pipeline: the only module with threads. Inputs are read and decoded in parallel (rayon, one reusable
//! [`Decoder`] and read buffer per worker), each file's facts are extracted into its own [`Facts`], and a
//! file's facts join the run's totals only if the whole file decoded. A bad file is a message and a count,
//! never an abort. Nothing here depends on which thread finishes first: totals are merged commutatively and
//! everything downstream sorts.

use crate::decode::{DecodeError, Decoder, Scan};
use crate::extract::{EventRow, Facts, TimeWindow};
use crate::messages::{self, Progress};
use crate::record::Record;
use crate::source::{FileReport, ObjectRef, Status};
use rayon::prelude::*;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which events to keep whole, for a timeline.
pub type Retain = dyn Fn(&Record) -> bool + Sync;

/// What a run read.
#[derive(Debug, Default)]
pub struct Output {
    pub facts: Facts,
    /// One report per input, sorted by path.
    pub files: Vec<FileReport>,
    /// Events kept by the `retain` filter, sorted.
    pub retained: Vec<EventRow>,
}

/// Reads and decodes `objects` in parallel. `set_aside` are inputs the listing already skipped.
pub fn run(
    objects: &[ObjectRef],
    set_aside: Vec<FileReport>,
    window: TimeWindow,
    threads: Option<usize>,
    retain: Option<&Retain>,
) -> anyhow::Result<Output> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        pool = pool.num_threads(n);
    }
    let pool = pool.build()?;
    let total_bytes = objects.iter().map(|o| o.size).sum();
    let progress = Progress::new(objects.len() as u64, total_bytes);
    let (done, records) = (AtomicU64::new(0), AtomicU64::new(0));
    let mut out = pool.install(|| {
        objects
            .par_iter()
            .map_init(Worker::default, |w, obj| {
                let result = w.process(obj, window, retain);
                let files_done = done.fetch_add(1, Ordering::Relaxed) + 1;
                let recs = records.fetch_add(result.0.records, Ordering::Relaxed) + result.0.records;
                progress.advance(obj.size, files_done, objects.len() as u64, recs);
                result
            })
            .fold(Output::default, |mut acc, (report, facts, rows)| {
                acc.files.push(report);
                acc.facts.absorb(facts);
                acc.retained.extend(rows);
                acc
            })
            .reduce(Output::default, |mut a, b| {
                a.files.extend(b.files);
                a.facts.absorb(b.facts);
                a.retained.extend(b.retained);
                a
            })
    });
    progress.finish();
    out.files.extend(set_aside);
    out.files.sort();
    out.retained.sort();
    out.retained.dedup_by(|a, b| a.hash == b.hash);
    for f in &out.files {
        if f.status != Status::Read || f.reason.is_some() {
            if let Some(reason) = &f.reason {
                // Files set aside by name (digests and the like) are expected in a trail: count them quietly.
                if !(f.status == Status::Skipped && crate::source::not_event_log(&f.path).is_some()) {
                    messages::warn(&format!("{}: {}", f.path, reason));
                }
            }
        }
    }
    Ok(out)
}

/// One worker's reusable buffers.
#[derive(Default)]
struct Worker {
    decoder: Decoder,
    raw: Vec<u8>,
}

impl Worker {
    fn process(
        &mut self,
        obj: &ObjectRef,
        window: TimeWindow,
        retain: Option<&Retain>,
    ) -> (FileReport, Facts, Vec<EventRow>) {
        let mut report = FileReport {
            path: obj.display.clone(),
            status: Status::Read,
            records: 0,
            reason: None,
            label: None,
            shape: None,
        };
        self.raw.clear();
        let read = std::fs::File::open(&obj.path).and_then(|mut f| f.read_to_end(&mut self.raw));
        if let Err(e) = read {
            report.status = Status::Failed;
            report.reason = Some(format!("cannot read: {e}"));
            report.label = Some("unreadable".into());
            return (report, Facts::default(), Vec::new());
        }
        if self.raw.capacity() > 64 << 20 && self.raw.len() < 1 << 20 {
            self.raw.shrink_to_fit();
        }
        let mut facts = Facts::default();
        let mut rows = Vec::new();
        let result = self.decoder.decode(&self.raw, &mut |rec: &Record| {
            facts.add(rec, window);
            if let Some(keep) = retain {
                if keep(rec) {
                    rows.extend(EventRow::from_record(rec));
                }
            }
        });
        match result {
            Ok(scan) => {
                classify(&mut report, &scan, &facts);
                if report.status == Status::Read {
                    (report, facts, rows)
                } else {
                    (report, Facts::default(), Vec::new())
                }
            }
            Err(e) => {
                let looks_like_log = is_log_name(&obj.display);
                report.status = match e {
                    DecodeError::Empty => Status::Skipped,
                    DecodeError::NotJson if !looks_like_log => Status::Skipped,
                    _ => Status::Failed,
                };
                report.reason = Some(e.to_string());
                report.label = Some(e.label().to_owned());
                (report, Facts::default(), Vec::new())
            }
        }
    }
}

/// Names that promise CloudTrail content, so junk inside them is a failure rather than a stray file.
fn is_log_name(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    [".json", ".json.gz", ".gz", ".jsonl", ".ndjson", ".cloudtrail", ".log"].iter().any(|ext| p.ends_with(ext))
}

/// Sets a decoded file's status: read, or skipped/failed when it held no usable events.
fn classify(report: &mut FileReport, scan: &Scan, facts: &Facts) {
    report.shape = Some(scan.shape.name());
    let kept = scan.events.saturating_sub(facts.invalid_records);
    report.records = kept;
    let mut problems = Vec::new();
    if scan.bad_records > 0 {
        problems.push(format!(
            "{} unreadable record(s), first: {}",
            scan.bad_records,
            scan.first_bad.as_deref().unwrap_or("?")
        ));
    }
    if facts.invalid_records > 0 {
        problems.push(format!(
            "{} record(s) skipped, first: {}",
            facts.invalid_records,
            facts.first_invalid.as_deref().unwrap_or("?")
        ));
    }
    let problems = problems.join("; ");
    let (status, label, reason) = if kept > 0 {
        if problems.is_empty() {
            return;
        }
        (Status::Read, "some records unreadable", problems)
    } else if !problems.is_empty() {
        (Status::Failed, "no readable events", format!("no readable events: {problems}"))
    } else if scan.digest {
        (Status::Skipped, "CloudTrail digest", "CloudTrail digest file, not API events".to_owned())
    } else if scan.insight_records > 0 {
        (Status::Skipped, "CloudTrail Insights", "CloudTrail Insights events, not API calls".to_owned())
    } else {
        (Status::Skipped, "no events", "holds no CloudTrail events".to_owned())
    };
    report.status = status;
    report.label = Some(label.to_owned());
    report.reason = Some(reason);
}
