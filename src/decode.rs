//! Decode: the bytes of one input file or object → CloudTrail events, handed one at a time to a sink.
//!
//! Shapes are recognised by content, compressed or not: CloudTrail deliveries `{"Records":[…]}`, NDJSON,
//! JSON arrays, single events, `aws cloudtrail lookup-events` output (`{"Events":[{"CloudTrailEvent":"…"}]}`,
//! where each event is a JSON string to parse again), EventBridge envelopes (`{"detail-type":…,"detail":{…}}`),
//! CloudWatch Logs exports (a line per event after its timestamp, `2026-11-20T10:00:00.000Z {…}`: what an
//! export task of a trail's log group writes to S3) and test-suite wrappers that hold events a few levels
//! down (Panther's `tests[].Log`, Sekoia's `input.message`). The `Records` path, which is nearly all real
//! volume, deserialises each element straight into a borrowed [`Record`] with no intermediate tree; the
//! other shapes walk the document generically.
//!
//! A file either decodes or it does not: a syntax error, a truncated stream or absurd nesting fails the
//! whole file (the caller discards what it saw of it), except in NDJSON, where each line stands alone and a
//! bad line costs only itself.

use crate::delivery;
use crate::inflate::{InflateError, Inflater, MAX_DECOMPRESSED};
use crate::record::{ignore_scalars, Key, Place, Record};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// How deep inside wrappers (arrays of objects, test-suite envelopes, JSON strings) events are looked for.
const MAX_WRAPPER_DEPTH: u8 = 8;

/// Fields of a CloudTrail event that never hold events themselves, so the wrapper search skips them.
const NEVER_EVENTS: [&str; 8] = [
    "insightDetails",
    "serviceEventDetails",
    "tlsDetails",
    "addendum",
    "edgeDeviceDetails",
    "eventVersion",
    "readOnly",
    "eventCategory",
];

/// The container shape a file turned out to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    #[default]
    Unknown,
    Records,
    Ndjson,
    Array,
    Event,
    LookupEvents,
    EventBridge,
    Wrapper,
    Concatenated,
    LogExport,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Unknown => "unknown",
            Shape::Records => "cloudtrail-records",
            Shape::Ndjson => "ndjson",
            Shape::Array => "json-array",
            Shape::Event => "single-event",
            Shape::LookupEvents => "lookup-events",
            Shape::EventBridge => "eventbridge",
            Shape::Wrapper => "wrapper",
            Shape::Concatenated => "concatenated-json",
            Shape::LogExport => "cloudwatch-logs-export",
        }
    }
}

/// What one file held, beyond the events given to the sink.
#[derive(Debug, Default, Clone)]
pub struct Scan {
    pub shape: Shape,
    pub compressed: bool,
    /// Events given to the sink.
    pub events: u64,
    /// CloudTrail Insights records, which describe API-call rates, not calls: not given to the sink.
    pub insight_records: u64,
    /// Lines or embedded events that could not be read (NDJSON lines, lookup-events strings), with the first problem.
    pub bad_records: u64,
    pub first_bad: Option<String>,
    /// The body is a CloudTrail digest (`digestStartTime`, `logFiles`), not events.
    pub digest: bool,
}

/// Why a file could not be decoded at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Empty,
    NotJson,
    /// Compressed or encoded in a format trailscan does not read ([`other_format`]), named.
    OtherFormat(&'static str),
    TruncatedGzip,
    CorruptGzip(String),
    TooLarge,
    TruncatedJson(String),
    TooDeep,
    /// Not valid UTF-8, at this byte offset.
    InvalidUtf8(usize),
    InvalidJson(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty file"),
            DecodeError::NotJson => f.write_str("not JSON or gzip"),
            DecodeError::OtherFormat(format) => write!(f, "{format}"),
            DecodeError::TruncatedGzip => {
                f.write_str("truncated gzip: the file ends before the compressed stream does")
            }
            DecodeError::CorruptGzip(e) => write!(f, "corrupt gzip: {e}"),
            DecodeError::TooLarge => {
                write!(
                    f,
                    "decompresses to more than {} MiB; split it or check it is a CloudTrail file",
                    MAX_DECOMPRESSED >> 20
                )
            }
            DecodeError::TruncatedJson(e) => write!(f, "truncated JSON: {e}"),
            DecodeError::TooDeep => f.write_str("JSON nested too deeply (more than 128 levels)"),
            DecodeError::InvalidUtf8(at) => write!(f, "not valid UTF-8 (first bad byte at offset {at})"),
            DecodeError::InvalidJson(e) => write!(f, "invalid JSON: {e}"),
        }
    }
}

impl From<InflateError> for DecodeError {
    fn from(e: InflateError) -> Self {
        match e {
            InflateError::Truncated => DecodeError::TruncatedGzip,
            InflateError::Corrupt(why) => DecodeError::CorruptGzip(why),
            InflateError::TooLarge => DecodeError::TooLarge,
        }
    }
}

