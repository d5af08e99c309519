//! `trailscan nightly` (issue 6): incremental runs for cron, with state between runs and a queryable history.
//!
//! One run, in order:
//!
//! 1. take the lock on STATE ([`lock`]), read STATE ([`state`]), and remove what a crashed run left in OUT
//!    ([`history::clean`]);
//! 2. list the sources and keep the files delivered before the cut-off (`--until`, on file modification time
//!    or S3 `LastModified`) that no earlier run read;
//! 3. correlate the carried facts together with the new files' facts, and run the detections with the
//!    baseline from STATE: a finding not reported before is new;
//! 4. write the run's bundle, its new findings as NDJSON, and the history parts: sessions whose credentials
//!    expired `--late` before the cut-off are final, the others are written as open parts the next run
//!    replaces;
//! 5. commit STATE (written last, through a temporary name), then drop the previous open parts.
//!
//! A backlog larger than `--batch-size` (a first run over months of logs) goes through steps 3 to 5 once per
//! pass of whole trail days ([`passes`]), so memory holds a few days of sessions, not all of them.
//!
//! STATE and OUT may be S3 prefixes ([`place`]): the run then works in private local folders, uploads OUT
//! before the commit and commits STATE with one conditional PUT, in the same order. `--history s3://…`
//! answers from a local mirror of the history ([`mirror`]).
//!
//! Because linking runs over the carried facts and the new ones together, a session that spans midnight,
//! or whose calls arrive in a late file, is rebuilt exactly as one run over all the files would rebuild it,
//! provided every record arrives within `--late` of its credentials' expiry.

pub mod answer;
pub mod history;
pub mod lock;
pub mod mirror;
pub mod passes;
pub mod place;
pub mod state;

use crate::bundle;
use crate::config::{Config, Format, Nightly};
use crate::correlate::{correlate, Sessions};
use crate::detect::{self, Baseline, Detection, Finding, Severity};
use crate::exit::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::extract::TimeWindow;
use crate::messages;
use crate::pipeline;
use crate::report::{flags_cell, flags_frame, sessions_frame};
use crate::source::{self, FileReport, Status};
use crate::tables::{actions_frame, Sources, TableParts};
use crate::timefmt::format_rfc3339;
use crate::write;
use anyhow::Result;
use history::Part;
use polars::prelude::{DataFrame, PolarsResult};
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Test hook: sleep this many seconds after writing OUT (and uploading it, for an OUT on S3) and before
/// committing STATE, so a test can kill the run at its most delicate point.
const PAUSE_BEFORE_COMMIT: &str = "TRAILSCAN_NIGHTLY_PAUSE_BEFORE_COMMIT";

