//! Commands: one function per subcommand, each `inputs → pipeline → correlate → detect → report → write`.
//! The run summary and the exit status are decided here.

use crate::bundle;
use crate::cli::{Command, FilterArgs};
use crate::config::{Config, Format};
use crate::correlate::{correlate, Session, Sessions};
use crate::detect::{self, Detection};
use crate::extract::{account_of, EventRow};
use crate::filter::SessionFilter;
use crate::messages;
use crate::nightly::{self, answer};
use crate::pattern::Pattern;
use crate::pipeline::{self, Retain};
use crate::report;
use crate::source::{self, FileReport, Status};
use crate::sql;
use crate::tables::Tables;
use crate::write;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

pub use crate::exit::{EXIT_ERROR, EXIT_FINDINGS, EXIT_NOTHING_FOUND, EXIT_OK};

/// What a run read and rebuilt.
struct Analysis {
    sessions: Sessions,
    files: Vec<FileReport>,
    retained: Vec<EventRow>,
    invalid_records: u64,
    outside_window: u64,
    /// The findings (empty on a timeline's second pass, which detects nothing).
    detection: Detection,
    /// The earliest and latest eventTime read.
    first_at: Option<i64>,
    last_at: Option<i64>,
}

pub fn run(cfg: Config) -> Result<ExitCode> {
    if let Some(n) = cfg.threads {
        // `--threads` bounds the whole run: the stages after reading (detection, tables) use rayon's global
        // pool. It can be set once per process; a second setting (only in tests) keeps the first.
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().ok();
    }
    match &cfg.command {
        Command::WhoAssumed { role, history: Some(_) } => history_who_assumed(&cfg, role),
        Command::WhoAssumed { role, .. } => who_assumed(&cfg, role),
        Command::WhoBecameWhat { principal, history: Some(_) } => history_who_became_what(&cfg, principal.as_deref()),
        Command::WhoBecameWhat { principal, .. } => who_became_what(&cfg, principal.as_deref()),
        Command::Sessions { role, principal, history: Some(_) } => {
            history_sessions(&cfg, role.as_deref(), principal.as_deref())
        }
        Command::Sessions { role, principal, .. } => {
            sessions(&cfg, role.as_deref(), principal.as_deref(), &cfg.scope.accounts)
        }
        Command::Session { id } => session(&cfg, id),
        Command::Flags => flags(&cfg),
        Command::Report { name, list, filter, .. } => report(&cfg, name.as_deref(), *list, filter),
        Command::Query { sql, filter, history: Some(_) } => history_query(&cfg, sql, filter),
        Command::Query { sql, filter, .. } => query(&cfg, sql, filter),
        Command::Scan { out } => scan(&cfg, out),
        Command::Nightly { .. } => nightly::run(&cfg, cfg.nightly.as_ref().expect("resolved with the command")),
    }
}

fn analyse(cfg: &Config, retain: Option<&Retain>, quiet: bool) -> Result<Analysis> {
    messages::phase("start");
    let mut listing = source::list(&cfg.sources, &cfg.scope, &cfg.aws)?;
    if let Command::Scan { out } = &cfg.command {
        listing.leave_out(out);
    }
    messages::phase("listed");
    let compressed = listing.objects.iter().map(|o| o.size).sum();
    if let Some(warning) = pipeline::memory_warning(compressed, pipeline::memory_available()) {
        messages::warn(&warning);
    }
    if let Some(regions) = &cfg.lookup_events {
        let batches = source::lookup::collect(regions, cfg.aws.profile.as_deref(), cfg.window)?;
        listing.fetched.extend(batches.into_iter().map(|b| (b.object, b.ndjson)));
    }
    let out = pipeline::run(listing, cfg.window, cfg.threads, retain)?;
    messages::phase("read");
    let invalid_records = out.facts.invalid_records;
    let outside_window = out.facts.outside_window;
    let (first_at, last_at) = (out.facts.first_at, out.facts.last_at);
    let sessions = correlate(out.facts);
    messages::phase("correlated");
    // Detection runs once per run: on the main pass, not on a timeline's second pass (`retain`).
    let detection = match retain {
        None => detect::detect(&sessions, &cfg.detect, None),
        Some(_) => Detection::default(),
    };
    messages::phase("detected");
    let a = Analysis {
        sessions,
        files: out.files,
        retained: out.retained,
        invalid_records,
        outside_window,
        detection,
        first_at,
        last_at,
    };
    if !quiet {
        messages::summary(&summary_lines(&a));
    }
    Ok(a)
}

