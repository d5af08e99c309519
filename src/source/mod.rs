//! Sources: where CloudTrail lives, listed as [`ObjectRef`]s for the pipeline to read. Files that are not
//! API-event logs by their name or place (`CloudTrail-Digest`, `-Insight`, `-NetworkActivity`,
//! `-Aggregated`) are set aside here, with a reason, before anything is read.

pub mod aws_error;
pub mod disk;
pub mod layout;
pub mod lookup;
pub mod open;
pub mod s3;

use std::borrow::Cow;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// A place to read CloudTrail from, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Disk(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl SourceSpec {
    /// `s3://bucket[/prefix]` or a local path.
    pub fn parse(s: &str) -> anyhow::Result<SourceSpec> {
        if s.starts_with("s3://") {
            let (bucket, prefix) = s3::parse_url(s).ok_or_else(|| {
                anyhow::anyhow!("{s:?} is not an S3 location: write s3://bucket or s3://bucket/prefix")
            })?;
            Ok(SourceSpec::S3 { bucket, prefix })
        } else if s.get(..3).is_some_and(|scheme| scheme.eq_ignore_ascii_case("s3:")) && !Path::new(s).exists() {
            // `s3:/bucket`, `S3://bucket`: a mistyped location, not a missing folder.
            anyhow::bail!("{s:?} is not an S3 location: write s3://bucket or s3://bucket/prefix")
        } else {
            Ok(SourceSpec::Disk(PathBuf::from(s)))
        }
    }
}

impl std::fmt::Display for SourceSpec {
    /// As the user would write it: a path, or `s3://bucket/prefix`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceSpec::Disk(p) => write!(f, "{}", p.display()),
            SourceSpec::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            SourceSpec::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Where an input's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    Disk(PathBuf),
    S3 {
        bucket: String,
        key: String,
    },
    /// The events of one LookupEvents query, already fetched.
    Lookup {
        region: String,
        query: String,
    },
}

/// One input file or object to read. Listed in the order of what the user sees ([`ObjectRef::display`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub location: Location,
    pub size: u64,
    /// When the file was delivered: its modification time on disk, `LastModified` in S3 (Unix seconds).
    /// The nightly job's cut-off (`--until`) is on this time.
    pub modified: Option<i64>,
}

impl ObjectRef {
    /// What the user sees in messages and in the files table: a path, `s3://bucket/key`, or
    /// `lookup-events:region:query`. Made from the location when asked, not stored beside it: a listing holds
    /// an entry per file, and a year of an organisation's trail is millions of files (the second copy of each
    /// name was a third of the listing's memory).
    pub fn display(&self) -> Cow<'_, str> {
        match &self.location {
            Location::Disk(path) => path.to_string_lossy(),
            Location::S3 { bucket, key } => format!("s3://{bucket}/{key}").into(),
            Location::Lookup { region, query } => format!("lookup-events:{region}:{query}").into(),
        }
    }

    /// [`ObjectRef::display`] in pieces, to compare without making the text.
    fn display_pieces(&self) -> [&[u8]; 4] {
        match &self.location {
            // A name that is not UTF-8 orders by its bytes, not by its display's replacement characters.
            Location::Disk(path) => [path.as_os_str().as_encoded_bytes(), b"", b"", b""],
            Location::S3 { bucket, key } => [b"s3://", bucket.as_bytes(), b"/", key.as_bytes()],
            Location::Lookup { region, query } => [b"lookup-events:", region.as_bytes(), b":", query.as_bytes()],
        }
    }
}

impl Ord for ObjectRef {
    /// By what the user sees, then the rest. Nearly always two files, or two objects of one bucket, whose
    /// names compare as they are; otherwise (a listing mixes sources) the shown texts are put together.
    fn cmp(&self, other: &Self) -> Ordering {
        let shown = match (&self.location, &other.location) {
            (Location::Disk(a), Location::Disk(b)) => {
                a.as_os_str().as_encoded_bytes().cmp(b.as_os_str().as_encoded_bytes())
            }
            (Location::S3 { bucket: a, key: ka }, Location::S3 { bucket: b, key: kb }) if a == b => ka.cmp(kb),
            _ => {
                let bytes = |o: &ObjectRef| o.display_pieces().into_iter().flatten().copied().collect::<Vec<u8>>();
                bytes(self).cmp(&bytes(other))
            }
        };
        shown.then_with(|| {
            (&self.location, self.size, self.modified).cmp(&(&other.location, other.size, other.modified))
        })
    }
}