/// Runs the nightly job.
pub fn run(cfg: &Config, n: &Nightly) -> Result<ExitCode> {
    let (mut state_place, out_place) = place::open(&n.state, &n.out, &cfg.aws)?;
    let now = crate::timefmt::now();
    let mut lock = state_place.lock(n.lock_expiry, now)?;
    let mut st = state_place.load_state()?;
    let removed = out_place.clean(st.runs, &st.open_parts)?;
    if removed > 0 {
        messages::warn(&format!(
            "removed {removed} file(s) that an interrupted run left in {}; this run writes them again",
            out_place.shown("")
        ));
    }
    // The cut-off never goes back: what an earlier run finished stays finished.
    let cutoff = n.cutoff.max(st.last_cutoff.unwrap_or(i64::MIN));

    // `--since`: folders dated before its day are never read, by this run or the next (STATE keeps the
    // boundary): a first run over years of logs can start from a recent day.
    if let Some(start) = n.start {
        let day = crate::timefmt::midnight(start);
        st.forgotten_before = Some(st.forgotten_before.map_or(day, |f| f.max(day)));
    }
    // Trail date folders older than the ones STATE still remembers are not listed (see `--relist`).
    let mut scope = cfg.scope.clone();
    scope.window.since = st.forgotten_before;
    let sources = (cfg.sources.as_slice(), &cfg.aws);
    let mut survey = passes::survey(sources, &scope, n.batch_size, &passes::Unread { state: &st, cutoff: n.cutoff })?;
    let mut client = survey.client.take();
    let waiting = survey.waiting;
    if survey.is_empty() && st.last_cutoff.is_some_and(|l| n.cutoff <= l) {
        println!(
            "trailscan nightly: nothing new before {} (the last run's cut-off is {}): nothing written",
            format_rfc3339(n.cutoff),
            format_rfc3339(st.last_cutoff.unwrap_or(n.cutoff))
        );
        return Ok(ExitCode::from(EXIT_OK));
    }
    messages::phase("listed");
    let bytes = survey.bytes();
    let plan = passes::plan(survey, n.batch_size, cutoff);
    if plan.len() > 1 {
        messages::warn(&format!(
            "{} of logs not read yet, more than --batch-size {}: reading them in {} passes of whole trail days, \
             each committed as a run (a pass reads at most that much, or one day)",
            indicatif::HumanBytes(bytes),
            indicatif::HumanBytes(n.batch_size),
            plan.len()
        ));
    }
    let last = plan.len() - 1;
    let (mut failed, mut worst) = (0, None);
    for (i, pass) in plan.into_iter().enumerate() {
        // Files delivered after the run's cut-off wait for the next run: the last pass says so.
        let at = if i == last { PassAt::Last { waiting } } else { PassAt::Before };
        let cutoff = pass.cutoff.max(st.last_cutoff.unwrap_or(i64::MIN));
        if i > 0 {
            lock.renew(crate::timefmt::now())?;
        }
        let listing = pass.files(sources, &scope, &passes::Unread { state: &st, cutoff: n.cutoff }, &mut client)?;
        let done = run_pass(cfg, n, &mut st, (&mut state_place, &out_place), &lock, listing, cutoff, at)?;
        failed += done.failed;
        worst = worst.max(done.worst);
    }

    if cfg.strict && failed > 0 {
        messages::warn(&format!("--strict: {failed} input file(s) could not be read (they are tried again next run)"));
        return Ok(ExitCode::from(EXIT_ERROR));
    }
    if let Some(level) = cfg.fail_on {
        if worst.is_some_and(|w| w >= level) {
            messages::warn(&format!("--fail-on {}: a new finding of that severity or higher", level.name()));
            return Ok(ExitCode::from(EXIT_FINDINGS));
        }
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// Where a pass stands in its run.
#[derive(Clone, Copy, PartialEq)]
enum PassAt {
    /// A pass before the last. It writes only the sessions it finishes: the ones it leaves open are written
    /// by a later pass of the same run (final, or open by the last), so each is written once, not once a pass.
    Before,
    /// The run's last pass (or its only one), with the files delivered after the run's cut-off.
    Last { waiting: usize },
}

/// What one pass leaves for the run's exit code.
struct PassEnd {
    /// Input files that could not be read.
    failed: usize,
    /// The severity of the worst new finding.
    worst: Option<Severity>,
}

/// One pass (steps 3 to 5 of the module doc): reads `listing`, correlates it with the carried facts, writes
/// OUT and commits STATE with `cutoff`, and prints the summary line.
#[allow(clippy::too_many_arguments)]
fn run_pass(
    cfg: &Config,
    n: &Nightly,
    st: &mut state::State,
    (state_place, out_place): (&mut place::Place, &place::Place),
    lock: &lock::Lock,
    listing: source::Listing,
    cutoff: i64,
    at: PassAt,
) -> Result<PassEnd> {
    let out_dir = &out_place.dir;
    let horizon = cutoff - n.late;
    let sizes: BTreeMap<String, u64> = listing.objects.iter().map(|o| (o.display().into_owned(), o.size)).collect();

    let out = pipeline::run(listing, TimeWindow::default(), cfg.threads, None)?;
    messages::phase("read");
    let (first_at, last_at) = (out.facts.first_at, out.facts.last_at);
    let (invalid_records, outside_window) = (out.facts.invalid_records, out.facts.outside_window);
    let files = out.files;
    let mut facts = std::mem::take(&mut st.carried).into_facts();
    facts.absorb(out.facts);
    let all_facts = state::copy(&facts);
    let sessions = correlate(facts);
    messages::phase("correlated");
    let all = &sessions.sessions;

    // A pass that another follows leaves the pairs of sessions still open to it, and every pass those of open
    // sessions whose caller's copy is still to be read (see `Baseline`).
    let baseline = Baseline {
        pairs: std::mem::take(&mut st.baseline),
        horizon: Some(horizon),
        pass_follows: at == PassAt::Before,
    };
    let detection = detect::detect(&sessions, &cfg.detect, Some(&baseline));
    messages::phase("detected");
    let new_findings: Vec<Finding> = detection
        .findings
        .iter()
        .filter(|f| !st.has_reported(f, &sessions))
        .filter(|f| !left_for_later(f, &sessions, horizon, at == PassAt::Before))
        .cloned()
        .collect();

    // Which sessions are written where, and whose facts the next run needs.
    let mut finished: Vec<usize> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for (i, s) in all.iter().enumerate() {
        if st.has_finalized(s) {
            continue;
        }
        if s.is_final(horizon) {
            finished.push(i);
        } else {
            open.push(i);
        }
    }
    let mut keep = vec![false; all.len()];
    for &i in &open {
        let mut at = Some(i);
        while let Some(j) = at.filter(|&j| !keep[j]) {
            keep[j] = true;
            at = all[j].parent.filter(|&p| p < j);
        }
    }
    let keep: Vec<usize> = (0..all.len()).filter(|&i| keep[i]).collect();
    // Taken from the copy now, so the rest of it is gone before the tables are built; committed with the rest.
    let carried = state::carry(all_facts, &sessions, &keep, horizon);
    messages::phase("carried");

    let run_no = st.runs + 1;
    let stamp = format_rfc3339(cutoff).replace(':', "");
    let name = format!("run-{run_no:06}-{stamp}");

    // 4. Everything in OUT, before the commit; first, the lock must still be this run's.
    lock.confirm()?;
    // A pass that another follows writes only the sessions it finished (see `PassAt`).
    let open_written: &[usize] = match at {
        PassAt::Before => &[],
        PassAt::Last { .. } => &open,
    };
    let mut touched: Vec<usize> = finished.iter().chain(open_written).copied().collect();
    touched.sort_unstable();
    let bundle_dir = out_dir.join("bundles").join(&name);
    let refs: Vec<&Finding> = new_findings.iter().collect();
    let mut new_flags = flags_frame(&refs, all)?;
    write_bundle(
        cfg,
        &bundle_dir,
        &sessions,
        &touched,
        &detection,
        (&new_findings, &new_flags),
        &files,
        cutoff,
        (first_at, last_at),
        (invalid_records, outside_window),
    )?;
    messages::phase("bundle");
    let findings_file = out_dir.join("findings").join(format!("{name}.ndjson"));
    std::fs::create_dir_all(findings_file.parent().expect("has a parent"))?;
    write::atomically(&findings_file, |w| write::write(&mut new_flags, Format::Ndjson, &[], w))?;

    let flags: Vec<Vec<String>> = detection
        .flags_by_session(all.len())
        .into_iter()
        .enumerate()
        .map(|(i, now)| {
            let mut rules: std::collections::BTreeSet<String> = now.into_iter().map(str::to_owned).collect();
            if let Some(before) = st.flagged_before(&all[i]) {
                rules.extend(before.iter().cloned());
            }
            rules.into_iter().collect()
        })
        .collect();
    write_sessions(out_dir, &sessions, &finished, &flags, Part::Final, run_no)?;
    let open_parts = write_sessions(out_dir, &sessions, open_written, &flags, Part::Open, run_no)?;
    let mut by_day: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    for f in &new_findings {
        by_day.entry(history::partition(f.detected_at)).or_default().push(f);
    }
    for (dt, fs) in by_day {
        history::write_part(out_dir, ("flags", &dt), (Part::Final, run_no), fs.len(), |r| flags_frame(&fs[r], all))?;
    }

    messages::phase("history");
    out_place.publish()?;

    if let Some(secs) = std::env::var(PAUSE_BEFORE_COMMIT).ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }

    // 5. The commit.
    for f in &files {
        let (key, size) = (state::input_key(&f.path), sizes.get(&f.path).copied().unwrap_or(0));
        if f.status != Status::Failed {
            st.undecodable.remove(&key);
            st.read.insert(key, size);
        } else if !f.unreached() {
            // Its bytes were read and are bad: the same bytes would fail the same way, so a repeated run
            // leaves it alone; a new size (the file was caught mid-write) is read again.
            st.undecodable.insert(key, size);
        }
    }
    for &i in &finished {
        st.finalized.insert(all[i].run_key().to_owned(), all[i].assumption.at);
    }
    for f in &new_findings {
        st.reported.insert(state::finding_key(f, &sessions), f.detected_at);
    }
    st.carried = carried;
    st.flagged = keep
        .iter()
        .filter(|&&i| !flags[i].is_empty())
        .map(|&i| (all[i].run_key().to_owned(), flags[i].iter().cloned().collect()))
        .collect();
    st.baseline = detection.baseline.pairs.clone();
    st.prune(horizon);
    st.forget_old_folders(n.relist);
    let previous_open = std::mem::replace(&mut st.open_parts, open_parts);
    st.runs = run_no;
    st.last_cutoff = Some(cutoff);
    state_place.save_state(st)?;
    messages::phase("committed");
    out_place.drop_parts(&previous_open.into_iter().filter(|p| !st.open_parts.contains(p)).collect::<Vec<_>>());

    let read = files.iter().filter(|f| f.status == Status::Read).count();
    let failed = files.iter().filter(|f| f.status == Status::Failed).count();
    let skipped = files.len() - read - failed;
    let mut line = format!(
        "trailscan nightly: cut-off {}: {read} files read ({skipped} skipped, {failed} failed{}); sessions: {} \
         finished, {} open; new findings: {}",
        format_rfc3339(cutoff),
        if let PassAt::Last { waiting: waiting @ 1.. } = at {
            format!(", {waiting} delivered after the cut-off left for the next run")
        } else {
            String::new()
        },
        finished.len(),
        open.len(),
        new_findings.len()
    );
    let by = detect::count_by_severity(&new_findings);
    if !by.is_empty() {
        line.push_str(&format!(" ({by})"));
    }
    line.push_str(&format!("; bundle {}", out_place.shown(&format!("bundles/{name}"))));
    println!("{}", messages::sanitize(&line));

    Ok(PassEnd { failed, worst: new_findings.iter().map(|f| f.severity).max() })
}

/// Writes the sessions at `rows` (and their actions) to the history, one part per day of `assumed_at`.
/// Returns the parts written, relative to OUT.
fn write_sessions(
    out: &std::path::Path,
    sessions: &Sessions,
    rows: &[usize],
    flags: &[Vec<String>],
    part: Part,
    run_no: u64,
) -> Result<Vec<String>> {
    let all = &sessions.sessions;
    let mut by_day: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in rows {
        by_day.entry(history::partition(all[i].assumption.at)).or_default().push(i);
    }
    let mut written = Vec::new();
    for (dt, idx) in by_day {
        let kept: Vec<&crate::correlate::Session> = idx.iter().map(|&i| &all[i]).collect();
        let row_flags: Vec<Option<String>> = idx.iter().map(|&i| flags_cell(&flags[i])).collect();
        let sessions = |r: std::ops::Range<usize>| sessions_frame(&kept[r.clone()], all, &row_flags[r]);
        written.push(history::write_part(out, ("sessions", &dt), (part, run_no), kept.len(), sessions)?);
        let actions = |r: std::ops::Range<usize>| actions_frame(&kept[r]);
        written.push(history::write_part(out, ("actions", &dt), (part, run_no), kept.len(), actions)?);
    }
    Ok(written)
}

/// The run's auditor bundle: the sessions it finished or left open, their actions, the new findings
/// (`new_flags` is their table), and the files it read.
#[allow(clippy::too_many_arguments)]
fn write_bundle(
    cfg: &Config,
    dir: &std::path::Path,
    sessions: &Sessions,
    rows: &[usize],
    detection: &Detection,
    (new_findings, new_flags): (&[Finding], &polars::prelude::DataFrame),
    files: &[FileReport],
    cutoff: i64,
    (first_at, last_at): (Option<i64>, Option<i64>),
    (invalid_records, outside_window): (u64, u64),
) -> Result<()> {
    let all = &sessions.sessions;
    let sources = Sources::new(rows, all, detection, files);
    let run = bundle::Run {
        command_line: &cfg.command_line,
        sources: &cfg.input_names(),
        since: None,
        until: Some(cutoff),
        first_event_at: first_at,
        last_event_at: last_at,
        files,
        stats: &sessions.stats,
        invalid_records,
        outside_window,
        sessions: rows.len(),
        failed_attempts: rows.iter().filter(|&&i| !all[i].assumption.success()).count(),
        findings: new_findings,
    };
    let summary = bundle::Summary::new(&run, crate::timefmt::now());
    // The run's flags are its new findings only.
    bundle::write(dir, &RunTables { sources: &sources, new_flags }, summary)?;
    Ok(())
}

/// A run's bundle tables: the sources', but for `flags`, which holds the run's new findings only.
struct RunTables<'a> {
    sources: &'a Sources<'a>,
    new_flags: &'a DataFrame,
}