impl DecodeError {
    /// A short, stable label for summaries (`truncated gzip`, `invalid JSON`, …).
    pub fn label(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty file",
            DecodeError::NotJson => "not JSON or gzip",
            DecodeError::OtherFormat(_) => "other format",
            DecodeError::TruncatedGzip => "truncated gzip",
            DecodeError::CorruptGzip(_) => "corrupt gzip",
            DecodeError::TooLarge => "too large",
            DecodeError::TruncatedJson(_) => "truncated JSON",
            DecodeError::TooDeep => "nested too deeply",
            DecodeError::InvalidUtf8(_) => "invalid UTF-8",
            DecodeError::InvalidJson(_) => "invalid JSON",
        }
    }

    fn from_json(e: serde_json::Error) -> Self {
        let text = e.to_string();
        if text.contains("recursion limit") {
            DecodeError::TooDeep
        } else if e.is_eof() {
            DecodeError::TruncatedJson(text)
        } else {
            DecodeError::InvalidJson(text)
        }
    }
}

/// A reusable decoder: one per worker thread, so the decompression buffers are allocated once and reused.
#[derive(Default)]
pub struct Decoder {
    inflater: Inflater,
}

impl Decoder {
    /// Decodes one file's bytes, giving each event to `sink`. On `Err` the caller must discard whatever the
    /// sink received for this file.
    pub fn decode(&mut self, raw: &[u8], sink: &mut dyn FnMut(&Record)) -> Result<Scan, DecodeError> {
        let mut scan = Scan::default();
        if raw.starts_with(&[0x1f, 0x8b]) {
            scan.compressed = true;
            let text = self.inflater.inflate(raw)?;
            decode_json(text, &mut scan, sink)?;
        } else {
            decode_json(raw, &mut scan, sink)?;
        }
        Ok(scan)
    }
}

/// What a file that is neither JSON nor gzip is, when its first bytes say, with what to do about it:
/// archives recompressed for storage, and the Parquet of Security Lake and Athena exports.
fn other_format(raw: &[u8]) -> Option<&'static str> {
    const FORMATS: [(&[u8], &str); 6] = [
        (b"BZh", "bzip2-compressed: trailscan reads gzip or plain JSON; decompress it first (bunzip2)"),
        (b"\xfd7zXZ\0", "xz-compressed: trailscan reads gzip or plain JSON; decompress it first (unxz)"),
        (b"\x28\xb5\x2f\xfd", "zstd-compressed: trailscan reads gzip or plain JSON; decompress it first (unzstd)"),
        (b"PK\x03\x04", "a zip archive: trailscan reads gzip or plain JSON; extract it first (unzip)"),
        (b"\x04\x22\x4d\x18", "lz4-compressed: trailscan reads gzip or plain JSON; decompress it first (unlz4)"),
        (b"PAR1", "Parquet (a Security Lake or Athena export?): trailscan reads CloudTrail JSON, not Parquet"),
    ];
    FORMATS.iter().find(|(magic, _)| raw.starts_with(magic)).map(|(_, what)| *what)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let b = b.strip_prefix(b"\xef\xbb\xbf").unwrap_or(b);
    let i = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    &b[i..]
}

/// Decodes uncompressed JSON text of any supported shape.
pub fn decode_json(text: &[u8], scan: &mut Scan, sink: &mut dyn FnMut(&Record)) -> Result<(), DecodeError> {
    let body = trim_start(text);
    match body.first() {
        None => return Err(DecodeError::Empty),
        Some(b'{') | Some(b'[') => {}
        Some(_) if after_timestamp(first_line(body)).is_some() => {
            scan.shape = Shape::LogExport;
            return decode_lines(body, scan, sink);
        }
        Some(_) => return Err(other_format(text).map_or(DecodeError::NotJson, DecodeError::OtherFormat)),
    }
    if is_ndjson(body) {
        scan.shape = Shape::Ndjson;
        return decode_lines(body, scan, sink);
    }
    // Validate UTF-8 once, with SIMD, and parse from `&str`: serde_json then skips its per-string check.
    let text = utf8(body)?;
    let mut events = Events { scan: &mut *scan, sink: &mut *sink };
    match delivery::read(text, &mut |rec| events.record(rec)) {
        delivery::Outcome::NotADelivery | delivery::Outcome::Broken => {}
        delivery::Outcome::Done => {
            scan.shape = Shape::Records;
            return Ok(());
        }
        delivery::Outcome::MoreDocuments => {
            scan.shape = Shape::Concatenated;
            return decode_concatenated(text, scan, sink);
        }
        delivery::Outcome::MoreKeys(at) => {
            scan.shape = Shape::Records;
            match more_keys(&text[at..], scan, sink) {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    scan.shape = Shape::Concatenated;
                    return decode_concatenated(text, scan, sink);
                }
                Err(_) => {}
            }
        }
    }
    // Not a plain delivery, or the fast path stopped at something serde_json must name: read it all again.
    // (A broken file is discarded whole by the caller, so events the fast path gave already do not count.)
    *scan = Scan { compressed: scan.compressed, ..Scan::default() };
    decode_document(text, scan, sink)
}