/// A one-shot command's end: its exit status, with what it built left to the operating system when the
/// process exits right after, instead of freed allocation by allocation (on a million records that took
/// about 0.2 s after all output was written). Only for values with nothing to flush or close (sessions,
/// findings, frames).
fn finish<T>(code: ExitCode, built: T) -> Result<ExitCode> {
    std::mem::forget(built);
    Ok(code)
}

fn counts_by_label(files: &[FileReport], status: Status) -> (usize, String) {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    let mut n = 0;
    for f in files.iter().filter(|f| f.status == status) {
        n += 1;
        *by.entry(f.label.as_deref().unwrap_or("other")).or_default() += 1;
    }
    let detail = by.iter().map(|(l, c)| format!("{c} {l}")).collect::<Vec<_>>().join(", ");
    (n, if detail.is_empty() { String::new() } else { format!(" ({detail})") })
}

fn summary_lines(a: &Analysis) -> Vec<String> {
    let read = a.files.iter().filter(|f| f.status == Status::Read).count();
    let (skipped, skipped_why) = counts_by_label(&a.files, Status::Skipped);
    let (failed, failed_why) = counts_by_label(&a.files, Status::Failed);
    let st = &a.sessions.stats;
    let failed_attempts = a.sessions.sessions.iter().filter(|s| !s.assumption.success()).count();
    let mut records = format!("trailscan: records: {} ({} duplicates dropped", st.records, st.duplicates);
    if a.invalid_records > 0 {
        records.push_str(&format!(", {} without a readable eventTime", a.invalid_records));
    }
    if a.outside_window > 0 {
        records.push_str(&format!(", {} outside --since/--until", a.outside_window));
    }
    records.push(')');
    let mut sessions = format!("trailscan: sessions: {} ({failed_attempts} failed attempts", a.sessions.sessions.len());
    if st.inferred_sessions > 0 {
        sessions
            .push_str(&format!(", {} inferred from calls whose assumption is not in the input", st.inferred_sessions));
    }
    if st.merged_copies > 0 {
        sessions.push_str(&format!(", {} cross-account copies merged", st.merged_copies));
    }
    sessions
        .push_str(&format!("); events: {} linked to sessions, {} in no session", st.linked_events, st.unlinked_events));
    if st.ambiguous_links > 0 {
        sessions.push_str(&format!(" ({} links ambiguous)", st.ambiguous_links));
    }
    vec![
        format!("trailscan: files: {read} read, {skipped} skipped{skipped_why}, {failed} failed{failed_why}"),
        records,
        sessions,
        findings_line(&a.detection),
    ]
}

fn findings_line(d: &Detection) -> String {
    let mut line = format!("trailscan: findings: {}", d.findings.len());
    let by = detect::count_by_severity(&d.findings);
    if !by.is_empty() {
        line.push_str(&format!(" ({by})"));
    }
    if d.suppressed > 0 {
        line.push_str(&format!("; {} suppressed by [[detect.suppress]]", d.suppressed));
    }
    if !d.findings.is_empty() {
        line.push_str("; `trailscan flags` lists them");
    }
    line
}

/// The exit status for a run whose output was written: `--strict` makes unreadable inputs an error, and
/// `--fail-on` makes findings one.
fn status(cfg: &Config, a: &Analysis, found: bool, lookup: bool) -> ExitCode {
    let failed = a.files.iter().filter(|f| f.status == Status::Failed).count();
    if cfg.strict && failed > 0 {
        messages::warn(&format!("--strict: {failed} input file(s) could not be read"));
        return ExitCode::from(EXIT_ERROR);
    }
    if let Some(level) = cfg.fail_on {
        if a.detection.reaches(level) {
            messages::warn(&format!("--fail-on {}: a finding of that severity or higher exists", level.name()));
            return ExitCode::from(EXIT_FINDINGS);
        }
    }
    if lookup && !found {
        return ExitCode::from(EXIT_NOTHING_FOUND);
    }
    ExitCode::from(EXIT_OK)
}

fn emit(cfg: &Config, df: &mut polars::prelude::DataFrame, table_columns: &[&str]) -> Result<()> {
    to_output(cfg, |w| write::write(df, cfg.format, table_columns, w))
}

/// Runs `fill` on `--output` (written atomically) or on stdout.
fn to_output(cfg: &Config, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    match &cfg.output {
        Some(path) => write::atomically(path, fill),
        None => {
            let stdout = std::io::stdout();
            fill(&mut std::io::BufWriter::new(stdout.lock()))
        }
    }
}