impl PartialOrd for ObjectRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
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
    /// When a file set aside at listing was delivered (as [`ObjectRef::modified`]): nightly leaves one
    /// delivered after its cut-off to a later run, as it does the logs.
    pub delivered: Option<i64>,
}

/// [`FileReport::label`]s of inputs that failed before any of their bytes were decoded: the object could not
/// be fetched, the file or folder could not be opened. Trying again later may succeed.
pub const FETCH_FAILED: &str = "fetch failed";
pub const UNREADABLE: &str = "unreadable";
pub const UNREADABLE_FOLDER: &str = "unreadable folder";

impl FileReport {
    /// Whether the input failed before its content was read ([`FETCH_FAILED`], [`UNREADABLE`],
    /// [`UNREADABLE_FOLDER`]), rather than because of what it holds.
    pub fn unreached(&self) -> bool {
        self.status == Status::Failed
            && matches!(self.label.as_deref(), Some(FETCH_FAILED | UNREADABLE | UNREADABLE_FOLDER))
    }

    /// The report of a file that is not an API-event log by its name ([`NOT_EVENT_LOGS`]): set aside before
    /// anything is read. `None` for a file to read.
    pub fn set_aside_by_name(path: &str, delivered: Option<i64>) -> Option<Self> {
        let label = not_event_log(path)?;
        let report =
            FileReport::unread(path.to_owned(), Status::Skipped, format!("{label} file, not API events"), label);
        Some(FileReport { delivered, ..report })
    }