/// The keys after a delivery's `Records` array (`,"x":…}`), read as the rest of the top-level object:
/// `Ok(true)` when the document then ends, `Ok(false)` when more documents follow.
fn more_keys(rest: &str, scan: &mut Scan, sink: &mut dyn FnMut(&Record)) -> Result<bool, serde_json::Error> {
    let object = format!("{{{rest}");
    let mut de = serde_json::Deserializer::from_str(&object);
    let mut events = Events { scan: &mut *scan, sink: &mut *sink };
    Find { events: &mut events, depth: 0 }.deserialize(&mut de)?;
    Ok(de.end().is_ok())
}

/// Reads a whole document of any shape with serde_json.
fn decode_document(text: &str, scan: &mut Scan, sink: &mut dyn FnMut(&Record)) -> Result<(), DecodeError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut events = Events { scan: &mut *scan, sink: &mut *sink };
    Find { events: &mut events, depth: 0 }.deserialize(&mut de).map_err(DecodeError::from_json)?;
    if de.end().is_ok() {
        return Ok(());
    }
    // Several JSON documents one after another (pretty-printed objects, say): the first is done, read the rest.
    scan.shape = Shape::Concatenated;
    decode_concatenated(text, scan, sink)
}

fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    simdutf8::compat::from_utf8(bytes).map_err(|e| DecodeError::InvalidUtf8(e.valid_up_to()))
}

/// NDJSON: more than one line, and the first line is a complete JSON value on its own. A CloudTrail
/// delivery is a single line, and a pretty-printed document's first line is not complete.
fn is_ndjson(body: &[u8]) -> bool {
    let Some(nl) = memchr::memchr(b'\n', body) else {
        return false;
    };
    if trim_start(&body[nl + 1..]).is_empty() {
        return false;
    }
    serde_json::from_slice::<IgnoredAny>(&body[..nl]).is_ok()
}

fn first_line(body: &[u8]) -> &[u8] {
    &body[..memchr::memchr(b'\n', body).unwrap_or(body.len())]
}

/// A CloudWatch Logs export's line, `<timestamp> <message>`: the message, when the line starts with an
/// ISO 8601 timestamp and a space and the message with `{`.
fn after_timestamp(line: &[u8]) -> Option<&[u8]> {
    let space = memchr::memchr(b' ', line)?;
    let (stamp, message) = (&line[..space], &line[space + 1..]);
    let stamp = std::str::from_utf8(stamp).ok()?;
    (message.starts_with(b"{") && stamp.contains('T') && crate::timefmt::parse_iso(stamp).is_some()).then_some(message)
}

/// NDJSON, or a CloudWatch Logs export ([`Shape::LogExport`]: each line's timestamp is dropped, and a line
/// without one is read as it is). A line that is not an event is counted bad, and the others are still read.
fn decode_lines(body: &[u8], scan: &mut Scan, sink: &mut dyn FnMut(&Record)) -> Result<(), DecodeError> {
    let exported = scan.shape == Shape::LogExport;
    for (n, line) in body.split(|&c| c == b'\n').enumerate() {
        if trim_start(line).is_empty() {
            continue;
        }
        let line = if exported { after_timestamp(line).unwrap_or(line) } else { line };
        let line = match utf8(line) {
            Ok(l) => l,
            Err(e) => {
                scan.note_bad(format!("line {}: {e}", n + 1));
                continue;
            }
        };
        let mut de = serde_json::Deserializer::from_str(line);
        let mut events = Events { scan: &mut *scan, sink: &mut *sink };
        let res = Find { events: &mut events, depth: 1 }.deserialize(&mut de).and_then(|_| de.end());
        if let Err(e) = res {
            scan.note_bad(format!("line {}: {}", n + 1, DecodeError::from_json(e)));
        }
    }
    Ok(())
}

fn decode_concatenated(body: &str, scan: &mut Scan, sink: &mut dyn FnMut(&Record)) -> Result<(), DecodeError> {
    let stream = serde_json::Deserializer::from_str(body).into_iter::<&serde_json::value::RawValue>();
    for value in stream.skip(1) {
        let value = value.map_err(DecodeError::from_json)?;
        let mut de = serde_json::Deserializer::from_str(value.get());
        let mut events = Events { scan: &mut *scan, sink: &mut *sink };
        Find { events: &mut events, depth: 1 }.deserialize(&mut de).map_err(DecodeError::from_json)?;
    }
    Ok(())
}

impl Scan {
    fn note_bad(&mut self, why: String) {
        self.bad_records += 1;
        if self.first_bad.is_none() {
            self.first_bad = Some(why);
        }
    }
}