/// Writes the sessions table of the sessions at `idx` (in `all`): CSV straight from the sessions, other
/// formats part by part where they allow ([`write::write_in_parts`]).
fn emit_sessions(cfg: &Config, a: &Analysis, idx: &[usize]) -> Result<()> {
    let all = &a.sessions.sessions;
    let rows: Vec<&Session> = idx.iter().map(|&i| &all[i]).collect();
    let flags = row_flags(a, idx);
    if cfg.format == Format::Csv {
        return to_output(cfg, |w| report::sessions_csv(&rows, all, &flags, w));
    }
    let part = |range: std::ops::Range<usize>| report::sessions_frame(&rows[range.clone()], all, &flags[range]);
    to_output(cfg, |w| write::write_in_parts(rows.len(), part, cfg.format, &report::SESSION_TABLE_COLUMNS, w))
}

fn role_of(s: &Session) -> Option<&str> {
    s.assumption.role_arn.as_deref()
}

/// The `flags` column of the sessions table for the sessions at `rows`.
fn row_flags(a: &Analysis, rows: &[usize]) -> Vec<Option<String>> {
    let by_session = a.detection.flags_by_session(a.sessions.sessions.len());
    rows.iter().map(|&i| report::flags_cell(&by_session[i])).collect()
}

fn who_assumed(cfg: &Config, role: &str) -> Result<ExitCode> {
    let pat = Pattern::new(role)?;
    let a = analyse(cfg, None, false)?;
    let all = &a.sessions.sessions;
    let idx: Vec<usize> = (0..all.len()).filter(|&i| role_of(&all[i]).is_some_and(|r| pat.matches_role(r))).collect();
    if idx.is_empty() {
        messages::warn(&format!("no assumption of a role matching {role:?} in the input"));
    }
    emit_sessions(cfg, &a, &idx)?;
    finish(status(cfg, &a, !idx.is_empty(), true), a)
}

fn who_became_what(cfg: &Config, principal: Option<&str>) -> Result<ExitCode> {
    let pat = principal.map(Pattern::new).transpose()?;
    let a = analyse(cfg, None, false)?;
    let rows: Vec<&Session> = a
        .sessions
        .sessions
        .iter()
        .filter(|s| pat.as_ref().is_none_or(|p| p.matches_principal(&s.origin_principal)))
        .collect();
    let mut df = report::who_became_what_frame(&rows)?;
    emit(cfg, &mut df, &[])?;
    finish(status(cfg, &a, !rows.is_empty(), principal.is_some()), (a, df))
}

fn sessions(cfg: &Config, role: Option<&str>, principal: Option<&str>, accounts: &[String]) -> Result<ExitCode> {
    let filter = SessionFilter::new(role, principal, accounts)?;
    let a = analyse(cfg, None, false)?;
    let all = &a.sessions.sessions;
    let idx: Vec<usize> = (0..all.len()).filter(|&i| filter.keeps(&all[i])).collect();
    emit_sessions(cfg, &a, &idx)?;
    messages::phase("written");
    finish(status(cfg, &a, !idx.is_empty(), false), a)
}

/// Every finding, one row each.
fn flags(cfg: &Config) -> Result<ExitCode> {
    let a = analyse(cfg, None, false)?;
    let findings: Vec<&detect::Finding> = a.detection.findings.iter().collect();
    let mut df = report::flags_frame(&findings, &a.sessions.sessions)?;
    emit(cfg, &mut df, &report::FLAG_TABLE_COLUMNS)?;
    finish(status(cfg, &a, true, false), (a, df))
}

/// Finds the session an id names: the event id of the sessions table's `event_id` column, else that of a
/// console switch, else an issued access key or a session ARN. The first that matches anything decides, so
/// the id a listing shows always names its row, even when a forged log gives a switch the same id.
fn resolve<'a>(all: &'a [Session], id: &str) -> Result<Option<&'a Session>> {
    let tiers: [&dyn Fn(&Session) -> bool; 3] =
        [&|s| s.assumption.event_id == id, &|s| s.switch.as_ref().is_some_and(|w| w.event_id == id), &|s| {
            s.assumption.issued_key.as_deref() == Some(id) || s.assumption.session_arn.as_deref() == Some(id)
        }];
    let found: Vec<&Session> = tiers
        .iter()
        .map(|matches| all.iter().filter(|s| matches(s)).collect::<Vec<_>>())
        .find(|found| !found.is_empty())
        .unwrap_or_default();
    match found.len() {
        0 => Ok(None),
        1 => Ok(Some(found[0])),
        _ => {
            let list: Vec<String> = found
                .iter()
                .map(|s| {
                    format!(
                        "  {}  {}  {}",
                        s.assumption.event_id,
                        crate::timefmt::format_rfc3339(s.assumption.at),
                        s.source_principal
                    )
                })
                .collect();
            Err(messages::Help {
                message: format!("{id:?} names {} sessions; give one of their event ids:", found.len()),
                lines: list,
            }
            .into())
        }
    }
}

