//! Report: sessions → Polars DataFrames with stable column names. The column lists here are the contract
//! documented in the README; formats and escaping are `write`'s business.

use crate::correlate::Session;
use crate::detect::Finding;
use crate::extract::EventRow;
use crate::timefmt::format_rfc3339;
use crate::write::{Cell, Kind};
use polars::prelude::*;
use rayon::prelude::*;

/// What a cell of the sessions table reads besides its session: every session (for the parent's key) and
/// the row's flags.
pub struct RowContext<'a> {
    pub all: &'a [Session],
    pub flags: Option<&'a str>,
}

/// How a session fills one cell of the sessions table.
type CellOf = for<'a> fn(&'a Session, &RowContext<'a>) -> Cell<'a>;

/// The sessions table, in order: each column's name, type and cell. Also the rows of `who-assumed`. The
/// names are the contract documented in the README. Both the DataFrame ([`sessions_frame`]) and the CSV
/// written straight from the sessions ([`sessions_csv`]) are built from this one list.
pub const SESSION_COLUMNS: [(&str, Kind, CellOf); 30] = [
    ("assumed_at", Kind::Text, |x, _| Cell::Owned(ts(Some(x.assumption.at)))),
    ("event_name", Kind::Text, |x, _| Cell::Text(Some(x.event_name()))),
    ("success", Kind::Bool, |x, _| Cell::Bool(x.assumption.success())),
    ("error_code", Kind::Text, |x, _| Cell::Text(x.assumption.error_code.as_deref())),
    ("source_type", Kind::Text, |x, _| Cell::Text(Some(x.source_type()))),
    ("source_principal", Kind::Text, |x, _| Cell::Text(Some(&x.source_principal))),
    ("origin_principal", Kind::Text, |x, _| Cell::Text(Some(&x.origin_principal))),
    ("role_arn", Kind::Text, |x, _| Cell::Text(x.assumption.role_arn.as_deref())),
    ("session_name", Kind::Text, |x, _| Cell::Text(x.assumption.session_name.as_deref())),
    ("session_arn", Kind::Text, |x, _| Cell::Text(x.assumption.session_arn.as_deref())),
    ("access_key_id", Kind::Text, |x, _| Cell::Text(x.assumption.issued_key.as_deref())),
    ("parent_access_key_id", Kind::Text, |x, row| {
        let own = x.assumption.caller.access_key_id.as_deref();
        Cell::Text(match x.parent {
            Some(p) => row.all[p].assumption.issued_key.as_deref().or(own),
            None if x.chain_depth > 1 => own,
            None => None,
        })
    }),
    ("chain_depth", Kind::U32, |x, _| Cell::U32(x.chain_depth)),
    ("source_ip", Kind::Text, |x, _| Cell::Text(x.source_ip())),
    ("user_agent", Kind::Text, |x, _| Cell::Text(x.user_agent())),
    ("mfa", Kind::Bool, |x, _| Cell::Bool(x.assumption.mfa)),
    ("source_identity", Kind::Text, |x, _| Cell::Text(x.assumption.source_identity.as_deref())),
    ("caller_account", Kind::Text, |x, _| Cell::Text(x.caller_account())),
    ("role_account", Kind::Text, |x, _| Cell::Text(x.role_account())),
    ("cross_account", Kind::Bool, |x, _| Cell::Bool(x.cross_account())),
    ("event_count", Kind::U64, |x, _| Cell::U64(x.activity.marks.len() as u64)),
    ("distinct_actions", Kind::U64, |x, _| Cell::U64(x.activity.distinct_actions() as u64)),
    ("error_count", Kind::U64, |x, _| Cell::U64(x.activity.error_count() as u64)),
    ("first_event_at", Kind::Text, |x, _| Cell::Owned(ts(x.activity.first_at()))),
    ("last_event_at", Kind::Text, |x, _| Cell::Owned(ts(x.activity.last_at()))),
    ("source_ips", Kind::Text, |x, _| {
        let ips = x.activity.source_ips();
        Cell::Owned((!ips.is_empty()).then(|| ips.join(";")))
    }),
    ("event_id", Kind::Text, |x, _| Cell::Text(Some(&x.assumption.event_id))),
    ("expires_at", Kind::Text, |x, _| {
        Cell::Owned(x.assumption.success().then(|| ts(x.assumption.expires_at)).flatten())
    }),
    ("aws_region", Kind::Text, |x, _| Cell::Text(x.assumption.region.as_deref())),
    ("flags", Kind::Text, |_, row| Cell::Text(row.flags)),
];

