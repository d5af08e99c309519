//! Tables: the four DataFrames reports, SQL and the auditor bundle are made of, under stable names
//! (issue 5). `sessions` comes from [`report::sessions_frame`]; this module adds `actions` (one row per
//! session and API call name), `flags` (the detections' findings) and `files` (every input and what became
//! of it, so that a report can prove what it read). The column lists and their one-line docs here are the
//! contract that the README, `README.txt` in a bundle, and `queries/*.sql` rely on.

use crate::correlate::Session;
use crate::detect::{Detection, Finding};
use crate::extract::{is_privileged, Failure};
use crate::report::{flags_cell, flags_frame, sessions_frame, str_col, time_col, FLAG_COLUMNS, SESSION_COLUMNS};
use crate::source::FileReport;
use polars::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The tables' names, in the order they are listed to users.
pub const TABLE_NAMES: [&str; 4] = ["sessions", "actions", "flags", "files"];

/// One run's tables.
#[derive(Debug, Clone)]
pub struct Tables {
    pub sessions: DataFrame,
    pub actions: DataFrame,
    pub flags: DataFrame,
    pub files: DataFrame,
}

/// What a run's tables are made of. Each table is built when asked for ([`Sources::table`]), so that a
/// writer can hold one at a time: a night's actions table alone is a few hundred MB.
pub struct Sources<'a> {
    kept: Vec<&'a Session>,
    all: &'a [Session],
    row_flags: Vec<Option<String>>,
    findings: Vec<&'a Finding>,
    files: &'a [FileReport],
}

impl<'a> Sources<'a> {
    /// The tables of the sessions kept (`rows`, in output order, indexes into `all`), the detections'
    /// findings about all sessions, and the input files. A finding is kept when its session or one of its
    /// related sessions is kept, or, for a finding about a principal rather than one session, when a kept
    /// session has that origin principal.
    pub fn new(rows: &[usize], all: &'a [Session], detection: &'a Detection, files: &'a [FileReport]) -> Self {
        let kept: Vec<&Session> = rows.iter().map(|&i| &all[i]).collect();
        let kept_idx: HashSet<usize> = rows.iter().copied().collect();
        let origins: HashSet<&str> = kept.iter().map(|s| s.origin_principal.as_str()).collect();
        let findings: Vec<&Finding> = detection
            .findings
            .iter()
            .filter(|f| match f.session {
                Some(i) => kept_idx.contains(&i) || f.related_sessions.iter().any(|r| kept_idx.contains(r)),
                None => {
                    f.related_sessions.iter().any(|r| kept_idx.contains(r)) || origins.contains(f.principal.as_str())
                }
            })
            .collect();
        let by_session = detection.flags_by_session(all.len());
        let row_flags: Vec<Option<String>> = rows.iter().map(|&i| flags_cell(&by_session[i])).collect();
        Sources { kept, all, row_flags, findings, files }
    }

    /// The table of that name (one of [`TABLE_NAMES`]).
    pub fn table(&self, name: &str) -> PolarsResult<DataFrame> {
        self.part(name, 0..self.rows(name))
    }
}

/// Tables built a part at a time: the rows of a range of their source rows, so that a writer never holds a
/// table whole (the auditor bundle, `bundle::write`).
pub trait TableParts: Sync {
    /// How many source rows the table of that name is built from.
    fn rows(&self, name: &str) -> usize;
    /// The table's rows built from the source rows `range`; the parts, in order, make the whole table.
    fn part(&self, name: &str, range: std::ops::Range<usize>) -> PolarsResult<DataFrame>;
}

