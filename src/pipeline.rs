//! Pipeline: where the reading runs in parallel. Inputs are read and decoded in parallel (rayon, one
//! reusable [`Decoder`] and read buffer per thread). Each thread extracts its files' records straight into
//! one [`Facts`]; a file that turns out unreadable is undone ([`Facts::end_file`]), so its facts join the totals only if
//! the whole file decoded. A bad file is a message and a count, never an abort. Nothing here depends on
//! which thread finishes first: totals are merged commutatively and everything downstream sorts.

use crate::decode::{DecodeError, Decoder, Scan};
use crate::extract::{EventRow, Facts, TimeWindow};
use crate::messages::{self, Progress};
use crate::record::Record;
use crate::source::{FileReport, Listing, Location, ObjectRef, Status};
use rayon::prelude::*;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most files a thread takes at once (see `run`).
const FILES_PER_BATCH: usize = 16;

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

/// About the memory a run takes to read `compressed` bytes of logs at once: the sessions and calls it holds
/// grow by about 115 MB per million records, about 135 MB compressed, over about 30 MB for the rest (75 MB
/// reading from S3), taken as 100 MB to err on the safe side (`BENCHMARKS.md`). An estimate for a warning,
/// not a promise: compression varies with file sizes.
fn memory_needed(compressed: u64) -> u64 {
    (100 << 20) + compressed / 8 * 7
}

/// What to tell the user before reading `compressed` bytes at once, when that needs more memory than the
/// `available` (`MemAvailable`, where the system says).
pub fn memory_warning(compressed: u64, available: Option<u64>) -> Option<String> {
    let (need, have) = (memory_needed(compressed), available?);
    (need > have).then(|| {
        format!(
            "the {} of compressed logs listed need about {} of memory to read at once, more than the {} \
             available: the run may be killed. Read less at a time (--since and --until, --account, --region), \
             or use `nightly`, which reads a backlog in passes",
            indicatif::HumanBytes(compressed),
            indicatif::HumanBytes(need),
            indicatif::HumanBytes(have)
        )
    })
}

/// `MemAvailable` from `/proc/meminfo`, in bytes; `None` where there is no such file.
pub fn memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb = info.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?.trim().trim_end_matches("kB").trim();
    kb.parse::<u64>().ok().map(|k| k * 1024)
}

/// Reads and decodes every listed input in parallel: local files straight from the workers, S3 objects as
/// the fetcher (`source::s3`) yields them, so fetching and decoding overlap.
pub fn run(
    listing: Listing,
    window: TimeWindow,
    threads: Option<usize>,
    retain: Option<&Retain>,
) -> anyhow::Result<Output> {
    let Listing { objects, set_aside, s3, fetched } = listing;
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        pool = pool.num_threads(n);
    }
    let pool = pool.build()?;
    let total_files = objects.len() as u64;
    let progress = Progress::new(total_files, objects.iter().map(|o| o.size).sum());
    let (done, records) = (AtomicU64::new(0), AtomicU64::new(0));
    let tick = |size: u64, recs: u64| {
        let files_done = done.fetch_add(1, Ordering::Relaxed) + 1;
        let total = records.fetch_add(recs, Ordering::Relaxed) + recs;
        progress.advance(size, files_done, total_files, total);
    };
    let (remote, local): (Vec<ObjectRef>, Vec<ObjectRef>) =
        objects.into_iter().partition(|o| matches!(o.location, Location::S3 { .. }));
    // Each pool thread reads its files straight into its own Output (a file that turns out unreadable is
    // undone), so a file costs no maps of its own, and there is one merge per thread at the end.
    // Files are split into small batches: rayon otherwise stops splitting a range nobody has stolen from
    // yet, and one thread was left reading the last ~2% of a large run alone while the other waited.
    let mut out = per_thread(&pool, local.par_iter().with_max_len(FILES_PER_BATCH), |w, out, obj| {
        let records = w.process_file(obj, window, retain, out);
        tick(obj.size, records);
    });
    if !fetched.is_empty() {
        let from_memory =
            per_thread(&pool, fetched.par_iter().with_max_len(FILES_PER_BATCH), |w, out, (obj, bytes)| {
                let records = w.process_bytes(obj, bytes, window, retain, out);
                tick(obj.size, records);
            });
        out = merge(out, from_memory);
    }
    if let Some(client) = s3 {
        let mut fetches = client.fetch(remote);
        let fetched = per_thread(&pool, (&mut fetches).par_bridge(), |w, out, fetched| {
            let obj = &fetched.object;
            let records = match &fetched.bytes {
                Ok(bytes) => w.process_bytes(obj, bytes, window, retain, out),
                Err(e) => {
                    out.files.push(failed(obj, e.clone(), crate::source::FETCH_FAILED));
                    0
                }
            };
            tick(obj.size, records);
        });
        fetches.complete().map_err(|e| anyhow::anyhow!("{e}: nothing was written; run again"))?;
        out = merge(out, fetched);
    }
    progress.finish();
    out.files.extend(set_aside);
    out.files.sort();
    out.retained.sort();
    out.retained.dedup_by(|a, b| a.hash == b.hash);
    for f in &out.files {
        if let Some(reason) = &f.reason {
            // Files set aside by name (digests and the like) are expected in a trail: count them quietly.
            if !(f.status == Status::Skipped && crate::source::not_event_log(&f.path).is_some()) {
                messages::warn(&format!("{}: {}", f.path, reason));
            }
        }
    }
    Ok(out)
}