/// The columns a terminal table shows for sessions (all of them go to CSV and JSON).
pub const SESSION_TABLE_COLUMNS: [&str; 13] = [
    "assumed_at",
    "event_name",
    "success",
    "source_principal",
    "role_arn",
    "session_name",
    "chain_depth",
    "source_ip",
    "mfa",
    "event_count",
    "error_count",
    "event_id",
    "flags",
];

/// A time as the tables print it: RFC 3339 UTC.
fn ts(t: Option<i64>) -> Option<String> {
    t.map(format_rfc3339)
}

/// A column of times as the tables print them, each formatted into the column as it is read (no list of
/// owned strings first: an actions table has hundreds of thousands of rows).
pub(crate) fn time_col(name: &str, times: impl Iterator<Item = i64>) -> Column {
    StringChunked::from_iter_options(name.into(), times.map(|t| Some(format_rfc3339(t)))).into_column()
}

/// A text column.
pub(crate) fn str_col(name: &str, v: Vec<Option<String>>) -> Column {
    Column::new(name.into(), v)
}

/// The `flags` cell of a session: the rule ids that fired on it, `;`-separated, empty when none.
pub fn flags_cell(rules: &[impl AsRef<str>]) -> Option<String> {
    (!rules.is_empty()).then(|| rules.iter().map(AsRef::as_ref).collect::<Vec<&str>>().join(";"))
}

/// The sessions table for `sessions` (given in output order), with the parent of each looked up in `all`.
/// `flags` holds each row's rule ids (`;`-separated, sorted), in row order.
pub fn sessions_frame(rows: &[&Session], all: &[Session], flags: &[Option<String>]) -> PolarsResult<DataFrame> {
    // Columns are independent: built side by side (most of a large run's sessions table is formatting).
    let cols: Vec<Column> = SESSION_COLUMNS
        .par_iter()
        .map(|&(name, kind, cell)| {
            let cells = rows.iter().enumerate().map(|(i, x)| {
                let row = RowContext { all, flags: flags.get(i).and_then(|f| f.as_deref()) };
                cell(x, &row)
            });
            kind.column(name, cells)
        })
        .collect();
    DataFrame::new(rows.len(), cols)
}

/// The sessions table as CSV, written straight from the sessions: the bytes [`sessions_frame`] gives through
/// `write` (a test holds them equal), without building a DataFrame first, which on a large run cost more
/// than everything else after correlation.
pub fn sessions_csv(
    rows: &[&Session],
    all: &[Session],
    flags: &[Option<String>],
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let names: Vec<&str> = SESSION_COLUMNS.iter().map(|c| c.0).collect();
    crate::write::csv_rows(&names, rows.len(), out, |i, line| {
        let row = RowContext { all, flags: flags.get(i).and_then(|f| f.as_deref()) };
        crate::write::csv_row(SESSION_COLUMNS.iter().map(|c| (c.2)(rows[i], &row)), line);
    })
}

/// The columns a terminal table shows for findings.
pub const FLAG_TABLE_COLUMNS: [&str; 4] = ["detected_at", "severity", "rule", "summary"];

/// The columns of the flags table (`trailscan flags`, the `flags` table of reports and the bundle), in order.
pub const FLAG_COLUMNS: [&str; 11] = [
    "detected_at",
    "rule",
    "severity",
    "principal",
    "role_arn",
    "session_arn",
    "access_key_id",
    "session_event_id",
    "source_ips",
    "summary",
    "event_ids",
];

/// One row per finding, in the order given (detect sorts them by time, rule and session). `all` is the
/// sessions the findings' indexes point into. Lists are `;`-separated, like `source_ips` in the sessions table.
pub fn flags_frame(findings: &[&Finding], all: &[Session]) -> PolarsResult<DataFrame> {
    let s = |f: &dyn Fn(&Finding) -> Option<String>| findings.iter().map(|x| f(x)).collect::<Vec<Option<String>>>();
    let cols = vec![
        time_col("detected_at", findings.iter().map(|f| f.detected_at)),
        str_col("rule", s(&|f| Some(f.rule.to_owned()))),
        str_col("severity", s(&|f| Some(f.severity.name().to_owned()))),
        str_col("principal", s(&|f| Some(f.principal.clone()))),
        str_col("role_arn", s(&|f| f.role_arn.clone())),
        str_col("session_arn", s(&|f| f.session_arn.clone())),
        str_col("access_key_id", s(&|f| f.access_key_id.clone())),
        str_col("session_event_id", s(&|f| f.session.and_then(|i| all.get(i)).map(|x| x.assumption.event_id.clone()))),
        str_col("source_ips", s(&|f| (!f.source_ips.is_empty()).then(|| f.source_ips.join(";")))),
        str_col("summary", s(&|f| Some(f.summary.clone()))),
        str_col("event_ids", s(&|f| (!f.event_ids.is_empty()).then(|| f.event_ids.join(";")))),
    ];
    DataFrame::new(findings.len(), cols)
}