impl TableParts for Sources<'_> {
    /// Sessions for `sessions` and `actions` (whose rows are each session's actions), findings, files.
    fn rows(&self, name: &str) -> usize {
        match name {
            "sessions" | "actions" => self.kept.len(),
            "flags" => self.findings.len(),
            "files" => self.files.len(),
            _ => 0,
        }
    }

    fn part(&self, name: &str, range: std::ops::Range<usize>) -> PolarsResult<DataFrame> {
        match name {
            "sessions" => sessions_frame(&self.kept[range.clone()], self.all, &self.row_flags[range]),
            "actions" => actions_frame(&self.kept[range]),
            "flags" => flags_frame(&self.findings[range], self.all),
            "files" => files_frame(&self.files[range]),
            other => polars_bail!(ComputeError: "no table is named {other}"),
        }
    }
}

impl Tables {
    /// Builds every table (see [`Sources::new`]).
    pub fn build(rows: &[usize], all: &[Session], detection: &Detection, files: &[FileReport]) -> PolarsResult<Tables> {
        let sources = Sources::new(rows, all, detection, files);
        Ok(Tables {
            sessions: sources.table("sessions")?,
            actions: sources.table("actions")?,
            flags: sources.table("flags")?,
            files: sources.table("files")?,
        })
    }

    /// The tables with their names, in [`TABLE_NAMES`] order.
    pub fn named(&self) -> [(&'static str, &DataFrame); 4] {
        [("sessions", &self.sessions), ("actions", &self.actions), ("flags", &self.flags), ("files", &self.files)]
    }

    /// The same, mutable (writers need `&mut` to write a frame).
    pub fn named_mut(&mut self) -> [(&'static str, &mut DataFrame); 4] {
        [
            ("sessions", &mut self.sessions),
            ("actions", &mut self.actions),
            ("flags", &mut self.flags),
            ("files", &mut self.files),
        ]
    }
}

/// The actions table, in order.
pub const ACTION_COLUMNS: [&str; 12] = [
    "session_event_id",
    "session_arn",
    "access_key_id",
    "role_arn",
    "event_source",
    "event_name",
    "count",
    "errors",
    "denied",
    "privileged",
    "first_at",
    "last_at",
];

/// One row per session and API call name (`eventSource`, `eventName`), sessions in the order given, calls
/// by source then name: what each session did, small enough to keep when the events themselves are not.
pub fn actions_frame<'a>(sessions: &[&'a Session]) -> PolarsResult<DataFrame> {
    /// A row while the table is built: a night has hundreds of thousands, so it names its session and
    /// action by their places.
    struct Row {
        session: IdxSize,
        action: IdxSize,
        count: u64,
        errors: u64,
        denied: u64,
        first: i64,
        last: i64,
    }
    // The actions met, in the order first met, and their places there.
    let mut actions: Vec<(&str, &str)> = Vec::new();
    let mut places: HashMap<(&str, &str), IdxSize> = HashMap::new();
    let mut rows: Vec<Row> = Vec::new();
    for (si, s) in sessions.iter().enumerate() {
        let act = &s.activity;
        // Keyed by name, not by the interned index: the same call can be interned twice when activity of
        // several keys (a console session's many keys) is merged into one session.
        let mut by_action: BTreeMap<(&str, &str), Row> = BTreeMap::new();
        for m in &act.marks {
            let (source, name) = act.action(m);
            let r = by_action.entry((source, name)).or_insert_with(|| Row {
                session: si as IdxSize,
                action: *places.entry((source, name)).or_insert_with(|| {
                    actions.push((source, name));
                    (actions.len() - 1) as IdxSize
                }),
                count: 0,
                errors: 0,
                denied: 0,
                first: m.at(),
                last: m.at(),
            });
            r.count += 1;
            r.errors += (m.failure() != Failure::None) as u64;
            r.denied += (m.failure() == Failure::Denied) as u64;
            r.first = r.first.min(m.at());
            r.last = r.last.max(m.at());
        }
        rows.extend(by_action.into_values());
    }
    // A session's text repeats on each of its rows, and an action's on each session that made it: each value
    // is stored once and the rows point at it (a nightly run's peak on a million records: 459 -> 403 MB).
    let of_session: Vec<IdxSize> = rows.iter().map(|r| r.session).collect();
    let session_text = |name: &str, cell: &dyn Fn(&'a Session) -> Option<&'a str>| {
        shared_text(name, &sessions.iter().map(|s| cell(s)).collect::<Vec<_>>(), &of_session)
    };
    let of_action: Vec<IdxSize> = rows.iter().map(|r| r.action).collect();
    let action_text = |name: &str, part: fn(&(&'static str, &'static str)) -> &'static str| {
        shared_text(name, &actions.iter().map(|a| Some(part(a))).collect::<Vec<_>>(), &of_action)
    };
    let cols = vec![
        session_text("session_event_id", &|s| Some(&s.assumption.event_id))?,
        session_text("session_arn", &|s| s.assumption.session_arn.as_deref())?,
        session_text("access_key_id", &|s| s.assumption.issued_key.as_deref())?,
        session_text("role_arn", &|s| s.assumption.role_arn.as_deref())?,
        action_text("event_source", |a| a.0)?,
        action_text("event_name", |a| a.1)?,
        Column::new("count".into(), rows.iter().map(|r| r.count).collect::<Vec<u64>>()),
        Column::new("errors".into(), rows.iter().map(|r| r.errors).collect::<Vec<u64>>()),
        Column::new("denied".into(), rows.iter().map(|r| r.denied).collect::<Vec<u64>>()),
        Column::new(
            "privileged".into(),
            rows.iter()
                .map(|r| {
                    let (source, name) = actions[r.action as usize];
                    is_privileged(source, name)
                })
                .collect::<Vec<bool>>(),
        ),
        time_col("first_at", rows.iter().map(|r| r.first)),
        time_col("last_at", rows.iter().map(|r| r.last)),
    ];
    DataFrame::new(rows.len(), cols)
}