    /// The report of an input none of whose records were read: skipped or failed, with the reason and its
    /// [`label`](FileReport::label).
    pub fn unread(path: String, status: Status, reason: String, label: &str) -> FileReport {
        FileReport {
            path,
            status,
            records: 0,
            reason: Some(reason),
            label: Some(label.to_owned()),
            shape: None,
            delivered: None,
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

/// What a listing hands over, a folder or an S3 listing page at a time: the files found and the files set
/// aside (or the folders that could not be listed). Called from the walking threads, one at a time.
pub type Take<'a> = &'a mut (dyn FnMut(Vec<ObjectRef>, Vec<FileReport>) + Send);

/// Every input of a run: local files, S3 objects (with the client to fetch them), and what was set aside.
#[derive(Default)]
pub struct Listing {
    pub objects: Vec<ObjectRef>,
    pub set_aside: Vec<FileReport>,
    /// The client the S3 objects are fetched with (shared by a nightly run's passes).
    pub s3: Option<std::sync::Arc<s3::S3>>,
    /// Inputs whose bytes are already in memory (LookupEvents results).
    pub fetched: Vec<(ObjectRef, Vec<u8>)>,
}

impl Listing {
    /// Puts the inputs in the order the user sees them, each once (sources may overlap), and frees the room
    /// that appending left: a listing is held while it is read.
    pub fn settle(&mut self) {
        self.objects.sort();
        self.objects.dedup_by(|a, b| a.location == b.location);
        self.objects.shrink_to_fit();
        self.set_aside.sort();
        self.set_aside.dedup();
    }

    /// Leaves out the local files below `dir`: the folder a command writes into, when it lies inside a
    /// source (`scan --out` into the trail folder), is not read back as input on the next run.
    pub fn leave_out(&mut self, dir: &std::path::Path) {
        let Ok(dir) = std::path::absolute(dir) else { return };
        let under = |p: &std::path::Path| std::path::absolute(p).is_ok_and(|p| p.starts_with(&dir));
        self.objects.retain(|o| !matches!(&o.location, Location::Disk(p) if under(p)));
        self.set_aside.retain(|f| !under(std::path::Path::new(&f.path)));
    }
}

/// Lists every input under the sources, sorted, pruned to the scope where a path follows the trail layout.
pub fn list(sources: &[SourceSpec], scope: &layout::Scope, aws: &s3::S3Options) -> anyhow::Result<Listing> {
    let mut listing = Listing::default();
    let mut client = None;
    list_each_naming_empty(sources, scope, aws, &mut client, &mut |found, aside| {
        listing.objects.extend(found);
        listing.set_aside.extend(aside);
    })?;
    listing.settle();
    listing.s3 = client.map(std::sync::Arc::new);
    Ok(listing)
}

/// [`list_each`], warning of each source that holds no input at all: a mistyped path or prefix, or a scope
/// that leaves nothing of it. An empty report must not pass for a quiet trail.
pub fn list_each_naming_empty(
    sources: &[SourceSpec],
    scope: &layout::Scope,
    aws: &s3::S3Options,
    client: &mut Option<s3::S3>,
    take: Take,
) -> anyhow::Result<()> {
    for source in sources {
        let mut listed = 0;
        list_each(std::slice::from_ref(source), scope, aws, client, &mut |found, aside| {
            listed += found.len() + aside.len();
            take(found, aside);
        })?;
        if listed == 0 {
            warn_nothing_found(source, scope);
        }
    }
    Ok(())
}

fn warn_nothing_found(source: &SourceSpec, scope: &layout::Scope) {
    let narrowed = !scope.accounts.is_empty()
        || !scope.regions.is_empty()
        || scope.window.since.is_some()
        || scope.window.until.is_some();
    crate::messages::warn(&format!(
        "{source}: no log files found{}",
        if narrowed { " for the --account, --region, --since and --until given" } else { "" }
    ));
}

/// Lists the inputs under the sources as [`list`] does, but hands them to `take` a folder (or an S3 listing
/// page) at a time, unsorted, and holds none of them: for a caller that keeps less than every name (a
/// nightly backlog of millions of files is planned from its days' sizes). An S3 source connects `client`,
/// unless it already is.
pub fn list_each(
    sources: &[SourceSpec],
    scope: &layout::Scope,
    aws: &s3::S3Options,
    client: &mut Option<s3::S3>,
    take: Take,
) -> anyhow::Result<()> {
    for s in sources {
        match s {
            SourceSpec::Disk(path) => disk::list(path, scope, take)?,
            SourceSpec::S3 { bucket, prefix } => {
                if client.is_none() {
                    *client = Some(s3::S3::connect(aws)?);
                }
                let c = client.as_mut().expect("just connected");
                c.list(bucket, prefix, scope, &mut |page| {
                    let (mut objects, mut set_aside) = (Vec::with_capacity(page.len()), Vec::new());
                    for obj in page {
                        match FileReport::set_aside_by_name(&obj.display(), obj.modified) {
                            Some(report) => set_aside.push(report),
                            None => objects.push(obj),
                        }
                    }
                    take(objects, set_aside)
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_s3_location_is_named_as_one() {
        assert_eq!(
            SourceSpec::parse("s3://trail/AWSLogs").unwrap(),
            SourceSpec::S3 { bucket: "trail".into(), prefix: "AWSLogs".into() }
        );
        for typo in ["s3:/trail", "S3://trail", "s3:trail"] {
            let e = SourceSpec::parse(typo).unwrap_err().to_string();
            assert!(e.contains("is not an S3 location: write s3://bucket"), "{typo}: {e}");
        }
        assert_eq!(SourceSpec::parse("s3-logs").unwrap(), SourceSpec::Disk("s3-logs".into()));
    }

    #[test]
    fn a_listing_sorts_as_its_names_are_shown() {
        let disk = |p: &str| ObjectRef { location: Location::Disk(p.into()), size: 1, modified: None };
        let s3 = |b: &str, k: &str| ObjectRef {
            location: Location::S3 { bucket: b.into(), key: k.into() },
            size: 1,
            modified: None,
        };
        let lookup = |r: &str, q: &str| ObjectRef {
            location: Location::Lookup { region: r.into(), query: q.into() },
            size: 1,
            modified: None,
        };
        // Paths compared as text, not component by component ("a-b" before "a/b"); buckets and keys as
        // the `s3://bucket/key` they show ("a-b/c" before "a/z").
        let mut objects = [
            disk("logs/a/b.json"),
            disk("logs/a-b.json"),
            s3("a", "z.json.gz"),
            s3("a-b", "c.json.gz"),
            s3("a", "y.json.gz"),
            lookup("us-east-1", "EventName=AssumeRole"),
            disk("/abs/x.json"),
            disk("z/late.json"),
        ];
        let mut by_text: Vec<String> = objects.iter().map(|o| o.display().into_owned()).collect();
        by_text.sort();
        objects.sort();
        let sorted: Vec<String> = objects.iter().map(|o| o.display().into_owned()).collect();
        assert_eq!(sorted, by_text);
        assert_eq!(sorted[0], "/abs/x.json");
        assert_eq!(sorted[1..3], ["logs/a-b.json", "logs/a/b.json"]);
        assert_eq!(objects[4].display(), "s3://a-b/c.json.gz");
    }
}