/// Runs `work` on every item in `pool` with one [`Worker`] and one [`Output`] per pool thread, then merges
/// the outputs (lists appended, id lists and activity maps kept whole: see `Facts::more_activity`). rayon's `fold` made
/// an accumulator per split (ten for 26k files on two threads) and merged them pairwise, the last merges on
/// one core while the other had nothing left to do.
fn per_thread<T: Send>(
    pool: &rayon::ThreadPool,
    items: impl ParallelIterator<Item = T>,
    work: impl Fn(&mut Worker, &mut Output, T) + Sync,
) -> Output {
    let slots: Vec<std::sync::Mutex<(Worker, Output)>> =
        (0..pool.current_num_threads()).map(|_| Default::default()).collect();
    pool.install(|| {
        items.for_each(|item| {
            let thread = rayon::current_thread_index().expect("running in the pool");
            // Only this thread takes this slot, so the lock is always free, unless `work` ran rayon jobs
            // itself and this thread picked up another item while waiting: a bug, said loudly.
            let mut slot = slots[thread].try_lock().expect("reading a file must not run rayon jobs");
            let (worker, out) = &mut *slot;
            work(worker, out, item);
        })
    });
    slots.into_iter().map(|slot| slot.into_inner().expect("a worker panicked").1).reduce(merge).unwrap_or_default()
}

/// Adds `b` to `a`.
fn merge(mut a: Output, b: Output) -> Output {
    a.files.extend(b.files);
    a.facts.absorb(b.facts);
    a.retained.extend(b.retained);
    a
}

fn failed(obj: &ObjectRef, reason: String, label: &str) -> FileReport {
    FileReport::unread(obj.display().into_owned(), Status::Failed, reason, label)
}

/// One worker's reusable buffers.
#[derive(Default)]
struct Worker {
    decoder: Decoder,
    /// The bytes of the file being read, at the front; all of it initialised, and only ever grown (up to
    /// a limit), so that reading a file clears no memory.
    raw: Vec<u8>,
    opener: crate::source::open::Opener,
}