/// A text column whose rows take their values from a few: each value's text is stored once, and the rows
/// (`of`: each row's place in `values`) point at it. Gathering a text column copies 16-byte views, not text.
fn shared_text(name: &str, values: &[Option<&str>], of: &[IdxSize]) -> PolarsResult<Column> {
    Column::new(name.into(), values).take_slice(of)
}

/// The files table, in order.
pub const FILE_COLUMNS: [&str; 6] = ["path", "status", "records", "shape", "label", "reason"];

/// One row per input file, sorted by path: read, skipped or failed, and why.
pub fn files_frame(files: &[FileReport]) -> PolarsResult<DataFrame> {
    let cols = vec![
        str_col("path", files.iter().map(|f| Some(f.path.clone())).collect()),
        str_col("status", files.iter().map(|f| Some(f.status.name().to_owned())).collect()),
        Column::new("records".into(), files.iter().map(|f| f.records).collect::<Vec<u64>>()),
        str_col("shape", files.iter().map(|f| f.shape.map(str::to_owned)).collect()),
        str_col("label", files.iter().map(|f| f.label.clone()).collect()),
        str_col("reason", files.iter().map(|f| f.reason.clone()).collect()),
    ];
    DataFrame::new(files.len(), cols)
}

/// The columns of a table (one of [`TABLE_NAMES`]), in order: the same as its frame's (the
/// `column_constants_match_frames` test holds them equal).
pub fn columns(table: &str) -> Vec<&'static str> {
    match table {
        "sessions" => SESSION_COLUMNS.iter().map(|c| c.0).collect(),
        "actions" => ACTION_COLUMNS.to_vec(),
        "flags" => FLAG_COLUMNS.to_vec(),
        "files" => FILE_COLUMNS.to_vec(),
        _ => Vec::new(),
    }
}