fn session(cfg: &Config, id: &str) -> Result<ExitCode> {
    let first = analyse(cfg, None, false)?;
    let all = &first.sessions.sessions;
    let Some(target) = resolve(all, id)? else {
        messages::warn(&format!(
            "no session matches {id:?}: give an issued access key (ASIA…), a session ARN, or an event id from the event_id column"
        ));
        return Ok(status(cfg, &first, false, true));
    };
    // Second pass: keep whole the calls made with the keys linked to this session.
    let keys: HashSet<_> = target.linked_keys.iter().cloned().collect();
    let key_ids: HashSet<String> = keys.iter().filter_map(|k| k.key.as_deref().map(str::to_owned)).collect();
    let arns: HashSet<String> = keys.iter().filter_map(|k| k.arn.as_deref().map(str::to_owned)).collect();
    let retain = move |r: &crate::record::Record| {
        r.identity.access_key_id.get().is_some_and(|k| key_ids.contains(k))
            || r.identity.arn.get().is_some_and(|a| arns.contains(a))
    };
    let second = analyse(cfg, Some(&retain), true)?;
    let events: Vec<EventRow> =
        second.retained.into_iter().filter(|e| e.key.as_ref().is_some_and(|k| keys.contains(k))).collect();
    let mut df = report::timeline_frame(target, &events)?;
    if cfg.format == Format::Table && cfg.output.is_none() {
        let mut out = std::io::stdout().lock();
        let a = &target.assumption;
        let head = [
            ("session", a.session_arn.as_deref().unwrap_or("(unknown)")),
            ("role", a.role_arn.as_deref().unwrap_or("(none)")),
            ("assumed by", &target.source_principal),
            ("origin", &target.origin_principal),
            ("access key", a.issued_key.as_deref().unwrap_or("(none)")),
        ];
        for (k, v) in head {
            writeln!(out, "{k:>11}: {}", messages::sanitize(v))?;
        }
        writeln!(
            out,
            "{:>11}: {}  (chain depth {})",
            "assumed at",
            crate::timefmt::format_rfc3339(a.at),
            target.chain_depth
        )?;
        if let Some(acct) = a.role_arn.as_deref().and_then(account_of) {
            writeln!(out, "{:>11}: {acct}", "account")?;
        }
        writeln!(out)?;
    }
    emit(cfg, &mut df, &[])?;
    Ok(status(cfg, &first, true, true))
}

/// Reads and filters the input, runs the detections, and builds the tables reports and queries see.
fn tables(cfg: &Config, filter: &FilterArgs) -> Result<(Analysis, Tables)> {
    let filter = SessionFilter::new(filter.role.as_deref(), filter.principal.as_deref(), &cfg.scope.accounts)?;
    let a = analyse(cfg, None, false)?;
    let all = &a.sessions.sessions;
    let rows: Vec<usize> = (0..all.len()).filter(|&i| filter.keeps(&all[i])).collect();
    let tables = Tables::build(&rows, all, &a.detection, &a.files)?;
    Ok((a, tables))
}

fn report(cfg: &Config, name: Option<&str>, list: bool, filter: &FilterArgs) -> Result<ExitCode> {
    let catalog = sql::catalog(cfg.queries.as_deref())?;
    if list {
        if cfg.format == Format::Table && cfg.output.is_none() {
            let items: Vec<(&str, &str)> = catalog.iter().map(|q| (q.name.as_str(), q.description.as_str())).collect();
            write::described_list(&items, &mut std::io::stdout().lock())?;
        } else {
            emit(cfg, &mut sql::catalog_frame(&catalog)?, &[])?;
        }
        return Ok(ExitCode::from(EXIT_OK));
    }
    // Clap requires NAME without --list; the report is found before any log is read.
    let q = sql::find(&catalog, name.unwrap_or_default())?;
    let (a, tables) = tables(cfg, filter)?;
    let mut df = sql::run(&tables, &q.sql).with_context(|| match &q.origin {
        sql::Origin::BuiltIn => format!("report {}", q.name),
        sql::Origin::File(p) => format!("report {} ({})", q.name, p.display()),
    })?;
    emit(cfg, &mut df, &[])?;
    finish(status(cfg, &a, true, false), (a, tables, df))
}