/// Reads what is left of `file` into the front of `buf`, sized for the `listed` bytes and one more to
/// see the end at once; returns how many bytes it holds. A file that grew since it was listed is read
/// whole all the same. `read_to_end` asks the file's size and position first, two system calls a file
/// that the listing already answered: on a trail of small files (an organisation's quiet regions) they
/// were a twentieth of the CPU.
fn read_whole(file: &mut impl Read, listed: u64, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let want = usize::try_from(listed).unwrap_or(usize::MAX).saturating_add(1).min(KEEP_READ_BUFFER);
    if buf.len() < want {
        buf.resize(want, 0);
    }
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len().saturating_mul(2).max(8 << 10), 0);
        }
        match file.read(&mut buf[filled..]) {
            Ok(0) => return Ok(filled),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The largest read buffer a worker keeps between files, and so the most [`read_whole`] sets aside from a
/// listed size (the listing's word): a file really larger grows the buffer as it is read, and the buffer is
/// then dropped.
const KEEP_READ_BUFFER: usize = 64 << 20;

impl Worker {
    /// Reads one local file into `out`; returns the records taken from it.
    fn process_file(&mut self, obj: &ObjectRef, window: TimeWindow, retain: Option<&Retain>, out: &mut Output) -> u64 {
        let Location::Disk(path) = &obj.location else {
            out.files.push(failed(obj, "not a local file".into(), crate::source::UNREADABLE));
            return 0;
        };
        let mut raw = std::mem::take(&mut self.raw);
        let read = self.opener.open(path).and_then(|mut f| read_whole(&mut f, obj.size, &mut raw));
        let records = match read {
            Ok(len) => self.process_bytes(obj, &raw[..len], window, retain, out),
            Err(e) => {
                out.files.push(failed(obj, format!("cannot read: {e}"), crate::source::UNREADABLE));
                0
            }
        };
        if raw.len() > KEEP_READ_BUFFER {
            raw = Vec::new();
        }
        self.raw = raw;
        records
    }

    /// Decodes one input into `out`: its facts, its report, and the events `retain` keeps. A file that
    /// is not read (skipped or failed) leaves nothing but its report. Returns the records taken from it.
    fn process_bytes(
        &mut self,
        obj: &ObjectRef,
        bytes: &[u8],
        window: TimeWindow,
        retain: Option<&Retain>,
        out: &mut Output,
    ) -> u64 {
        let mut report = FileReport {
            path: obj.display().into_owned(),
            status: Status::Read,
            records: 0,
            reason: None,
            label: None,
            shape: None,
            delivered: None,
        };
        let facts = &mut out.facts;
        let rows = &mut out.retained;
        let (checkpoint, rows_before) = (facts.begin_file(), rows.len());
        let result = self.decoder.decode(bytes, &mut |rec: &Record| {
            facts.add(rec, window);
            if let Some(keep) = retain {
                if keep(rec) {
                    rows.extend(EventRow::from_record(rec));
                }
            }
        });
        match result {
            Ok(scan) => {
                let (invalid, first_invalid) = facts.file_invalid(&checkpoint);
                classify(&mut report, &scan, invalid, first_invalid);
            }
            Err(e) => {
                let looks_like_log = is_log_name(&obj.display());
                report.status = match e {
                    DecodeError::Empty => Status::Skipped,
                    DecodeError::NotJson if !looks_like_log => Status::Skipped,
                    _ => Status::Failed,
                };
                report.reason = Some(e.to_string());
                report.label = Some(e.label().to_owned());
            }
        }
        let keep = report.status == Status::Read;
        facts.end_file(checkpoint, keep);
        if !keep {
            rows.truncate(rows_before);
        }
        let records = report.records;
        out.files.push(report);
        records
    }
}

/// Names that promise CloudTrail content, so junk inside them is a failure rather than a stray file.
fn is_log_name(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    [".json", ".json.gz", ".gz", ".jsonl", ".ndjson", ".cloudtrail", ".log"].iter().any(|ext| p.ends_with(ext))
}

/// Sets a decoded file's status: read, or skipped/failed when it held no usable events.
fn classify(report: &mut FileReport, scan: &Scan, invalid: u64, first_invalid: Option<&str>) {
    report.shape = Some(scan.shape.name());
    let kept = scan.events.saturating_sub(invalid);
    report.records = kept;
    let mut problems = Vec::new();
    if scan.bad_records > 0 {
        problems.push(format!(
            "{} unreadable record(s), first: {}",
            scan.bad_records,
            scan.first_bad.as_deref().unwrap_or("?")
        ));
    }
    if invalid > 0 {
        problems.push(format!("{invalid} record(s) skipped, first: {}", first_invalid.unwrap_or("?")));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_that_needs_more_memory_than_there_is_is_said_before_reading() {
        let gib = 1u64 << 30;
        assert_eq!(memory_warning(135 << 20, Some(gib)), None, "a million records fit in a gigabyte");
        let warning = memory_warning(40 * gib, Some(16 * gib)).unwrap();
        assert!(warning.contains("40.00 GiB of compressed logs") && warning.contains("16.00 GiB"), "{warning}");
        assert!(warning.contains("--since and --until") && warning.contains("nightly"), "{warning}");
        assert_eq!(memory_warning(40 * gib, None), None, "nothing said where the system does not say");
    }

    /// A file that hands out at most `step` bytes a read, counting the reads.
    struct Chunked<'a> {
        rest: &'a [u8],
        step: usize,
        reads: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            self.reads += 1;
            let n = out.len().min(self.step).min(self.rest.len());
            out[..n].copy_from_slice(&self.rest[..n]);
            self.rest = &self.rest[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_file_is_read_whole_in_one_read_and_one_more_for_its_end() {
        let bytes: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
        let mut buf = Vec::new();
        // As listed: the data, then the end. No question about the size first (`read_to_end` asks it).
        let mut file = Chunked { rest: &bytes, step: usize::MAX, reads: 0 };
        let len = read_whole(&mut file, bytes.len() as u64, &mut buf).unwrap();
        assert_eq!((&buf[..len], file.reads), (&bytes[..], 2));
        // Grown or shrunk since it was listed, or handed out a little at a time: still read whole, into the
        // same buffer, past what an earlier file left there.
        for (listed, step) in [(10, usize::MAX), (0, 7_000), (90_000, 4_096), (50_000, 1)] {
            let mut file = Chunked { rest: &bytes, step, reads: 0 };
            let len = read_whole(&mut file, listed, &mut buf).unwrap();
            assert_eq!(&buf[..len], &bytes[..], "listed {listed}, {step} bytes a read");
        }
        let mut empty = Chunked { rest: &[], step: 1, reads: 0 };
        assert_eq!(read_whole(&mut empty, 0, &mut buf).unwrap(), 0);
    }
}