/// One line per column of every table, for `README.txt` in a bundle and the README. A column without a line
/// here fails the `every_column_is_documented` test.
pub const COLUMN_DOCS: &[(&str, &str, &str)] = &[
    ("sessions", "assumed_at", "when the assumption was made (eventTime)"),
    ("sessions", "event_name", "AssumeRole, AssumeRoleWithSAML, AssumeRoleWithWebIdentity, GetSessionToken, GetFederationToken, AssumeRoot, SwitchRole (console switch) or inferred (calls seen, assumption not in the input)"),
    ("sessions", "success", "whether credentials were issued"),
    ("sessions", "error_code", "the error of a failed attempt (AccessDenied, ...)"),
    ("sessions", "source_type", "the caller's userIdentity.type (IAMUser, AssumedRole, AWSService, SAMLUser, WebIdentityUser, AWSAccount, Root, ...)"),
    ("sessions", "source_principal", "who made the assumption: user or role-session ARN, AWS service, <provider>:<subject>, or aws-account:<account>/<principal id>"),
    ("sessions", "origin_principal", "the identity at the head of the chain of roles"),
    ("sessions", "role_arn", "the role assumed"),
    ("sessions", "session_name", "roleSessionName (the federated user name for GetFederationToken)"),
    ("sessions", "session_arn", "the ARN later calls made with the session carry"),
    ("sessions", "access_key_id", "the access key issued (never the secret or the session token)"),
    ("sessions", "parent_access_key_id", "for chained sessions, the key of the session that made the assumption"),
    ("sessions", "chain_depth", "1 when assumed by a principal that is not itself a session; the parent's depth + 1 otherwise"),
    ("sessions", "source_ip", "the caller's address (for a console switch, the browser's)"),
    ("sessions", "user_agent", "the caller's user agent"),
    ("sessions", "mfa", "MFA was presented, or the caller's session was MFA-authenticated"),
    ("sessions", "source_identity", "sourceIdentity, which persists through chains"),
    ("sessions", "caller_account", "the caller's account"),
    ("sessions", "role_account", "the role's account"),
    ("sessions", "cross_account", "caller and role accounts differ"),
    ("sessions", "event_count", "calls made with the session's credentials (not the assumption itself)"),
    ("sessions", "distinct_actions", "distinct eventSource/eventName pairs among those calls"),
    ("sessions", "error_count", "those calls that failed"),
    ("sessions", "first_event_at", "the first call made with the session"),
    ("sessions", "last_event_at", "the last call made with the session"),
    ("sessions", "source_ips", "addresses the calls came from, ;-separated, in order of first use"),
    ("sessions", "event_id", "the assumption's eventID (the caller-account copy's for cross-account assumptions); the key other tables join on"),
    ("sessions", "expires_at", "when the credentials expire"),
    ("sessions", "aws_region", "the region the assumption was logged in"),
    ("sessions", "flags", "the detection rules that fired on the session, ;-separated (the flags table has the findings)"),
    ("actions", "session_event_id", "the session: sessions.event_id"),
    ("actions", "session_arn", "the session's ARN (sessions.session_arn)"),
    ("actions", "access_key_id", "the key the session was issued (sessions.access_key_id)"),
    ("actions", "role_arn", "the session's role (sessions.role_arn)"),
    ("actions", "event_source", "the service called (eventSource, e.g. s3.amazonaws.com)"),
    ("actions", "event_name", "the API call (eventName, e.g. GetObject)"),
    ("actions", "count", "how many times the session made this call"),
    ("actions", "errors", "how many of them failed"),
    ("actions", "denied", "how many of them failed for lack of permission (AccessDenied, UnauthorizedOperation, ...)"),
    ("actions", "privileged", "the call grants access or blinds logging (IAM user, key, policy and trust changes; CloudTrail StopLogging, DeleteTrail, ...)"),
    ("actions", "first_at", "the first such call"),
    ("actions", "last_at", "the last such call"),
    ("flags", "rule", "the detection rule that fired"),
    ("flags", "severity", "high, medium or low"),
    ("flags", "detected_at", "when the evidence happened (the first event that made the rule fire)"),
    ("flags", "session_event_id", "the session the finding is about (sessions.event_id); empty for findings about a principal"),
    ("flags", "session_arn", "the session's ARN"),
    ("flags", "access_key_id", "the access key involved"),
    ("flags", "principal", "the origin principal"),
    ("flags", "role_arn", "the role involved"),
    ("flags", "source_ips", "the addresses of the evidence, ;-separated (for credentials-used-elsewhere, those away from the session's own network)"),
    ("flags", "summary", "one line a human understands"),
    ("flags", "event_ids", "the eventIDs that prove it, ;-separated"),
    ("files", "path", "the input file, as found under the --source paths"),
    ("files", "status", "read, skipped (not API-event logs, empty, not JSON) or failed (could not be decoded)"),
    ("files", "records", "events taken from the file"),
    ("files", "shape", "how the file was laid out (records for {\"Records\":[...]}, ndjson, array, ...)"),
    ("files", "label", "a short, stable name for the reason, for counting"),
    ("files", "reason", "why the file was skipped or failed, or what was wrong with some of its records"),
];

