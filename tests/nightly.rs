//! `trailscan nightly` (issue 6): day by day equals batch, idempotence, crash safety, the lock, `--history`.
//!
//! The trail: three days of deliveries whose file modification times are their delivery times. Alice's
//! session spans midnight and assumes a second role from it (a chain across days); Carol's calls of day 1
//! arrive in a file delivered on day 2; Bob does something privileged on day 2; Erin's session is still open
//! at the last cut-off.

use crate::util::{
    as_call, assume_role, call, denied_assume_role, files_under, iam_user, role_session, trailscan, trailscan_env,
    tree_bytes, Run, Workdir,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) const ACCT: &str = "111122223333";
const ROLE_A: &str = "arn:aws:iam::111122223333:role/RoleA";
const ROLE_B: &str = "arn:aws:iam::111122223333:role/RoleB";
const ROLE_C: &str = "arn:aws:iam::111122223333:role/RoleC";
const ROLE_D: &str = "arn:aws:iam::111122223333:role/RoleD";

/// The cut-offs of the three nightly runs, and the late-delivery allowance used with them.
pub(crate) const CUTOFFS: [&str; 3] = ["2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z"];
pub(crate) const LATE: &str = "12h";

/// A delivery time of the fixture (November 2026, whole minutes) as a file time.
fn epoch(rfc3339: &str) -> SystemTime {
    let (date, time) = rfc3339.trim_end_matches('Z').split_once('T').unwrap();
    assert!(date.starts_with("2026-11-"), "the fixture lives in November 2026");
    let day: u64 = date[8..10].parse().unwrap();
    let (h, m): (u64, u64) = (time[0..2].parse().unwrap(), time[3..5].parse().unwrap());
    const NOV_1_2026: u64 = 1_793_491_200;
    UNIX_EPOCH + Duration::from_secs(NOV_1_2026 + (day - 1) * 86_400 + h * 3600 + m * 60)
}

/// Gives the file at `p` the delivery time `delivered` (its modification time).
fn stamp_delivery(p: &Path, delivered: &str) {
    std::fs::File::options().write(true).open(p).unwrap().set_modified(epoch(delivered)).unwrap();
}

fn deliver(w: &Workdir, rel: &str, delivered: &str, events: &[Value]) -> PathBuf {
    let p = w.trail(&format!("logs/AWSLogs/{ACCT}/CloudTrail/us-east-1/{rel}"), events);
    stamp_delivery(&p, delivered);
    p
}

/// A CloudTrail digest in the trail date folder `day` (`2026/11/20`), delivered then.
fn deliver_digest(w: &Workdir, day: &str) {
    let (compact, date) = (day.replace('/', ""), day.replace('/', "-"));
    let p = w.write_gz(
        &format!("logs/AWSLogs/{ACCT}/CloudTrail-Digest/us-east-1/{day}/{ACCT}_CloudTrail-Digest_us-east-1_t_us-east-1_{compact}T010000Z.json.gz"),
        &format!(r#"{{"awsAccountId":"{ACCT}","digestStartTime":"{date}T00:00:00Z","logFiles":[]}}"#),
    );
    stamp_delivery(&p, &format!("{date}T01:10:00Z"));
}

fn session_arn(role: &str, name: &str) -> String {
    format!("arn:aws:sts::{ACCT}:assumed-role/{}/{name}", role.rsplit('/').next().unwrap())
}

/// Builds the trail in `w/logs`.
pub(crate) fn trail(w: &Workdir) {
    let alice = iam_user(ACCT, "alice", "AKIAALICE");
    let bob = iam_user(ACCT, "bob", "AKIABOB");
    let carol = iam_user(ACCT, "carol", "AKIACAROL");
    let dave = iam_user(ACCT, "dave", "AKIADAVE");
    let erin = iam_user(ACCT, "erin", "AKIAERIN");
    let a_sess = role_session(&session_arn(ROLE_A, "alice"), "ASIAALICE", "2026-11-20T22:30:00Z");
    let b_sess = role_session(&session_arn(ROLE_B, "alice-b"), "ASIAALICEB", "2026-11-21T00:30:00Z");
    let c_sess = role_session(&session_arn(ROLE_C, "bob"), "ASIABOB", "2026-11-21T09:00:00Z");
    let d_sess = role_session(&session_arn(ROLE_D, "carol"), "ASIACAROL", "2026-11-20T15:00:00Z");
    let e_sess = role_session(&session_arn(ROLE_A, "erin"), "ASIAERIN", "2026-11-22T20:00:00Z");
    // Day 1.
    deliver(
        w,
        "2026/11/20/d1-1500.json.gz",
        "2026-11-20T15:10:00Z",
        &[
            assume_role("d1", "2026-11-20T15:00:00Z", carol, ROLE_D, "carol", "ASIACAROL", "2026-11-20T16:00:00Z"),
            call("c0", "2026-11-20T15:05:00Z", "ListBuckets", d_sess.clone(), "198.51.100.7"),
        ],
    );
    deliver(
        w,
        "2026/11/20/d1-2300.json.gz",
        "2026-11-20T23:10:00Z",
        &[
            assume_role(
                "a1",
                "2026-11-20T22:30:00Z",
                alice.clone(),
                ROLE_A,
                "alice",
                "ASIAALICE",
                "2026-11-21T10:30:00Z",
            ),
            call("a1c1", "2026-11-20T23:00:00Z", "ListBuckets", a_sess.clone(), "203.0.113.10"),
        ],
    );
    // Carol's later calls of day 1, delivered on day 2: a late file in day 1's folder.
    deliver(
        w,
        "2026/11/20/d1-late.json.gz",
        "2026-11-21T02:00:00Z",
        &[
            call("c1", "2026-11-20T15:20:00Z", "GetObject", d_sess.clone(), "198.51.100.7"),
            call("c2", "2026-11-20T15:30:00Z", "PutObject", d_sess, "198.51.100.7"),
        ],
    );
    // Day 2: Alice goes on after midnight and chains into RoleB; Bob creates a user.
    deliver(
        w,
        "2026/11/21/d2-0100.json.gz",
        "2026-11-21T01:10:00Z",
        &[
            call("a1c2", "2026-11-21T00:10:00Z", "GetObject", a_sess.clone(), "203.0.113.10"),
            assume_role(
                "b1",
                "2026-11-21T00:30:00Z",
                a_sess.clone(),
                ROLE_B,
                "alice-b",
                "ASIAALICEB",
                "2026-11-21T01:30:00Z",
            ),
            call("b1c1", "2026-11-21T00:40:00Z", "ListBuckets", b_sess.clone(), "203.0.113.10"),
        ],
    );
    deliver(
        w,
        "2026/11/21/d2-0900.json.gz",
        "2026-11-21T09:20:00Z",
        &[
            assume_role("c1a", "2026-11-21T09:00:00Z", bob, ROLE_C, "bob", "ASIABOB", "2026-11-21T10:00:00Z"),
            as_call(
                call("c1p", "2026-11-21T09:10:00Z", "CreateUser", c_sess, "203.0.113.20"),
                "iam.amazonaws.com",
                "CreateUser",
            ),
            call("a1c3", "2026-11-21T09:15:00Z", "PutObject", a_sess, "203.0.113.10"),
        ],
    );
    // Day 3: Dave, and Erin, whose session is still open at the last cut-off.
    deliver(
        w,
        "2026/11/22/d3-0800.json.gz",
        "2026-11-22T08:10:00Z",
        &[assume_role("d3", "2026-11-22T08:00:00Z", dave, ROLE_A, "dave", "ASIADAVE", "2026-11-22T09:00:00Z")],
    );
    deliver(
        w,
        "2026/11/22/d3-2000.json.gz",
        "2026-11-22T20:10:00Z",
        &[
            assume_role("e3", "2026-11-22T20:00:00Z", erin, ROLE_A, "erin", "ASIAERIN", "2026-11-23T08:00:00Z"),
            call("e3c1", "2026-11-22T20:05:00Z", "ListBuckets", e_sess, "203.0.113.30"),
        ],
    );
    // A file delivered after the last cut-off: no run here reads it.
    deliver(
        w,
        "2026/11/23/d4-0100.json.gz",
        "2026-11-23T01:10:00Z",
        &[call("late", "2026-11-23T00:30:00Z", "ListBuckets", iam_user(ACCT, "zed", "AKIAZED"), "203.0.113.99")],
    );
}

fn nightly(w: &Workdir, state: &str, out: &str, until: &str, extra: &[&str]) -> Run {
    let mut args =
        vec!["nightly", "--source", "logs", "--state", state, "--out", out, "--until", until, "--late", LATE];
    args.extend_from_slice(extra);
    let r = w.run(&args);
    assert!(r.code == 0 || r.code == 3, "nightly failed: {}\n{}", r.stdout, r.stderr);
    r
}

pub(crate) fn history_json(w: &Workdir, args: &[&str]) -> Vec<Value> {
    let r = trailscan(w.path(), args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json()
}

pub(crate) fn sessions(w: &Workdir, out: &str) -> Vec<Value> {
    history_json(w, &["sessions", "--history", out, "--format", "json"])
}

/// (rule, session_event_id) of every finding in the history.
pub(crate) fn findings(w: &Workdir, out: &str) -> Vec<(String, String)> {
    let rows =
        history_json(w, &["query", "--history", out, "SELECT rule, session_event_id FROM flags", "--format", "json"]);
    let mut v: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["rule"].as_str().unwrap_or("").to_owned(), r["session_event_id"].as_str().unwrap_or("").to_owned()))
        .collect();
    v.sort();
    v
}