impl TableParts for RunTables<'_> {
    fn rows(&self, name: &str) -> usize {
        if name == "flags" {
            self.new_flags.height()
        } else {
            self.sources.rows(name)
        }
    }
    fn part(&self, name: &str, range: std::ops::Range<usize>) -> PolarsResult<DataFrame> {
        if name == "flags" {
            Ok(self.new_flags.slice(range.start as i64, range.len()))
        } else {
            self.sources.part(name, range)
        }
    }
}

/// Whether this run leaves `f` to a later run (or pass) that will know more of its session, which is still
/// open and so carried whole: when another pass of this run follows and the session's own calls decide the
/// finding ([`detect::OWN_CALL_RULES`]: a call delivered late moves its evidence), or when the session awaits
/// its chain's earlier hop and the session alone decides the finding ([`detect::SESSION_RULES`]: that hop
/// names the chain's origin).
fn left_for_later(f: &Finding, sessions: &Sessions, horizon: i64, pass_follows: bool) -> bool {
    let Some(s) = f.session.and_then(|i| sessions.sessions.get(i)).filter(|s| !s.is_final(horizon)) else {
        return false;
    };
    (pass_follows && detect::OWN_CALL_RULES.contains(&f.rule))
        || (detect::SESSION_RULES.contains(&f.rule) && detect::awaits_earlier_hop(sessions, s))
}