/// The doc line of a column.
pub fn column_doc(table: &str, column: &str) -> Option<&'static str> {
    COLUMN_DOCS.iter().find(|(t, c, _)| *t == table && *c == column).map(|(_, _, d)| *d)
}

/// The tables' columns for an empty run: what a query can name.
pub fn empty() -> PolarsResult<Tables> {
    Tables::build(&[], &[], &Detection::default(), &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_is_documented() {
        let t = empty().unwrap();
        for (name, df) in t.named() {
            for c in df.get_column_names() {
                assert!(column_doc(name, c.as_str()).is_some(), "{name}.{c} has no line in COLUMN_DOCS");
            }
        }
        for (table, column, _) in COLUMN_DOCS {
            let df = t.named().into_iter().find(|(n, _)| n == table).unwrap().1;
            assert!(df.column(column).is_ok(), "COLUMN_DOCS names {table}.{column}, which is not a column");
        }
    }

    #[test]
    fn column_constants_match_frames() {
        let t = empty().unwrap();
        for (name, df) in t.named() {
            assert_eq!(df.get_column_names().iter().map(|c| c.as_str()).collect::<Vec<_>>(), columns(name), "{name}");
        }
    }

    #[test]
    fn flags_join_their_session_and_keep_order() {
        let f = Finding {
            rule: "r",
            severity: crate::detect::Severity::High,
            detected_at: 0,
            session: None,
            session_arn: None,
            access_key_id: None,
            principal: "p".into(),
            role_arn: None,
            summary: "s".into(),
            event_ids: vec!["e1".into(), "e2".into()],
            related_sessions: vec![],
            source_ips: vec![],
        };
        let df = flags_frame(&[&f], &[]).unwrap();
        assert_eq!(df.column("event_ids").unwrap().str().unwrap().get(0), Some("e1;e2"));
        assert_eq!(df.column("detected_at").unwrap().str().unwrap().get(0), Some("1970-01-01T00:00:00Z"));
        assert_eq!(df.column("session_event_id").unwrap().str().unwrap().get(0), None);
    }

    #[test]
    fn shared_text_rows_read_their_own_values() {
        let values = [Some("arn:aws:sts::111122223333:assumed-role/Long-Role-Name/session"), None, Some("short")];
        let of: Vec<IdxSize> = vec![2, 0, 0, 1, 2, 0];
        let col = shared_text("c", &values, &of).unwrap();
        let text = col.str().unwrap();
        let got: Vec<Option<&str>> = (0..of.len()).map(|i| text.get(i)).collect();
        let want: Vec<Option<&str>> = of.iter().map(|&i| values[i as usize]).collect();
        assert_eq!(got, want);
        assert_eq!(col.dtype(), &DataType::String);
        assert_eq!(col.null_count(), 1);
    }
}