pub(crate) fn batch(w: &Workdir) -> (Vec<Value>, Vec<(String, String)>) {
    nightly(w, "batch-state", "batch-out", CUTOFFS[2], &[]);
    (sessions(w, "batch-out"), findings(w, "batch-out"))
}

/// The history in `out` holds what one run over the whole trail holds: the same sessions and findings.
fn assert_equals_batch(w: &Workdir, out: &str) {
    let (batch_sessions, batch_findings) = batch(w);
    assert_eq!(sessions(w, out), batch_sessions, "must equal one run over it all");
    assert_eq!(findings(w, out), batch_findings);
}

#[test]
fn day_by_day_equals_batch() {
    let w = Workdir::new();
    trail(&w);
    let first = nightly(&w, "state", "out", CUTOFFS[0], &[]);
    assert!(
        first.stdout.starts_with("trailscan nightly: cut-off 2026-11-21T00:00:00Z: 2 files read"),
        "{}",
        first.stdout
    );
    assert_eq!(first.stdout.lines().count(), 1, "one summary line for cron mail: {}", first.stdout);
    // Day 2 brings Bob's CreateUser: a new high finding, so --fail-on high exits 3.
    let second = nightly(&w, "state", "out", CUTOFFS[1], &["--fail-on", "high"]);
    assert_eq!(second.code, 3, "{}\n{}", second.stdout, second.stderr);
    assert!(second.stdout.contains("3 files read"), "the late file of day 1 is read on day 2: {}", second.stdout);
    nightly(&w, "state", "out", CUTOFFS[2], &[]);

    let (batch_sessions, batch_findings) = batch(&w);
    let daily = sessions(&w, "out");
    assert_eq!(daily, batch_sessions, "day by day must equal batch");
    // The history answers as a plain run over the same logs does.
    let live = history_json(&w, &["who-became-what", "-s", "logs", "--format", "json"]);
    let from_history = history_json(&w, &["who-became-what", "--history", "out", "--format", "json"]);
    assert_eq!(from_history, live);
    assert_eq!(findings(&w, "out"), batch_findings);
    assert!(batch_findings.contains(&("privileged-action-in-session".into(), "c1a".into())), "{batch_findings:?}");

    // Each session once; the one across midnight with all its calls, the late calls linked to Carol's.
    let ids: Vec<&str> = daily.iter().map(|r| r["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["d1", "a1", "b1", "c1a", "d3", "e3"]);
    let by = |id: &str| daily.iter().find(|r| r["event_id"] == id).unwrap().clone();
    assert_eq!(by("a1")["event_count"], 4, "two calls, the chained AssumeRole, one after midnight: {:?}", by("a1"));
    assert_eq!(by("b1")["chain_depth"], 2);
    assert_eq!(by("b1")["origin_principal"], "arn:aws:iam::111122223333:user/alice");
    assert_eq!(by("d1")["event_count"], 3, "the late file's calls join Carol's session");

    // Erin's session is open: in an open part, which the next run would replace.
    let open = std::fs::read_dir(w.path().join("out/history/sessions/dt=2026-11-22")).unwrap().count();
    assert_eq!(open, 2, "Dave's final part and Erin's open part");

    // Findings for SIEM pickup: NDJSON, one object a line.
    let ndjson =
        std::fs::read_dir(w.path().join("out/findings")).unwrap().map(|e| e.unwrap().path()).collect::<Vec<_>>();
    let all: String = ndjson.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    assert!(all.lines().any(|l| serde_json::from_str::<Value>(l).unwrap()["rule"] == "privileged-action-in-session"));
    // Each run left a bundle.
    assert_eq!(std::fs::read_dir(w.path().join("out/bundles")).unwrap().count(), 3);
}

#[test]
fn a_repeated_run_changes_nothing() {
    let w = Workdir::new();
    trail(&w);
    nightly(&w, "state", "out", CUTOFFS[0], &[]);
    nightly(&w, "state", "out", CUTOFFS[1], &[]);
    let before = (tree_bytes(&w.path().join("out")), tree_bytes(&w.path().join("state")));
    // The same files named by an absolute path are the same files.
    let logs = w.path().join("logs");
    let again = w.run(&[
        "nightly",
        "--source",
        logs.to_str().unwrap(),
        "--state",
        "state",
        "--out",
        "out",
        "--until",
        CUTOFFS[1],
        "--late",
        LATE,
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("nothing new"), "{}", again.stdout);
    assert!(!again.stderr.contains("no log files found"), "read before is not missing: {}", again.stderr);
    assert_eq!((tree_bytes(&w.path().join("out")), tree_bytes(&w.path().join("state"))), before);
}

/// A source that holds no logs at all (a mistyped folder in the cron line) is named on every run.
#[test]
fn a_source_with_no_logs_is_named() {
    let w = Workdir::new();
    std::fs::create_dir_all(w.path().join("logs")).unwrap();
    let r = nightly(&w, "state", "out", CUTOFFS[0], &[]);
    assert!(r.stderr.contains("trailscan: logs: no log files found"), "{}", r.stderr);
}

#[test]
fn an_undecodable_file_is_reported_once_and_read_again_when_it_changes() {
    let w = Workdir::new();
    trail(&w);
    // A delivery cut short: the first half of a gzip stream.
    let zed = iam_user(ACCT, "zed", "AKIAZED");
    let good = deliver(
        &w,
        "2026/11/20/whole.json.gz",
        "2026-11-20T23:00:00Z",
        &[call("z1", "2026-11-20T22:50:00Z", "ListBuckets", zed, "198.51.100.7")],
    );
    let whole = std::fs::read(&good).unwrap();
    std::fs::remove_file(&good).unwrap();
    let bad =
        w.write("logs/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/cut.json.gz", &whole[..whole.len() / 2]);
    stamp_delivery(&bad, "2026-11-20T23:00:00Z");
    let first = nightly(&w, "state", "out", CUTOFFS[0], &[]);
    assert!(first.stdout.contains("1 failed"), "{}", first.stdout);
    assert!(first.stderr.contains("cut.json.gz: truncated gzip"), "{}", first.stderr);

    // The same bytes fail the same way: a repeated run has nothing new and changes nothing.
    let before = (tree_bytes(&w.path().join("out")), tree_bytes(&w.path().join("state")));
    let again = nightly(&w, "state", "out", CUTOFFS[0], &[]);
    assert!(again.stdout.contains("nothing new"), "{}", again.stdout);
    assert!(!again.stderr.contains("no log files found"), "read before is not missing: {}", again.stderr);
    assert_eq!((tree_bytes(&w.path().join("out")), tree_bytes(&w.path().join("state"))), before);

    // The file is completed (caught mid-write): the next run reads it.
    std::fs::write(&bad, &whole).unwrap();
    stamp_delivery(&bad, "2026-11-20T23:30:00Z");
    let fixed = nightly(&w, "state", "out", CUTOFFS[1], &[]);
    assert!(fixed.stdout.contains(", 0 failed"), "{}", fixed.stdout);
    assert!(!fixed.stderr.contains("cut.json.gz"), "{}", fixed.stderr);
}

#[test]
fn old_date_folders_are_not_listed_again() {
    let w = Workdir::new();
    trail(&w);
    // Digests sit in date folders too: STATE forgets them with their folder, as it forgets the logs.
    deliver_digest(&w, "2026/11/20");
    deliver_digest(&w, "2026/11/22");
    let relist = ["--relist", "1d"];
    for cutoff in CUTOFFS {
        nightly(&w, "state", "out", cutoff, &relist);
    }
    assert_equals_batch(&w, "out");

    // STATE no longer names the files of folders dated more than a day before the newest (2026/11/22).
    let gz = std::fs::read(w.path().join("state/state.json.gz")).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    let st: Value = serde_json::from_str(&text).unwrap();
    let read: Vec<&String> = st["read"].as_object().unwrap().keys().collect();
    assert!(read.iter().any(|k| k.contains("/2026/11/22/") && k.contains("CloudTrail-Digest")), "{read:?}");
    assert!(read.iter().all(|k| k.contains("/2026/11/22/") || k.contains("/2026/11/21/")), "{read:?}");

    // So a file copied into an old folder later is not read: nightly is for what CloudTrail delivers.
    let zed = iam_user(ACCT, "zed", "AKIAZED");
    let copied = [call("z1", "2026-11-20T10:00:00Z", "ListBuckets", zed, "198.51.100.7")];
    deliver(&w, "2026/11/20/copied.json.gz", "2026-11-23T01:00:00Z", &copied);
    nightly(&w, "state", "out", "2026-11-24T00:00:00Z", &relist);
    let files_tables: Vec<String> = files_under(&w.path().join("out/bundles"))
        .into_iter()
        .filter(|p| p.ends_with("files.csv"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(files_tables.len(), 4);
    assert!(files_tables.iter().all(|t| !t.contains("copied.json.gz")), "{files_tables:?}");
}

/// Waits until `path` exists.
pub(crate) fn wait_for(path: &Path) {
    for _ in 0..600 {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{} never appeared", path.display());
}

/// `nightly` over `logs` into `state` and `out`, pausing `secs` before each commit (so a test can kill it
/// there), with `extra` arguments.
fn spawn_paused(w: &Workdir, until: &str, secs: &str, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_trailscan"))
        .current_dir(w.path())
        .args(["nightly", "--source", "logs", "--state", "state", "--out", "out", "--until", until, "--late", LATE])
        .args(extra)
        .env("TRAILSCAN_NIGHTLY_PAUSE_BEFORE_COMMIT", secs)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn killed_mid_run_loses_and_duplicates_nothing() {
    let w = Workdir::new();
    trail(&w);
    nightly(&w, "state", "out", CUTOFFS[0], &[]);
    // Run 2 is killed after writing its history parts, before committing STATE.
    let mut child = spawn_paused(&w, CUTOFFS[1], "60", &[]);
    wait_for(&w.path().join("out/history/sessions/dt=2026-11-21/part-000002.parquet"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(w.path().join("state/lock").exists(), "a killed run leaves its lock");
    // The rerun breaks the dead run's lock, removes its files, and does run 2 again.
    let rerun = nightly(&w, "state", "out", CUTOFFS[1], &[]);
    assert!(rerun.stderr.contains("breaking the lock"), "{}", rerun.stderr);
    assert!(rerun.stderr.contains("interrupted run"), "{}", rerun.stderr);
    nightly(&w, "state", "out", CUTOFFS[2], &[]);
    assert_equals_batch(&w, "out");
}

/// A backlog read in passes and killed in its second pass resumes there: the first pass stays committed,
/// the rerun reads the rest, and the history is the one of a run that was never interrupted.
#[test]
fn a_backlog_killed_in_a_pass_resumes_where_it_stopped() {
    let w = Workdir::new();
    trail(&w);
    // Every pass pauses before its commit: the first commits, the second is killed in its pause.
    let mut child = spawn_paused(&w, CUTOFFS[2], "3", &["--batch-size", "1"]);
    wait_for(&w.path().join("out/history/sessions/dt=2026-11-21/part-000002.parquet"));
    child.kill().unwrap();
    child.wait().unwrap();
    let rerun = nightly(&w, "state", "out", CUTOFFS[2], &["--batch-size", "1"]);
    assert!(rerun.stderr.contains("interrupted run"), "{}", rerun.stderr);
    let lines: Vec<&str> = rerun.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "the second and third passes: {}", rerun.stdout);
    assert!(lines[0].starts_with(&format!("trailscan nightly: cut-off {}:", CUTOFFS[1])), "{}", lines[0]);
    assert_equals_batch(&w, "out");
}

/// `--since` starts a first run at a day: trail date folders dated before it are never read, by that run or
/// a later one (a bucket with years of logs need not be read from its first day).
#[test]
fn since_starts_nightly_at_a_day() {
    let w = Workdir::new();
    trail(&w);
    let first = nightly(&w, "state", "out", CUTOFFS[1], &["--since", "2026-11-21"]);
    assert!(first.stdout.contains(": 2 files read"), "day 2's files, not day 1's three: {}", first.stdout);
    let second = nightly(&w, "state", "out", CUTOFFS[2], &[]);
    assert!(second.stdout.contains(": 2 files read"), "day 3's, and still not day 1's: {}", second.stdout);
    let ids: Vec<String> =
        sessions(&w, "out").iter().filter_map(|r| r["event_id"].as_str().map(str::to_owned)).collect();
    assert!(!ids.iter().any(|id| id == "d1"), "Carol's AssumeRole of day 1 is never read: {ids:?}");
    assert!(ids.iter().any(|id| id == "c1a"), "{ids:?}");
}

#[test]
fn a_second_concurrent_run_refuses() {
    let w = Workdir::new();
    trail(&w);
    let mut child = spawn_paused(&w, CUTOFFS[0], "60", &[]);
    // Its last file before the pause: the run is holding the lock, idle.
    wait_for(&w.path().join("out/history/flags/dt=2026-11-20/part-000001.parquet"));
    let second = w.run(&["nightly", "--source", "logs", "--state", "state", "--out", "out", "--until", CUTOFFS[0]]);
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(second.stderr.contains("another trailscan nightly run holds"), "{}", second.stderr);
    assert!(second.stderr.contains("--lock-expiry"), "{}", second.stderr);
    // A lock older than --lock-expiry is taken to be a hung run's, and broken.
    let r = trailscan_env(
        w.path(),
        &[
            "nightly",
            "--source",
            "logs",
            "--state",
            "state",
            "--out",
            "out",
            "--until",
            CUTOFFS[0],
            "--lock-expiry",
            "0s",
        ],
        &[],
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("breaking the lock") && r.stderr.contains("expired"), "{}", r.stderr);
}

#[test]
fn history_answers_without_logs() {
    let w = Workdir::new();
    trail(&w);
    for c in CUTOFFS {
        nightly(&w, "state", "out", c, &[]);
    }
    // No --source and no logs needed: move them away.
    std::fs::rename(w.path().join("logs"), w.path().join("gone")).unwrap();
    let who = history_json(&w, &["who-assumed", "RoleA", "--history", "out", "--format", "json"]);
    let ids: Vec<&str> = who.iter().map(|r| r["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a1", "d3", "e3"]);
    let became = history_json(&w, &["who-became-what", "alice", "--history", "out", "--format", "json"]);
    assert_eq!(became.len(), 2, "{became:?}");
    assert_eq!(became[1]["via"], "chain");
    let n = history_json(&w, &["query", "--history", "out", "SELECT count(*) AS n FROM actions", "--format", "json"]);
    assert!(n[0]["n"].as_u64().unwrap() > 0);
    let bob = history_json(&w, &["sessions", "--history", "out", "--principal", "bob", "--format", "json"]);
    assert_eq!(bob.len(), 1);
    let none = trailscan(w.path(), &["who-assumed", "NoSuchRole", "--history", "out"]);
    assert_eq!(none.code, 1);
    let missing = trailscan(w.path(), &["sessions", "--history", "nowhere"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("no history there"), "{}", missing.stderr);
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Gives every file of a generated corpus its delivery time (the `YYYYMMDDTHHMMZ` in its name) as its
/// modification time.
fn stamp_deliveries(dir: &Path) {
    for p in files_under(dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let stamp = name.split('_').nth(3).unwrap();
        let n = |a: usize, b: usize| stamp[a..b].parse::<i64>().unwrap();
        let secs = days_from_civil(n(0, 4), n(4, 6), n(6, 8)) * 86_400 + n(9, 11) * 3600 + n(11, 13) * 60;
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(UNIX_EPOCH + Duration::from_secs(secs as u64)).unwrap();
    }
}

/// Writes a generated organisation trail (people, services, chains, cross-account copies, denials,
/// deliveries up to 26 hours late) of 20,000 records over `days` days into `w/logs`.
fn generated_trail(w: &Workdir, days: &str) {
    generated_trail_of(w, days, "7", "2");
}

/// [`generated_trail`] with another seed and number of accounts.
fn generated_trail_of(w: &Workdir, days: &str, seed: &str, accounts: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trailscan-gen"))
        .args(["--out", w.path().join("logs").to_str().unwrap(), "--records", "20000", "--seed", seed])
        .args(["--accounts", accounts, "--regions", "1", "--days", days])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The generated trail run every 12 hours equals one run over it all.
#[test]
fn generated_trail_twelve_hourly_equals_batch() {
    let w = Workdir::new();
    generated_trail(&w, "1");
    stamp_deliveries(&w.path().join("logs"));
    let cutoffs = [
        "2026-11-19T06:00:00Z",
        "2026-11-19T12:00:00Z",
        "2026-11-19T18:00:00Z",
        "2026-11-20T00:00:00Z",
        "2026-11-20T12:00:00Z",
        "2026-11-21T00:00:00Z",
        "2026-11-22T00:00:00Z",
    ];
    let run = |state: &str, out: &str, until: &str| {
        let r =
            w.run(&["nightly", "--source", "logs", "--state", state, "--out", out, "--until", until, "--late", "27h"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        r
    };
    for c in cutoffs {
        run("state", "out", c);
    }
    run("batch-state", "batch-out", cutoffs[cutoffs.len() - 1]);
    let daily = sessions(&w, "out");
    let batch = sessions(&w, "batch-out");
    assert!(batch.len() > 100, "{}", batch.len());
    assert_eq!(daily.len(), batch.len());
    for (d, b) in daily.iter().zip(&batch) {
        assert_eq!(d, b, "day by day must equal batch");
    }
    assert_eq!(findings(&w, "out"), findings(&w, "batch-out"));
}

/// A cross-account assumption whose role owner's copy (the caller shown only as an account of the
/// organisation) is delivered before the caller's copy: the run that reads only the owner's copy does not
/// judge the pair it shows (the account and the role) for `first-seen-assumption`; the run that reads the
/// caller's copy judges the caller's pair, as one run over both does, and does not report again what the
/// first run reported on the owner's copy.
#[test]
fn first_seen_waits_for_the_callers_copy_of_a_cross_account_assumption() {
    const OWNER: &str = "444455556666";
    let role = format!("arn:aws:iam::{OWNER}:role/Deploy");
    let w = Workdir::new();
    let put = |account: &str, name: &str, delivered: &str, events: &[Value]| {
        let p = w.trail(&format!("logs/AWSLogs/{account}/CloudTrail/us-east-1/2026/11/20/{name}"), events);
        stamp_delivery(&p, delivered);
    };
    let mut caller_copy = assume_role(
        "caller-copy",
        "2026-11-20T10:00:00Z",
        iam_user(ACCT, "alice", "AKIAALICE"),
        &role,
        "alice",
        "ASIAALICEX",
        "2026-11-20T11:00:00Z",
    );
    caller_copy["sharedEventID"] = serde_json::json!("shared-1");
    caller_copy["recipientAccountId"] = serde_json::json!(ACCT);
    let mut owner_copy = caller_copy.clone();
    owner_copy["eventID"] = serde_json::json!("owner-copy");
    owner_copy["recipientAccountId"] = serde_json::json!(OWNER);
    owner_copy["userIdentity"] =
        serde_json::json!({"type": "AWSAccount", "principalId": "AIDAEXAMPLE", "accountId": ACCT});
    let session =
        role_session(&format!("arn:aws:sts::{OWNER}:assumed-role/Deploy/alice"), "ASIAALICEX", "2026-11-20T10:00:00Z");
    let carol = iam_user(ACCT, "carol", "AKIACAROL");
    // Read by the first run: the owner's copy and a call of the session, and account 111122223333's other activity.
    let create_user = as_call(
        call("o2", "2026-11-20T10:06:00Z", "CreateUser", session.clone(), "203.0.113.10"),
        "iam.amazonaws.com",
        "CreateUser",
    );
    put(
        OWNER,
        "owner.json.gz",
        "2026-11-20T10:10:00Z",
        &[owner_copy, call("o1", "2026-11-20T10:05:00Z", "ListBuckets", session, "203.0.113.10"), create_user],
    );
    let mut carols_call = call("c1", "2026-11-20T10:01:00Z", "ListBuckets", carol, "198.51.100.7");
    carols_call["recipientAccountId"] = serde_json::json!(ACCT);
    put(ACCT, "other.json.gz", "2026-11-20T10:10:00Z", &[carols_call]);
    // The caller's copy, delivered after the first run's cut-off.
    put(ACCT, "caller.json.gz", "2026-11-20T13:10:00Z", &[caller_copy]);

    for cutoff in ["2026-11-20T12:00:00Z", "2026-11-20T18:00:00Z"] {
        nightly(&w, "state", "out", cutoff, &[]);
    }
    nightly(&w, "batch-state", "batch-out", "2026-11-20T18:00:00Z", &[]);
    let first_seen = |out: &str| -> Vec<String> {
        findings(&w, out).into_iter().filter(|(rule, _)| rule == "first-seen-assumption").map(|(_, id)| id).collect()
    };
    assert_eq!(first_seen("out"), ["caller-copy"], "judged once, on the caller's pair");
    // The session's CreateUser was reported by the first run, on the owner's copy (what it knew then); the
    // second run, which reads the caller's copy, knows it is the same session and does not report it again.
    let privileged = |out: &str| -> Vec<String> {
        let rows = findings(&w, out).into_iter();
        rows.filter(|(rule, _)| rule == "privileged-action-in-session").map(|(_, id)| id).collect()
    };
    assert_eq!(privileged("out"), ["owner-copy"]);
    assert_eq!(privileged("batch-out"), ["caller-copy"]);
    // The session itself, its flags column included, is the batch run's.
    let (daily, batch) = (sessions(&w, "out"), sessions(&w, "batch-out"));
    assert_eq!(daily.len(), 1);
    assert_eq!(daily[0]["event_id"], "caller-copy");
    assert_eq!(daily[0]["flags"], "first-seen-assumption;privileged-action-in-session");
    assert_eq!(daily, batch);
}

/// An attack tool using an IAM user's own key is reported once for its day, though the activity nightly
/// carries loses that day's first call before a later run (unclaimed activity is kept 36 hours before the
/// horizon): the third run finds the day's second call first, and knows the finding.
#[test]
fn a_users_attack_tool_day_is_reported_once() {
    let w = Workdir::new();
    let truffle = |id: &str, time: &str| {
        let mut e = as_call(
            call(id, time, "x", iam_user(ACCT, "bob", "AKIABOB"), "198.51.100.9"),
            "sts.amazonaws.com",
            "GetCallerIdentity",
        );
        e["userAgent"] = serde_json::json!("trufflehog/3.63.0");
        e
    };
    deliver(
        &w,
        "2026/11/20/t.json.gz",
        "2026-11-20T16:10:00Z",
        &[truffle("t1", "2026-11-20T10:00:00Z"), truffle("t2", "2026-11-20T16:00:00Z")],
    );
    let dave = iam_user(ACCT, "dave", "AKIADAVE");
    for (id, time, delivered) in
        [("d1", "2026-11-22T05:00:00Z", "2026-11-22T06:00:00Z"), ("d2", "2026-11-22T20:00:00Z", "2026-11-22T21:00:00Z")]
    {
        let file = format!("2026/11/22/{id}.json.gz");
        deliver(&w, &file, delivered, &[call(id, time, "ListBuckets", dave.clone(), "198.51.100.7")]);
    }
    // The second run's horizon is 2026-11-22T00:00 (12 h of --late): it carries bob's activity from
    // 2026-11-20T12:00 on, so the third run reads only his second call.
    for cutoff in ["2026-11-21T00:00:00Z", "2026-11-22T12:00:00Z", "2026-11-23T00:00:00Z"] {
        nightly(&w, "state", "out", cutoff, &[]);
    }
    let tool: Vec<(String, String)> =
        findings(&w, "out").into_iter().filter(|(rule, _)| rule == "attack-tool-user-agent").collect();
    assert_eq!(tool.len(), 1, "{tool:?}");
}

/// A first run over a backlog larger than `--batch-size` reads it in passes of whole trail days, each
/// committed as a run, and leaves the history that one pass over it all leaves.
#[test]
fn a_backlog_is_read_in_passes_of_whole_days_and_equals_one_pass() {
    let w = Workdir::new();
    trail(&w);
    deliver_digest(&w, "2026/11/21");
    // A byte: every trail day is a pass. Bob's CreateUser (day 2, not the last pass) still sets the exit code.
    let r = nightly(&w, "state", "out", CUTOFFS[2], &["--batch-size", "1", "--fail-on", "high"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("reading them in 3 passes of whole trail days"), "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a summary line per pass: {}", r.stdout);
    for (line, cutoff) in lines.iter().zip(CUTOFFS) {
        assert!(line.starts_with(&format!("trailscan nightly: cut-off {cutoff}:")), "{line}");
    }
    assert_equals_batch(&w, "out");
    assert_eq!(std::fs::read_dir(w.path().join("out/bundles")).unwrap().count(), 3, "a bundle per pass");
    // A pass before the last writes only the sessions it finished: the first finishes none of its two (Carol's
    // and Alice's are open at its cut-off), so its bundle has none; they are in the second pass's, final.
    assert!(lines[0].contains("sessions: 0 finished, 2 open"), "{}", lines[0]);
    let bundle_sessions = |run: &str| {
        let csv = std::fs::read_to_string(w.path().join(format!("out/bundles/{run}/sessions.csv"))).unwrap();
        csv.lines().skip(1).filter_map(|l| l.split(',').find(|c| ["d1", "a1"].contains(c))).count()
    };
    assert_eq!(bundle_sessions("run-000001-2026-11-21T000000Z"), 0);
    assert_eq!(bundle_sessions("run-000002-2026-11-22T000000Z"), 2);
    // Each pass lists its own days: the digest of day 2 is set aside by the pass of day 2, not the last.
    let digest_in = |run: &str| {
        let csv = std::fs::read_to_string(w.path().join(format!("out/bundles/{run}/files.csv"))).unwrap();
        csv.lines().any(|l| l.contains("CloudTrail-Digest_") && l.contains("skipped"))
    };
    assert!(digest_in("run-000002-2026-11-22T000000Z"));
    assert!(!digest_in("run-000003-2026-11-23T000000Z"));
    // Every pass was committed: nothing is left to read.
    let again = nightly(&w, "state", "out", CUTOFFS[2], &["--batch-size", "1"]);
    assert!(again.stdout.starts_with("trailscan nightly: nothing new"), "{}", again.stdout);
}

/// The same on the generated trail: three days of folders, with sessions and late deliveries across midnight,
/// some AssumeRole records among them a day late. The passes equal one pass over it all, findings included:
/// `first-seen-assumption` waits, in a pass that another follows, for the sessions still open to it, so an
/// earlier assumption of a pair delivered late is the one named. (Nightly runs at those midnights report
/// such a pair at once, on the first assumption they have read.)
#[test]
fn generated_backlog_in_passes_equals_one_pass() {
    let w = Workdir::new();
    generated_trail(&w, "3");
    stamp_deliveries(&w.path().join("logs"));
    let run = |state: &str, out: &str, until: &str, batch: &str| {
        let r = w.run(&[
            "nightly",
            "--source",
            "logs",
            "--state",
            state,
            "--out",
            out,
            "--until",
            until,
            "--late",
            "27h",
            "--batch-size",
            batch,
        ]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        r
    };
    let last = "2026-11-23T00:00:00Z";
    let passes = run("state", "out", last, "1");
    // Three days of trail, and the deliveries that came late enough to land in the folder of a fourth.
    let day_of = |f: &Path| f.parent().unwrap().iter().rev().take(3).map(|c| c.to_owned()).collect::<Vec<_>>();
    let days: std::collections::BTreeSet<_> = files_under(&w.path().join("logs")).iter().map(|f| day_of(f)).collect();
    assert!((3..=4).contains(&days.len()), "{days:?}");
    assert_eq!(passes.stdout.lines().count(), days.len(), "a pass per day: {}", passes.stdout);
    run("batch-state", "batch-out", last, "1GB");
    let (by_pass, batch) = (sessions(&w, "out"), sessions(&w, "batch-out"));
    assert!(by_pass.len() > 100, "{}", by_pass.len());
    assert_eq!(by_pass.len(), batch.len());
    for (p, b) in by_pass.iter().zip(&batch) {
        assert_eq!(p, b, "passes must equal one pass");
    }
    assert_eq!(findings(&w, "out"), findings(&w, "batch-out"));

    // Nightly runs at the same cut-offs leave the same sessions; only their first-seen findings may name
    // a later assumption of a pair, the first they had read.
    for until in ["2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", last] {
        run("nightly-state", "nightly-out", until, "1GB");
    }
    let without_flags = |rows: Vec<Value>| -> Vec<Value> {
        rows.into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("flags");
                r
            })
            .collect()
    };
    assert_eq!(without_flags(by_pass), without_flags(sessions(&w, "nightly-out")));
    let others = |f: Vec<(String, String)>| -> Vec<(String, String)> {
        f.into_iter().filter(|(rule, _)| rule != "first-seen-assumption").collect()
    };
    assert_eq!(others(findings(&w, "out")), others(findings(&w, "nightly-out")));
}

/// A burst of denied assumptions that a cut-off splits (a scan for roles from 23:54 to 00:05, the night's
/// run at midnight reading only its first part) is reported once, by the run that has read enough of it
/// (the first run when its part is already a burst, else the second), as one run over all of it reports it.
#[test]
fn a_role_enumeration_burst_split_by_a_cut_off_is_reported_once() {
    for before_midnight in [6, 10] {
        let w = Workdir::new();
        let caller = iam_user(ACCT, "mallory", "AKIAMALLORY");
        let denial = |n: usize, at: String| {
            denied_assume_role(&format!("deny-{n}"), &at, caller.clone(), &format!("arn:aws:iam::{ACCT}:role/Guess{n}"))
        };
        let before: Vec<Value> =
            (0..before_midnight).map(|n| denial(n, format!("2026-11-20T23:54:{:02}Z", n * 5))).collect();
        let after: Vec<Value> =
            (before_midnight..14).map(|n| denial(n, format!("2026-11-21T00:0{}:00Z", n - before_midnight))).collect();
        deliver(&w, "2026/11/20/a_CloudTrail_us-east-1_20261120T2359Z_a.json.gz", "2026-11-20T23:59:00Z", &before);
        deliver(&w, "2026/11/21/b_CloudTrail_us-east-1_20261121T0009Z_b.json.gz", "2026-11-21T00:09:00Z", &after);
        let first = nightly(&w, "state", "out", "2026-11-21T00:00:00Z", &[]);
        assert_eq!(first.stdout.contains("new findings: 1 "), before_midnight >= 10, "{}", first.stdout);
        nightly(&w, "state", "out", "2026-11-22T00:00:00Z", &[]);
        nightly(&w, "batch-state", "batch-out", "2026-11-22T00:00:00Z", &[]);
        let enumeration = |out: &str| -> Vec<(String, String)> {
            findings(&w, out).into_iter().filter(|(rule, _)| rule == "role-enumeration").collect()
        };
        assert_eq!(enumeration("batch-out").len(), 1, "one run over it all: {:?}", findings(&w, "batch-out"));
        assert_eq!(enumeration("out"), enumeration("batch-out"), "{before_midnight} denials before midnight");
    }
}

/// A chained hop read before the hop that issued its caller's credentials (delivered hours late): the run
/// that reads only the later hop leaves its findings (its `first-seen-assumption` pair, the privileged call
/// its session made) to the run that reads the earlier one, whose findings name the chain's origin, as one
/// run over both does.
#[test]
fn findings_on_a_chained_hop_wait_for_its_earlier_hop() {
    let w = Workdir::new();
    // Alice's session of `role`, assumed at `at` (HH:MM on the day) with `caller` and lasting an hour.
    let hop = |id: &str, at: &str, caller: Value, role: &str, key: &str| {
        let expires = format!("2026-11-20T{}:{}:00Z", at[..2].parse::<u8>().unwrap() + 1, &at[3..]);
        assume_role(id, &format!("2026-11-20T{at}:00Z"), caller, role, "alice", key, &expires)
    };
    let first_hop = hop("first-hop", "10:00", iam_user(ACCT, "alice", "AKIAALICE"), ROLE_A, "ASIAFIRST");
    let caller =
        role_session(&format!("arn:aws:sts::{ACCT}:assumed-role/RoleA/alice"), "ASIAFIRST", "2026-11-20T10:00:00Z");
    let second_hop = hop("second-hop", "10:05", caller, ROLE_B, "ASIASECOND");
    let in_second =
        role_session(&format!("arn:aws:sts::{ACCT}:assumed-role/RoleB/alice"), "ASIASECOND", "2026-11-20T10:05:00Z");
    let create = as_call(
        call("create", "2026-11-20T10:06:00Z", "CreateUser", in_second, "203.0.113.10"),
        "iam.amazonaws.com",
        "CreateUser",
    );
    deliver(
        &w,
        "2026/11/20/b_CloudTrail_us-east-1_20261120T1010Z_b.json.gz",
        "2026-11-20T10:10:00Z",
        &[second_hop, create],
    );
    deliver(&w, "2026/11/20/a_CloudTrail_us-east-1_20261120T1200Z_a.json.gz", "2026-11-20T12:00:00Z", &[first_hop]);
    nightly(&w, "state", "out", "2026-11-20T11:00:00Z", &[]);
    nightly(&w, "state", "out", "2026-11-20T13:00:00Z", &[]);
    nightly(&w, "batch-state", "batch-out", "2026-11-20T13:00:00Z", &[]);
    let found = |out: &str| -> Vec<(String, String, String)> {
        let sql = "SELECT rule, session_event_id, principal FROM flags ORDER BY 1, 2";
        let rows = history_json(&w, &["query", "--history", out, sql, "--format", "json"]);
        let text = |r: &Value, c: &str| r[c].as_str().unwrap().to_owned();
        rows.iter().map(|r| (text(r, "rule"), text(r, "session_event_id"), text(r, "principal"))).collect()
    };
    let alice = format!("arn:aws:iam::{ACCT}:user/alice");
    let expected = [
        ("first-seen-assumption", "first-hop"),
        ("first-seen-assumption", "second-hop"),
        ("privileged-action-in-session", "second-hop"),
    ]
    .map(|(rule, id)| (rule.to_owned(), id.to_owned(), alice.clone()));
    assert_eq!(found("batch-out"), expected);
    assert_eq!(found("out"), found("batch-out"));
}

/// A backlog read in passes reports a finding that a session's own calls decide as one pass does, even
/// when the session's first privileged call is delivered late, in the next day's folder: the pass of the
/// first day, which another follows, leaves the finding on the still open session to the next pass.
#[test]
fn a_pass_leaves_findings_on_open_sessions_to_the_next_pass() {
    let w = Workdir::new();
    let user = iam_user(ACCT, "alice", "AKIAALICE");
    let session =
        role_session(&format!("arn:aws:sts::{ACCT}:assumed-role/RoleA/alice"), "ASIAA", "2026-11-20T23:30:00Z");
    let assumed = assume_role("a1", "2026-11-20T23:30:00Z", user, ROLE_A, "alice", "ASIAA", "2026-11-21T00:30:00Z");
    let create = |id: &str, at: &str| {
        as_call(call(id, at, "CreateUser", session.clone(), "203.0.113.10"), "iam.amazonaws.com", "CreateUser")
    };
    deliver(
        &w,
        "2026/11/20/a_CloudTrail_us-east-1_20261120T2355Z_a.json.gz",
        "2026-11-20T23:55:00Z",
        &[assumed, create("c2", "2026-11-20T23:50:00Z")],
    );
    deliver(
        &w,
        "2026/11/21/b_CloudTrail_us-east-1_20261121T0030Z_b.json.gz",
        "2026-11-21T00:30:00Z",
        &[create("c1", "2026-11-20T23:40:00Z")],
    );
    nightly(&w, "state", "out", CUTOFFS[2], &["--batch-size", "1"]);
    nightly(&w, "batch-state", "batch-out", CUTOFFS[2], &[]);
    let privileged = |out: &str| -> Vec<(String, String)> {
        let sql = "SELECT session_event_id, detected_at FROM flags WHERE rule = 'privileged-action-in-session'";
        let rows = history_json(&w, &["query", "--history", out, sql, "--format", "json"]);
        rows.iter()
            .map(|r| (r["session_event_id"].as_str().unwrap().into(), r["detected_at"].as_str().unwrap().into()))
            .collect()
    };
    assert_eq!(privileged("batch-out"), [("a1".to_owned(), "2026-11-20T23:40:00Z".to_owned())]);
    assert_eq!(privileged("out"), privileged("batch-out"));
}

/// Two more generated trails, whose seeds once showed a run differ from one run over it all: three accounts
/// over three days, read night by night (seed 9: a chained hop whose earlier hop came late was reported with
/// the calling session as principal) and as a backlog in passes of 1MB (seed 3: a privileged call delivered
/// in the next day's folder was missing from its finding). Sessions and findings, with their principal and
/// time, equal one run's.
#[test]
fn generated_trails_of_other_seeds_equal_one_run() {
    for (seed, nights) in [("9", true), ("3", false)] {
        let w = Workdir::new();
        generated_trail_of(&w, "3", seed, "3");
        stamp_deliveries(&w.path().join("logs"));
        let run = |state: &str, out: &str, until: &str, batch: &str| {
            let args = ["--state", state, "--out", out, "--until", until, "--late", "27h", "--batch-size", batch];
            let r = w.run(&[&["nightly", "--source", "logs"][..], &args].concat());
            assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        };
        let last = "2026-11-24T00:00:00Z";
        if nights {
            for night in
                ["2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z", last]
            {
                run("state", "out", night, "1GB");
            }
        } else {
            run("state", "out", last, "1MB");
        }
        run("batch-state", "batch-out", last, "1GB");
        let found = |out: &str| {
            let sql = "SELECT rule, session_event_id, principal, detected_at FROM flags ORDER BY 1, 2, 3, 4";
            history_json(&w, &["query", "--history", out, sql, "--format", "json"])
        };
        let (split, whole) = (sessions(&w, "out"), sessions(&w, "batch-out"));
        assert!(whole.len() > 1000, "{}", whole.len());
        assert!(split == whole, "seed {seed}: the sessions differ from one run's");
        assert_eq!(found("out"), found("batch-out"), "seed {seed}");
    }
}