/// The SQL of `query ARG`: ARG itself, the file it names, or standard input for `-`.
fn sql_text(arg: &str) -> Result<String> {
    if arg == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read the query from standard input")?;
        return Ok(text);
    }
    let path = Path::new(arg);
    if path.is_file() {
        return std::fs::read_to_string(path).with_context(|| format!("cannot read the query file {arg}"));
    }
    if arg.ends_with(".sql") && !arg.contains(char::is_whitespace) {
        bail!("{arg}: no such file (give SQL text, an existing FILE.sql, or - to read standard input)");
    }
    Ok(arg.to_owned())
}

fn query(cfg: &Config, arg: &str, filter: &FilterArgs) -> Result<ExitCode> {
    let text = sql_text(arg)?;
    let (a, tables) = tables(cfg, filter)?;
    let mut df = sql::run(&tables, &text)?;
    emit(cfg, &mut df, &[])?;
    finish(status(cfg, &a, true, false), (a, tables, df))
}

fn scan(cfg: &Config, out: &Path) -> Result<ExitCode> {
    let a = analyse(cfg, None, false)?;
    let all = &a.sessions.sessions;
    let rows: Vec<usize> = (0..all.len()).collect();
    let sources = crate::tables::Sources::new(&rows, all, &a.detection, &a.files);
    let run = bundle::Run {
        command_line: &cfg.command_line,
        sources: &cfg.input_names(),
        since: cfg.window.since,
        until: cfg.window.until,
        first_event_at: a.first_at,
        last_event_at: a.last_at,
        files: &a.files,
        stats: &a.sessions.stats,
        invalid_records: a.invalid_records,
        outside_window: a.outside_window,
        sessions: all.len(),
        failed_attempts: all.iter().filter(|s| !s.assumption.success()).count(),
        findings: &a.detection.findings,
    };
    let summary = bundle::Summary::new(&run, crate::timefmt::now());
    bundle::write(out, &sources, summary)?;
    let written = bundle::file_names().len();
    messages::summary(&[format!("trailscan: bundle: {written} files written to {}", out.display())]);
    drop(sources);
    finish(status(cfg, &a, true, false), a)
}

/// The history's tables for `--history` (resolved in `cfg.history`), narrowed by `filter`.
fn history_tables(cfg: &Config, filter: &SessionFilter) -> Result<Tables> {
    answer::tables(cfg.history.as_ref().expect("resolved with --history"), &cfg.aws, filter)
}

fn history_sessions(cfg: &Config, role: Option<&str>, principal: Option<&str>) -> Result<ExitCode> {
    let t = history_tables(cfg, &SessionFilter::new(role, principal, &cfg.scope.accounts)?)?;
    let mut df = t.sessions;
    emit(cfg, &mut df, &report::SESSION_TABLE_COLUMNS)?;
    Ok(ExitCode::from(EXIT_OK))
}

fn history_who_assumed(cfg: &Config, role: &str) -> Result<ExitCode> {
    let t = history_tables(cfg, &SessionFilter::new(Some(role), None, &[])?)?;
    let mut df = t.sessions;
    if df.height() == 0 {
        messages::warn(&format!("no assumption of a role matching {role:?} in the history"));
    }
    emit(cfg, &mut df, &report::SESSION_TABLE_COLUMNS)?;
    Ok(ExitCode::from(if df.height() == 0 { EXIT_NOTHING_FOUND } else { EXIT_OK }))
}

fn history_who_became_what(cfg: &Config, principal: Option<&str>) -> Result<ExitCode> {
    let pat = principal.map(Pattern::new).transpose()?;
    let t = history_tables(cfg, &SessionFilter::new(None, None, &[])?)?;
    let mut df = answer::who_became_what(&t.sessions, pat.as_ref())?;
    emit(cfg, &mut df, &[])?;
    let found = df.height() > 0 || principal.is_none();
    Ok(ExitCode::from(if found { EXIT_OK } else { EXIT_NOTHING_FOUND }))
}

fn history_query(cfg: &Config, arg: &str, filter: &FilterArgs) -> Result<ExitCode> {
    let text = sql_text(arg)?;
    let f = SessionFilter::new(filter.role.as_deref(), filter.principal.as_deref(), &cfg.scope.accounts)?;
    let tables = history_tables(cfg, &f)?;
    let mut df = sql::run(&tables, &text)?;
    emit(cfg, &mut df, &[])?;
    Ok(ExitCode::from(EXIT_OK))
}