/// Where found events go: counts them, drops Insights records, calls the sink.
struct Events<'s> {
    scan: &'s mut Scan,
    sink: &'s mut dyn FnMut(&Record),
}

impl Events<'_> {
    fn emit(&mut self, rec: &Record) {
        if rec.event_type.is("AwsCloudTrailInsight") {
            self.scan.insight_records += 1;
            return;
        }
        self.scan.events += 1;
        (self.sink)(rec);
    }
    /// One element of a `Records` array: given on if it is an event (or counted as Insights).
    fn record(&mut self, rec: &Record) {
        if rec.looks_like_event() || rec.event_type.is("AwsCloudTrailInsight") {
            self.emit(rec);
        }
    }
    fn set_shape(&mut self, shape: Shape, depth: u8) {
        if depth == 0 || self.scan.shape == Shape::Unknown {
            self.scan.shape = shape;
        }
    }
}

/// Looks for events in any JSON value: an event object, a `Records` or `Events` container, an EventBridge
/// `detail`, or a wrapper holding any of those further down.
struct Find<'e, 's> {
    events: &'e mut Events<'s>,
    depth: u8,
}

impl<'de> DeserializeSeed<'de> for Find<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Find<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("CloudTrail events")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Find { events, depth } = self;
        let mut rec = Record::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key.0 {
                "Records" => {
                    events.set_shape(Shape::Records, depth);
                    map.next_value_seed(RecordsSeq { events: &mut *events })?;
                }
                "detail" => {
                    events.set_shape(Shape::EventBridge, depth);
                    map.next_value_seed(Find { events: &mut *events, depth: depth + 1 })?;
                }
                "Events" => {
                    events.set_shape(Shape::LookupEvents, depth);
                    map.next_value_seed(Find { events: &mut *events, depth: depth + 1 })?;
                }
                "CloudTrailEvent" => {
                    let text = map.next_value::<crate::record::Text>()?;
                    if let Some(json) = text.get() {
                        let mut de = serde_json::Deserializer::from_str(json);
                        let res = Find { events: &mut *events, depth: depth + 1 }.deserialize(&mut de);
                        if let Err(e) = res.and_then(|_| de.end()) {
                            events.scan.note_bad(format!("CloudTrailEvent: {}", DecodeError::from_json(e)));
                        }
                    }
                }
                "digestStartTime" | "digestEndTime" | "logFiles" if depth == 0 => {
                    events.scan.digest = true;
                    map.next_value::<IgnoredAny>()?;
                }
                k => {
                    if !rec.read_field(k, &mut map)? {
                        if depth < MAX_WRAPPER_DEPTH && !NEVER_EVENTS.contains(&k) {
                            map.next_value_seed(Find { events: &mut *events, depth: depth + 1 })?;
                        } else {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
            }
        }
        // Wrappers must hold whole events: `insightDetails` and the like name an eventSource and eventName too.
        let whole = rec.event_source.get().is_some()
            && (rec.time_text().is_some() || rec.event_type.get().is_some() || rec.recipient_account.get().is_some());
        if rec.event_type.is("AwsCloudTrailInsight") {
            events.scan.insight_records += 1;
        } else if rec.looks_like_event() && (depth == 0 || whole) {
            events.set_shape(if depth == 0 { Shape::Event } else { Shape::Wrapper }, depth);
            events.emit(&rec);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Find { events, depth } = self;
        events.set_shape(if depth == 0 { Shape::Array } else { Shape::Wrapper }, depth);
        if depth >= MAX_WRAPPER_DEPTH {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        while seq.next_element_seed(Find { events: &mut *events, depth: depth + 1 })?.is_some() {}
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        // An event serialised into a string field (Sekoia's `input.message`). Anything that does not parse
        // as JSON is ordinary text and is ignored.
        let t = v.trim_start();
        if self.depth > 0 && self.depth < MAX_WRAPPER_DEPTH && t.starts_with('{') && t.contains("\"eventName\"") {
            let mut de = serde_json::Deserializer::from_str(t);
            let depth = self.depth + 1;
            if (Find { events: &mut *self.events, depth }).deserialize(&mut de).is_err() {
                self.events.scan.note_bad("an embedded event is not valid JSON".into());
            }
        }
        Ok(())
    }

    ignore_scalars!();
}

/// The `Records` array of a CloudTrail delivery: each element becomes a `Record` directly.
struct RecordsSeq<'e, 's> {
    events: &'e mut Events<'s>,
}

impl<'de> DeserializeSeed<'de> for RecordsSeq<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeq<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of CloudTrail records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut rec = Record::default();
        while seq.next_element_seed(Place(&mut rec))?.is_some() {
            self.events.record(&rec);
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    ignore_scalars!();
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::Path;

    fn names(input: &[u8]) -> (Result<Scan, DecodeError>, Vec<String>) {
        let mut seen = Vec::new();
        let res = Decoder::default().decode(input, &mut |r| seen.push(r.event_name.owned().unwrap_or_default()));
        (res, seen)
    }

    const EV: &str = r#"{"eventName":"A","eventSource":"s3.amazonaws.com","eventTime":"2026-11-20T10:00:00Z"}"#;

    #[test]
    fn a_record_read_in_place_keeps_nothing_of_the_one_before() {
        // Records are filled into one reused value: every field, nested or not, must start absent again.
        let first = r#"{"eventName":"A","eventSource":"s3.amazonaws.com","eventTime":"2026-11-20T10:00:00Z",
            "userIdentity":{"accessKeyId":"ASIAFIRST","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/R"}}},
            "requestParameters":{"roleArn":"arn:aws:iam::1:role/X"},"errorCode":"AccessDenied"}"#;
        let second = r#"{"eventName":"B","eventSource":"s3.amazonaws.com","eventTime":"2026-11-20T10:00:01Z",
            "userIdentity":{"arn":"arn:aws:sts::1:assumed-role/R/s"},"requestParameters":"not an object",
            "userIdentity":{"arn":"arn:aws:sts::1:assumed-role/R/last"}}"#;
        let input = format!(r#"{{"Records":[{first},{second}]}}"#);
        let mut seen = Vec::new();
        Decoder::default()
            .decode(input.as_bytes(), &mut |r| {
                seen.push((
                    r.event_name.owned(),
                    r.identity.access_key_id.owned(),
                    r.identity.arn.owned(),
                    r.identity.session.issuer.arn.owned(),
                    r.request.role_arn.owned(),
                    r.error_code.owned(),
                ))
            })
            .unwrap();
        assert_eq!(seen[0].1.as_deref(), Some("ASIAFIRST"));
        assert_eq!(seen[0].4.as_deref(), Some("arn:aws:iam::1:role/X"));
        // A repeated key keeps its last value, and nothing of the first record survives.
        assert_eq!(
            seen[1],
            (Some("B".into()), None, Some("arn:aws:sts::1:assumed-role/R/last".into()), None, None, None)
        );
    }

    #[test]
    fn every_shape_yields_its_events() {
        let lookup =
            format!(r#"{{"Events":[{{"EventId":"x","CloudTrailEvent":{}}}]}}"#, serde_json::to_string(EV).unwrap());
        let cases = [
            (format!(r#"{{"Records":[{EV},{EV}]}}"#), Shape::Records, 2),
            (format!("{EV}\n{EV}\n\n{EV}\n"), Shape::Ndjson, 3),
            (format!("[{EV},{EV}]"), Shape::Array, 2),
            (format!("  {EV}  "), Shape::Event, 1),
            (lookup, Shape::LookupEvents, 1),
            (
                format!(r#"{{"version":"0","detail-type":"AWS API Call via CloudTrail","detail":{EV}}}"#),
                Shape::EventBridge,
                1,
            ),
            (format!(r#"{{"source_path":"x","tests":[{{"Name":"n","Log":{EV}}}]}}"#), Shape::Wrapper, 1),
            (
                format!(r#"{{"input":{{"message":{}}},"expected":{{}}}}"#, serde_json::to_string(EV).unwrap()),
                Shape::Wrapper,
                1,
            ),
            (format!("{{\n\"Records\": [\n{EV}\n]\n}}\n{{\n\"Records\": [{EV}]}}"), Shape::Concatenated, 2),
            (format!("2026-11-20T10:00:00.000Z {EV}\n2026-11-20T10:00:01.000Z {EV}\r\n"), Shape::LogExport, 2),
            (format!("2026-11-20T10:00:00Z {EV}"), Shape::LogExport, 1),
        ];
        for (input, shape, n) in cases {
            let (res, seen) = names(input.as_bytes());
            let scan = res.unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(scan.shape, shape, "{input}");
            assert_eq!(seen.len(), n, "{input}");
        }
    }

    #[test]
    fn gzip_is_detected_by_content() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(format!(r#"{{"Records":[{EV}]}}"#).as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        let (res, seen) = names(&bytes);
        assert!(res.unwrap().compressed);
        assert_eq!(seen, ["A"]);
        let (res, _) = names(&bytes[..bytes.len() - 10]);
        assert_eq!(res.unwrap_err(), DecodeError::TruncatedGzip);
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(names(b"").0.unwrap_err(), DecodeError::Empty);
        assert_eq!(names(b"  \n").0.unwrap_err(), DecodeError::Empty);
        assert_eq!(names(b"hello").0.unwrap_err(), DecodeError::NotJson);
        // Another compression or Parquet is named, with what to do.
        for (raw, says) in [
            (
                &b"BZh91AY&SY\x01"[..],
                "bzip2-compressed: trailscan reads gzip or plain JSON; decompress it first (bunzip2)",
            ),
            (
                b"\x28\xb5\x2f\xfd\x04",
                "zstd-compressed: trailscan reads gzip or plain JSON; decompress it first (unzstd)",
            ),
            (b"PK\x03\x04\x14\x00", "a zip archive: trailscan reads gzip or plain JSON; extract it first (unzip)"),
            (
                b"PAR1\x15\x04",
                "Parquet (a Security Lake or Athena export?): trailscan reads CloudTrail JSON, not Parquet",
            ),
        ] {
            let e = names(raw).0.unwrap_err();
            assert_eq!((e.to_string().as_str(), e.label()), (says, "other format"));
        }
        assert!(matches!(names(br#"{"Records":[{"eventName":"A""#).0, Err(DecodeError::TruncatedJson(_))));
        assert!(matches!(names(br#"{"Records":[}"#).0, Err(DecodeError::InvalidJson(_))));
        // Unbalanced nesting is truncated JSON; balanced nesting, however deep, is skipped without recursion.
        let deep = "[".repeat(100_000);
        assert!(matches!(names(deep.as_bytes()).0, Err(DecodeError::TruncatedJson(_))));
        let balanced = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(names(balanced.as_bytes()).0.unwrap().events, 0);
        let deep_in_record = format!(
            r#"{{"Records":[{{"eventName":"A","eventSource":"s","x":{}1{}}}]}}"#,
            "[{\"a\":".repeat(50_000),
            "}]".repeat(50_000)
        );
        let (res, seen) = names(deep_in_record.as_bytes());
        assert_eq!((res.unwrap().events, seen.len()), (1, 1));
        assert_eq!(names(b"{\"Records\":[{\"eventName\":\"\xff\xfe\"}]}").0.unwrap_err(), DecodeError::InvalidUtf8(26));
    }

    #[test]
    fn a_log_export_line_that_is_no_event_costs_only_itself() {
        let input = format!("2026-11-20T10:00:00.000Z {EV}\n2026-11-20T10:00:01.000Z some text\n{EV}\n");
        let (res, seen) = names(input.as_bytes());
        let scan = res.unwrap();
        assert_eq!((scan.shape, seen.len(), scan.bad_records), (Shape::LogExport, 2, 1));
        assert!(scan.first_bad.unwrap().starts_with("line 2: invalid JSON"));
        // A line that does not start with a timestamp and `{` is not a log export.
        for text in ["2026-11-20T10:00:00.000Z START RequestId", "20261120 {}", "1 {}", "2026-11-20T10:00:00Z{}"] {
            assert_eq!(names(text.as_bytes()).0.unwrap_err(), DecodeError::NotJson, "{text}");
        }
    }

    #[test]
    fn ndjson_bad_lines_cost_only_themselves() {
        let input = format!("{EV}\n{{not json\n{EV}\n");
        let (res, seen) = names(input.as_bytes());
        let scan = res.unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(scan.bad_records, 1);
        assert!(scan.first_bad.unwrap().starts_with("line 2:"));
    }

    #[test]
    fn digests_and_insights_hold_no_events() {
        let (res, seen) = names(br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#);
        assert!(res.unwrap().digest);
        assert!(seen.is_empty());
        let insight =
            r#"{"Records":[{"eventTime":"t","eventType":"AwsCloudTrailInsight","insightDetails":{"eventName":"A"}}]}"#;
        let (res, seen) = names(insight.as_bytes());
        assert_eq!(res.unwrap().insight_records, 1);
        assert!(seen.is_empty());
    }

    /// A deterministic mutation fuzzer that runs with the ordinary test suite (the cargo-fuzz target in
    /// `fuzz/` explores further): flipped, dropped, duplicated and inserted bytes in every shape, plain and
    /// gzipped, through decode, extract and correlate. Nothing may panic.
    /// What decoding gave: the error, or the shape, counts and every record as serde would debug-print it.
    fn outcome(run: impl FnOnce(&mut Scan, &mut dyn FnMut(&Record)) -> Result<(), DecodeError>) -> String {
        let mut seen = Vec::new();
        let mut scan = Scan::default();
        match run(&mut scan, &mut |r| seen.push(format!("{r:?}"))) {
            Ok(()) => format!(
                "{:?} events {} insights {} bad {} {:?} digest {}\n{}",
                scan.shape,
                scan.events,
                scan.insight_records,
                scan.bad_records,
                scan.first_bad,
                scan.digest,
                seen.join("\n")
            ),
            Err(e) => format!("error: {e}"),
        }
    }

    /// The fast path for deliveries and serde_json alone, on the same text (`None` where the fast path
    /// has no part: NDJSON, arrays, invalid UTF-8).
    fn fast_and_serde(data: &[u8]) -> Option<(String, String)> {
        let body = trim_start(data);
        if !body.starts_with(b"{") || is_ndjson(body) {
            return None;
        }
        let text = std::str::from_utf8(body).ok()?;
        let fast = outcome(|scan, sink| decode_json(data, scan, sink));
        let serde = outcome(|scan, sink| decode_document(text, scan, sink));
        Some((fast, serde))
    }

    fn delivery_seeds() -> Vec<String> {
        let ev = r#"{"eventVersion":"1.08","eventID":"e1","eventTime":"2026-11-20T10:00:00Z","eventSource":"sts.amazonaws.com",
            "eventName":"AssumeRole","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","accessKeyId":"ASIA1",
            "sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::1:role/r"},"attributes":{"creationDate":"2026-11-20T09:00:00Z","mfaAuthenticated":"true"}}},
            "requestParameters":{"roleArn":"arn:aws:iam::1:role/x","roleSessionName":"s\u00e9\"q","durationSeconds":900,"policy":"{\"Version\":\"2012\"}","policyArns":[]},
            "responseElements":{"credentials":{"accessKeyId":"ASIA2","expiration":"Nov 20, 2026, 11:00:00 AM","sessionToken":"x"},
            "assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/x/s"}},"sharedEventID":"s1","readOnly":true,"errorCode":null,
            "resources":[{"ARN":"a","type":"AWS::IAM::Role"},{"ARN":"b","type":"AWS::IAM::Role"}],"recipientAccountId":1234,"tlsDetails":{"tlsVersion":1.2}}"#;
        let selectors = r#"{"eventTime":"2026-11-20T10:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors",
            "requestParameters":{"eventSelectors":[{"readWriteType":"All","includeManagementEvents":false}]},"additionalEventData":{"MFAUsed":"Yes"},
            "userIdentity":"not an object","resources":{"ARN":"x"},"eventType":"AwsApiCall","@timestamp":-1.5e3}"#;
        let insight = r#"{"eventType":"AwsCloudTrailInsight","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","insightDetails":{"x":[1,{"y":null}]}}"#;
        // Keys written with escapes, known and unknown, at the top and nested.
        let escaped = r#"{"eventTime":"2026-11-20T10:00:00Z","event\u0053ource":"sts.amazonaws.com","eventName":"GetCallerIdentity",
            "userIdentity":{"accessKey\u0049d":"ASIA3","type":"AssumedRole","\u0078":1},"\"odd\"":{"k\\":[]}}"#;
        vec![
            format!(r#"{{"Records":[{ev},{selectors},{insight},{escaped},12,"text",null,[],{{}}]}}"#),
            format!(r#"  {{ "Records" : [ {ev} , {selectors} ] , "digestStartTime":"x", "detail":{ev} }} "#),
            format!(r#"{{"Records":[{ev}]}}{{"Records":[{selectors}]}}"#),
            format!(r#"{{"Records":[{ev}],"Records":[{selectors}]}}"#),
            format!(r#"{{"Records":[]}}"#),
        ]
    }

    /// Records nested deeper than the cursor goes (it leaves them to serde_json) and around serde_json's own
    /// limit of 128 read the same either way, wherever the nesting is: in an unknown field, in a typed struct,
    /// in a typed field, in a selector list, in `resources`.
    #[test]
    fn deep_records_read_the_same_by_the_fast_path_and_serde() {
        let arrays = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        for depth in 95..=135 {
            let records = [
                format!(r#"{{"x":{}}}"#, objects(depth - 1)),
                format!(r#"{{"resources":{}}}"#, arrays(depth - 1)),
                format!(r#"{{"requestParameters":{{"roleArn":"r","x":{}}}}}"#, objects(depth - 2)),
                format!(r#"{{"requestParameters":{{"eventSelectors":{}}}}}"#, arrays(depth - 2)),
                format!(r#"{{"userIdentity":{{"sessionContext":{{"attributes":{{"x":{}}}}}}}}}"#, arrays(depth - 4)),
                format!(r#"{{"eventName":{}}}"#, arrays(depth - 1)),
            ];
            for record in records {
                let record = record.replacen('{', r#"{"eventTime":"2026-11-20T10:00:00Z","#, 1);
                let text = format!(r#"{{"Records":[{record}]}}"#);
                let (fast, serde) = fast_and_serde(text.as_bytes()).unwrap();
                assert_eq!(fast, serde, "{}", &text[..text.len().min(200)]);
            }
        }
    }

    #[test]
    fn the_fast_path_reads_deliveries_exactly_as_serde_json_does() {
        let mut checked = 0;
        let mut files: Vec<Vec<u8>> = delivery_seeds().into_iter().map(String::into_bytes).collect();
        // Real deliveries: the sample trail and the third-party data beside the repository, when present.
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        for dir in [manifest.join("sample-logs"), manifest.join("../shared/data/real")] {
            for path in walk(&dir) {
                let raw = std::fs::read(&path).unwrap();
                let text = if raw.starts_with(&[0x1f, 0x8b]) {
                    match Inflater::default().inflate(&raw) {
                        Ok(t) => t.to_vec(),
                        Err(_) => continue,
                    }
                } else {
                    raw
                };
                files.push(text);
            }
        }
        for data in &files {
            if let Some((fast, serde)) = fast_and_serde(data) {
                assert_eq!(fast, serde, "{}", String::from_utf8_lossy(&data[..data.len().min(300)]));
                checked += 1;
            }
        }
        assert!(checked >= 5, "only {checked} documents checked");
        // Mutations of the hand-made deliveries: every difference the fast path could make, broken or not.
        let seeds = delivery_seeds();
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        const PICKS: &[u8] = b" {}[]\":,\\0123456789-.eEtfnu\x01";
        for round in 0..6000 {
            let mut data = seeds[round % seeds.len()].clone().into_bytes();
            for _ in 0..1 + next() % 4 {
                mutate(&mut data, &mut next, |r| PICKS[r as usize % PICKS.len()]);
            }
            if let Some((fast, serde)) = fast_and_serde(&data) {
                assert_eq!(fast, serde, "mutated input: {}", String::from_utf8_lossy(&data));
            }
        }
    }

    /// A small deterministic random number generator (xorshift64) for the mutation tests.
    pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// One random edit of `data`: a byte replaced (by `pick` of a random number), removed or inserted, the
    /// end cut off, or a stretch repeated.
    fn mutate(data: &mut Vec<u8>, next: &mut impl FnMut() -> u64, pick: impl Fn(u64) -> u8) {
        let at = (next() as usize) % data.len().max(1);
        match next() % 5 {
            0 if !data.is_empty() => data[at] = pick(next()),
            1 if !data.is_empty() => {
                data.remove(at);
            }
            2 => data.insert(at, b"{}[]\":,\\0123456789"[(next() % 16) as usize]),
            3 => data.truncate(at),
            _ => {
                let end = (at + (next() as usize % 64)).min(data.len());
                let chunk = data[at..end].to_vec();
                data.splice(at..at, chunk);
            }
        }
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else { return out };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out.sort();
        out
    }

    #[test]
    fn mutated_inputs_never_panic() {
        use crate::extract::{Facts, TimeWindow};
        use std::io::Write;
        let ev = r#"{"eventVersion":"1.08","eventID":"e1","eventTime":"2026-11-20T10:00:00Z","eventSource":"sts.amazonaws.com",
            "eventName":"AssumeRole","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","accessKeyId":"ASIA1",
            "sessionContext":{"attributes":{"creationDate":"2026-11-20T09:00:00Z","mfaAuthenticated":"true"}}},
            "requestParameters":{"roleArn":"arn:aws:iam::1:role/x","roleSessionName":"s","durationSeconds":900},
            "responseElements":{"credentials":{"accessKeyId":"ASIA2","expiration":"Nov 20, 2026, 11:00:00 AM"},
            "assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/x/s"}},"sharedEventID":"s1","resources":[{"ARN":"a","type":"AWS::IAM::Role"}]}"#;
        let seeds: Vec<Vec<u8>> = vec![
            format!(r#"{{"Records":[{ev},{ev}]}}"#).into_bytes(),
            format!("{ev}\n{ev}\n").into_bytes(),
            format!(r#"{{"Events":[{{"CloudTrailEvent":{}}}]}}"#, serde_json::to_string(ev).unwrap()).into_bytes(),
            format!(r#"{{"detail-type":"x","detail":{ev}}}"#).into_bytes(),
            format!(r#"{{"tests":[{{"Log":{ev}}}],"input":{{"message":{}}}}}"#, serde_json::to_string(ev).unwrap())
                .into_bytes(),
            format!("2026-11-20T10:00:00.000Z {ev}\n2026-11-20T10:00:01.000Z {ev}\n").into_bytes(),
        ];
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        let mut decoder = Decoder::default();
        for round in 0..4800 {
            let mut data = seeds[round % seeds.len()].clone();
            for _ in 0..1 + next() % 8 {
                mutate(&mut data, &mut next, |r| r as u8);
            }
            if round % 3 == 0 {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(&data).unwrap();
                data = gz.finish().unwrap();
                if round % 2 == 0 {
                    let cut = (next() as usize) % data.len();
                    data.truncate(cut);
                }
            }
            let mut facts = Facts::default();
            let _ = decoder.decode(&data, &mut |r| facts.add(r, TimeWindow::default()));
            let _ = crate::correlate::correlate(facts);
        }
    }

    #[test]
    fn wrong_types_in_a_record_do_not_fail_the_file() {
        let input =
            format!(r#"{{"Records":[{{"eventName":7,"eventSource":"s","eventTime":[1],"userIdentity":"x"}},{EV}]}}"#);
        let (res, seen) = names(input.as_bytes());
        assert_eq!(res.unwrap().events, 2);
        assert_eq!(seen, ["7", "A"]);
    }
}