/// The columns of `who-became-what`.
pub const WHO_BECAME_WHAT_COLUMNS: [&str; 10] = [
    "origin_principal",
    "role_arn",
    "via",
    "sessions",
    "successful",
    "failed",
    "max_chain_depth",
    "first_assumed_at",
    "last_assumed_at",
    "event_count",
];

/// One assumption as `who-became-what` counts it.
pub struct Became<'a> {
    pub origin_principal: &'a str,
    /// The role, or the session ARN for sessions without a role (GetSessionToken, GetFederationToken).
    pub became: &'a str,
    pub chain_depth: u32,
    pub success: bool,
    pub assumed_at: i64,
    pub event_count: u64,
}

/// Per origin principal and role: how often it became that role, directly or through chains.
pub fn who_became_what_frame(rows: &[&Session]) -> PolarsResult<DataFrame> {
    who_became_what_of(rows.iter().map(|s| Became {
        origin_principal: &s.origin_principal,
        became: s.assumption.role_arn.as_deref().or(s.assumption.session_arn.as_deref()).unwrap_or_default(),
        chain_depth: s.chain_depth,
        success: s.assumption.success(),
        assumed_at: s.assumption.at,
        event_count: s.activity.marks.len() as u64,
    }))
}

/// The `who-became-what` table of any assumptions: live sessions, or rows of the nightly history.
pub fn who_became_what_of<'a>(rows: impl IntoIterator<Item = Became<'a>>) -> PolarsResult<DataFrame> {
    use std::collections::BTreeMap;
    struct Agg {
        direct: bool,
        chained: bool,
        sessions: u64,
        ok: u64,
        failed: u64,
        depth: u32,
        first: i64,
        last: i64,
        events: u64,
    }
    let mut groups: BTreeMap<(&str, &str), Agg> = BTreeMap::new();
    for r in rows {
        let g = groups.entry((r.origin_principal, r.became)).or_insert(Agg {
            direct: false,
            chained: false,
            sessions: 0,
            ok: 0,
            failed: 0,
            depth: 0,
            first: i64::MAX,
            last: i64::MIN,
            events: 0,
        });
        g.direct |= r.chain_depth <= 1;
        g.chained |= r.chain_depth > 1;
        g.sessions += 1;
        if r.success {
            g.ok += 1;
        } else {
            g.failed += 1;
        }
        g.depth = g.depth.max(r.chain_depth);
        g.first = g.first.min(r.assumed_at);
        g.last = g.last.max(r.assumed_at);
        g.events += r.event_count;
    }
    let keys: Vec<&(&str, &str)> = groups.keys().collect();
    let vals: Vec<&Agg> = groups.values().collect();
    let via = |g: &Agg| match (g.direct, g.chained) {
        (true, true) => "direct+chain",
        (false, true) => "chain",
        _ => "direct",
    };
    let cols = vec![
        str_col("origin_principal", keys.iter().map(|k| Some(k.0.to_owned())).collect()),
        str_col("role_arn", keys.iter().map(|k| Some(k.1.to_owned()).filter(|s| !s.is_empty())).collect()),
        str_col("via", vals.iter().map(|g| Some(via(g).to_owned())).collect()),
        Column::new("sessions".into(), vals.iter().map(|g| g.sessions).collect::<Vec<u64>>()),
        Column::new("successful".into(), vals.iter().map(|g| g.ok).collect::<Vec<u64>>()),
        Column::new("failed".into(), vals.iter().map(|g| g.failed).collect::<Vec<u64>>()),
        Column::new("max_chain_depth".into(), vals.iter().map(|g| g.depth).collect::<Vec<u32>>()),
        time_col("first_assumed_at", vals.iter().map(|g| g.first)),
        time_col("last_assumed_at", vals.iter().map(|g| g.last)),
        Column::new("event_count".into(), vals.iter().map(|g| g.events).collect::<Vec<u64>>()),
    ];
    DataFrame::new(keys.len(), cols)
}

/// The columns of one session's timeline.
pub const TIMELINE_COLUMNS: [&str; 10] = [
    "at",
    "kind",
    "event_source",
    "event_name",
    "aws_region",
    "source_ip",
    "user_agent",
    "error_code",
    "access_key_id",
    "event_id",
];

/// A session's timeline: its assumption (and console switch), then every call made with it, in time order.
pub fn timeline_frame(s: &Session, events: &[EventRow]) -> PolarsResult<DataFrame> {
    struct Row {
        at: i64,
        kind: &'static str,
        source: String,
        name: String,
        region: Option<String>,
        ip: Option<String>,
        ua: Option<String>,
        error: Option<String>,
        key: Option<String>,
        id: String,
    }
    let a = &s.assumption;
    let mut rows = Vec::new();
    rows.extend((!s.inferred).then(|| Row {
        at: a.at,
        kind: "assumption",
        source: "sts.amazonaws.com".into(),
        name: a.kind.event_name().into(),
        region: a.region.as_deref().map(str::to_owned),
        ip: a.source_ip.as_deref().map(str::to_owned),
        ua: a.user_agent.as_deref().map(str::to_owned),
        error: a.error_code.as_deref().map(str::to_owned),
        key: a.caller.access_key_id.as_deref().map(str::to_owned),
        id: a.event_id.clone(),
    }));
    if let Some(sw) = &s.switch {
        if sw.event_id != a.event_id {
            rows.push(Row {
                at: sw.at,
                kind: "console-switch",
                source: "signin.amazonaws.com".into(),
                name: "SwitchRole".into(),
                region: sw.region.clone(),
                ip: sw.source_ip.clone(),
                ua: sw.user_agent.clone(),
                error: (!sw.success).then(|| "Failure".into()),
                key: None,
                id: sw.event_id.clone(),
            });
        }
    }
    for e in events {
        rows.push(Row {
            at: e.at,
            kind: "call",
            source: e.event_source.clone(),
            name: e.event_name.clone(),
            region: e.region.clone(),
            ip: e.source_ip.clone(),
            ua: e.user_agent.clone(),
            error: e.error_code.clone(),
            key: e.access_key_id.clone(),
            id: e.event_id.clone(),
        });
    }
    let cols = vec![
        time_col("at", rows.iter().map(|r| r.at)),
        str_col("kind", rows.iter().map(|r| Some(r.kind.to_owned())).collect()),
        str_col("event_source", rows.iter().map(|r| Some(r.source.clone())).collect()),
        str_col("event_name", rows.iter().map(|r| Some(r.name.clone())).collect()),
        str_col("aws_region", rows.iter().map(|r| r.region.clone()).collect()),
        str_col("source_ip", rows.iter().map(|r| r.ip.clone()).collect()),
        str_col("user_agent", rows.iter().map(|r| r.ua.clone()).collect()),
        str_col("error_code", rows.iter().map(|r| r.error.clone()).collect()),
        str_col("access_key_id", rows.iter().map(|r| r.key.clone()).collect()),
        str_col("event_id", rows.iter().map(|r| Some(r.id.clone())).collect()),
    ];
    DataFrame::new(rows.len(), cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Format;
    use crate::detect::fixture::*;

    /// Text a CSV writer must take care with: separators, quotes, line breaks, formulas, empty text.
    const AWKWARD: [&str; 13] = [
        "plain",
        "a,b",
        "say \"hi\"",
        "two\nlines",
        "cr\rhere",
        "=cmd()",
        "+1",
        "-5",
        "@x",
        "\tx",
        "",
        "'=x,y\"z",
        "-",
    ];

    #[test]
    fn the_sessions_csv_is_the_csv_of_the_sessions_frame() {
        let mut all: Vec<Session> = AWKWARD
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let mut a = assumption(&format!("e{i}"), T0 + i as i64, user(ALICE), ROLE_ADMIN, text);
                a.user_agent = Some((*text).into());
                a.source_identity = Some((*text).into());
                a.error_code = (i % 3 == 2).then(|| (*text).into());
                let mut s = session(a);
                s.source_principal = (*text).to_owned();
                with_calls(
                    s,
                    &[call(&format!("c{i}"), T0 + 100, text), call(&format!("d{i}"), T0 + 200, "198.51.100.7")],
                )
            })
            .collect();
        chain(&mut all, 0, 1);
        all[4].activity.marks.clear();
        // More rows than a part, so that parts are joined too.
        let rows: Vec<&Session> = all.iter().cycle().take(crate::write::PART_ROWS * 2 + 5).collect();
        let flags: Vec<Option<String>> =
            (0..rows.len()).map(|i| (i % 4 > 0).then(|| AWKWARD[i % 13].to_owned())).collect();
        let mut via_frame = Vec::new();
        crate::write::write(&mut sessions_frame(&rows, &all, &flags).unwrap(), Format::Csv, &[], &mut via_frame)
            .unwrap();
        let mut direct = Vec::new();
        sessions_csv(&rows, &all, &flags, &mut direct).unwrap();
        assert!(
            direct == via_frame,
            "{}\n---\n{}",
            String::from_utf8_lossy(&direct),
            String::from_utf8_lossy(&via_frame)
        );
        assert!(String::from_utf8(direct).unwrap().contains("\"'=x,y\"\"z\""));
    }
}
