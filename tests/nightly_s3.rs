//! `trailscan nightly` with STATE and OUT as `s3://` prefixes, and `--history s3://`, against the S3 test
//! server on 127.0.0.1. The trail is `nightly`'s, read from local files (their modification times are the
//! delivery times the cut-offs are about); only STATE, OUT and the history are on S3.

use crate::nightly::{batch, findings, sessions, trail, wait_for, CUTOFFS, LATE};
use crate::s3_server::Server;
use crate::util::{files_under, Run, Workdir};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const STATE: &str = "s3://ops/trailscan/state";
const OUT: &str = "s3://ops/trailscan/out";

fn args<'a>(state: &'a str, out: &'a str, until: &'a str) -> Vec<&'a str> {
    vec!["nightly", "--source", "logs", "--state", state, "--out", out, "--until", until, "--late", LATE]
}

fn nightly_s3(server: &Server, w: &Workdir, until: &str, extra: &[&str]) -> Run {
    let mut a = args(STATE, OUT, until);
    a.extend_from_slice(extra);
    let r = server.run(w.path(), &a);
    assert!(r.code == 0 || r.code == 3, "nightly failed: {}\n{}", r.stdout, r.stderr);
    r
}

fn spawn_paused(server: &Server, w: &Workdir, until: &str, secs: u32) -> std::process::Child {
    server
        .command(w.path(), &args(STATE, OUT, until))
        .env("TRAILSCAN_NIGHTLY_PAUSE_BEFORE_COMMIT", secs.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// `query`, `sessions`, ... over `--history` as JSON rows.
fn answer(server: &Server, w: &Workdir, args: &[&str]) -> Vec<Value> {
    let r = server.run(w.path(), args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json()
}

/// The objects below `s3://bucket/prefix`, keyed relative to it, with their bytes.
fn objects(server: &Server, bucket: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    server
        .keys(bucket, prefix)
        .into_iter()
        .map(|k| (k[prefix.len()..].to_owned(), std::fs::read(server.path_of(bucket, &k)).unwrap()))
        .collect()
}

/// The files below `dir`, keyed relative to it, with their bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .map(|p| (p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/"), std::fs::read(&p).unwrap()))
        .collect()
}

/// Makes `s3://bucket/prefix` hold exactly the files of `dir`, uploading only new and changed files (as
/// `aws s3 sync --delete` does).
fn sync_up(server: &Server, bucket: &str, prefix: &str, dir: &Path) {
    let staged = Workdir::new();
    let local = files(dir);
    let remote = objects(server, bucket, prefix);
    for (rel, bytes) in &local {
        if remote.get(rel) != Some(bytes) {
            staged.write(&format!("{prefix}{rel}"), bytes);
        }
    }
    server.upload(bucket, staged.path());
    let client = server.client();
    for key in server.keys(bucket, prefix) {
        if !local.contains_key(&key[prefix.len()..]) {
            server.rt.block_on(client.delete_object().bucket(bucket).key(&key).send()).unwrap();
        }
    }
}

/// Day by day with STATE and OUT on S3 leaves, object for object, what the same runs leave in local
/// folders: the same history parts byte for byte, the same findings, the same bundles, the open parts of
/// earlier runs deleted, and STATE with no lock left behind.
#[test]
fn s3_state_and_out_equal_local_folders() {
    let server = Server::start();
    server.create_bucket("ops");
    let w = Workdir::new();
    trail(&w);
    for (i, until) in CUTOFFS.iter().enumerate() {
        let extra: &[&str] = if i == 1 { &["--fail-on", "high"] } else { &[] };
        let remote = nightly_s3(&server, &w, until, extra);
        let mut a = args("state", "out", until);
        a.extend_from_slice(extra);
        let local = w.run(&a);
        assert_eq!(remote.code, local.code, "{}\n{}", remote.stderr, local.stderr);
        let summary = |r: &Run| r.stdout.split("; bundle ").next().unwrap().to_owned();
        assert_eq!(summary(&remote), summary(&local));
        assert!(
            remote.stdout.trim_end().ends_with(&format!(
                "; bundle {OUT}/bundles/run-00000{}-{}",
                i + 1,
                until.replace(':', "")
            )),
            "the bundle is named where it is: {}",
            remote.stdout
        );
    }
    let remote = objects(&server, "ops", "trailscan/out/");
    let local = files(&w.path().join("out"));
    assert_eq!(remote.keys().collect::<Vec<_>>(), local.keys().collect::<Vec<_>>());
    for (rel, bytes) in &local {
        if rel.starts_with("history/") || rel.starts_with("findings/") {
            assert!(remote[rel] == *bytes, "{rel} differs");
        }
    }
    assert!(local.keys().any(|k| k.contains("/open-000003.parquet")), "Erin's session is still open");
    assert!(!local.keys().any(|k| k.contains("/open-000001.parquet")), "earlier open parts are dropped");
    assert_eq!(server.keys("ops", "trailscan/state/"), ["trailscan/state/state.json.gz"]);

    // A repeated run finds nothing new and changes nothing.
    let again = nightly_s3(&server, &w, CUTOFFS[2], &[]);
    assert!(again.stdout.contains("nothing new"), "{}", again.stdout);
    assert_eq!(objects(&server, "ops", "trailscan/out/"), remote);
}

/// A second run against the same S3 STATE refuses while the lock is held; a lock past --lock-expiry is
/// broken; and the run whose lock was broken cannot commit over the run that broke it.
#[test]
fn a_second_run_refuses_while_the_s3_lock_is_held() {
    let server = Server::start();
    server.create_bucket("ops");
    let w = Workdir::new();
    trail(&w);
    let child = spawn_paused(&server, &w, CUTOFFS[0], 30);
    // Its last object before the pause: the run holds the lock, idle, with OUT uploaded.
    wait_for(&server.path_of("ops", "trailscan/out/history/flags/dt=2026-11-20/part-000001.parquet"));
    assert!(server.path_of("ops", "trailscan/state/lock").exists());
    let second = server.run(w.path(), &args(STATE, OUT, CUTOFFS[0]));
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(second.stderr.contains(&format!("another trailscan nightly run holds {STATE}/lock")), "{}", second.stderr);
    assert!(second.stderr.contains("--lock-expiry") && second.stderr.contains("aws s3 rm"), "{}", second.stderr);
    assert!(!server.keys("ops", "trailscan/state/").contains(&"trailscan/state/state.json.gz".to_owned()));

    // Past --lock-expiry the lock is taken to be a hung run's: broken, and this run does the work.
    let mut a = args(STATE, OUT, CUTOFFS[0]);
    a.extend(["--lock-expiry", "0s"]);
    let breaker = server.run(w.path(), &a);
    assert_eq!(breaker.code, 0, "{}", breaker.stderr);
    assert!(breaker.stderr.contains("breaking the lock") && breaker.stderr.contains("expired"), "{}", breaker.stderr);
    assert!(breaker.stderr.contains("interrupted run"), "the paused run's uploads are cleaned: {}", breaker.stderr);
    let committed = objects(&server, "ops", "trailscan/");

    // The paused run wakes up: its commit is refused, and it changes nothing.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("changed while this run held the lock"), "{stderr}");
    assert_eq!(objects(&server, "ops", "trailscan/"), committed);
}

/// A run killed after uploading OUT and before committing STATE is repeated by the next run: it breaks
/// the dead run's lock, deletes what it uploaded, and does the work again. Nothing lost, nothing twice.
#[test]
fn killed_mid_run_on_s3_loses_and_duplicates_nothing() {
    let server = Server::start();
    server.create_bucket("ops");
    let w = Workdir::new();
    trail(&w);
    nightly_s3(&server, &w, CUTOFFS[0], &[]);
    let mut child = spawn_paused(&server, &w, CUTOFFS[1], 60);
    wait_for(&server.path_of("ops", "trailscan/out/history/sessions/dt=2026-11-21/part-000002.parquet"));
    wait_for(&server.path_of("ops", "trailscan/out/history/flags/dt=2026-11-21/part-000002.parquet"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(server.path_of("ops", "trailscan/state/lock").exists(), "a killed run leaves its lock");
    let rerun = nightly_s3(&server, &w, CUTOFFS[1], &[]);
    assert!(rerun.stderr.contains("breaking the lock") && rerun.stderr.contains("process is gone"), "{}", rerun.stderr);
    assert!(rerun.stderr.contains(&format!("interrupted run left in {OUT}")), "{}", rerun.stderr);
    nightly_s3(&server, &w, CUTOFFS[2], &[]);

    let (batch_sessions, batch_findings) = batch(&w);
    let from_s3 = answer(&server, &w, &["sessions", "--history", OUT, "--format", "json"]);
    assert_eq!(from_s3, batch_sessions);
    let mut flags: Vec<(String, String)> = answer(
        &server,
        &w,
        &["query", "--history", OUT, "SELECT rule, session_event_id FROM flags", "--format", "json"],
    )
    .iter()
    .map(|r| (r["rule"].as_str().unwrap().to_owned(), r["session_event_id"].as_str().unwrap().to_owned()))
    .collect();
    flags.sort();
    assert_eq!(flags, batch_findings);
    // One run 2 in the history: the killed run's parts were replaced, not added to.
    let run2: Vec<String> =
        server.keys("ops", "trailscan/out/").into_iter().filter(|k| k.contains("-000002")).collect();
    assert!(run2.iter().filter(|k| k.starts_with("trailscan/out/findings/")).count() == 1, "{run2:?}");
}

/// A run killed on S3 leaves its staging folders in the temporary folder; the next run on the machine removes
/// them, and leaves alone those of a live run and one whose run is still creating it.
#[test]
fn staging_folders_of_killed_runs_are_removed_by_the_next_run() {
    let server = Server::start();
    server.create_bucket("ops");
    let w = Workdir::new();
    trail(&w);
    let tmp = w.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let staging = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("trailscan-nightly-"))
            .collect();
        names.sort();
        names
    };
    let run = |until: &str| {
        let out = server.command(w.path(), &args(STATE, OUT, until)).env("TMPDIR", &tmp).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let mut child = server
        .command(w.path(), &args(STATE, OUT, CUTOFFS[0]))
        .env("TMPDIR", &tmp)
        .env("TRAILSCAN_NIGHTLY_PAUSE_BEFORE_COMMIT", "60")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The lock is taken once both staging folders exist.
    wait_for(&server.path_of("ops", "trailscan/state/lock"));
    let killed = staging();
    assert_eq!(killed.len(), 2, "STATE's and OUT's: {killed:?}");

    // While the run lives, another run (refused by the lock) leaves its folders alone.
    let (code, stderr) = run(CUTOFFS[0]);
    assert_ne!(code, Some(0), "{stderr}");
    assert_eq!(staging(), killed, "{stderr}");

    child.kill().unwrap();
    child.wait().unwrap();
    // A folder that another run is creating (no owner note yet) stays too.
    std::fs::create_dir(tmp.join("trailscan-nightly-starting")).unwrap();
    let (code, stderr) = run(CUTOFFS[0]);
    assert_eq!(code, Some(0), "{stderr}");
    for name in &killed {
        assert!(stderr.contains(&format!("{name}, left by a killed run")), "{stderr}");
    }
    assert_eq!(staging(), vec!["trailscan-nightly-starting".to_owned()], "{stderr}");
}

/// `--history s3://…` answers as `--history` on the folder does, fetching only parts it does not hold yet,
/// and forgetting the open parts a later run replaced.
#[test]
fn history_on_s3_answers_like_the_folder() {
    let server = Server::start();
    server.create_bucket("hist");
    let w = Workdir::new();
    trail(&w);
    let local_run = |until: &str| {
        let r = w.run(&args("state", "out", until));
        assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    };
    local_run(CUTOFFS[0]);
    local_run(CUTOFFS[1]);
    sync_up(&server, "hist", "team/out/", &w.path().join("out"));
    let h = "s3://hist/team/out";
    let questions: [&[&str]; 4] = [
        &["sessions", "--format", "json"],
        &["who-assumed", "RoleA", "--format", "json"],
        &["who-became-what", "alice", "--format", "json"],
        &["query", "SELECT rule, session_event_id FROM flags ORDER BY 1, 2", "--format", "json"],
    ];
    let ask = |q: &[&str], history: &str| {
        let mut a = q.to_vec();
        a.extend(["--history", history]);
        answer(&server, &w, &a)
    };
    server.fetched();
    for q in questions {
        assert_eq!(ask(q, h), ask(q, "out"), "{q:?}");
    }
    let parts = server.keys("hist", "team/out/history/").len();
    assert_eq!(server.fetched().len(), parts, "each part fetched once, by the first question");
    assert_eq!(sessions(&w, "out").len(), ask(questions[0], h).len());
    assert!(server.fetched().is_empty(), "nothing changed: nothing fetched");

    // Day 3: new parts, and the open parts of day 2 replaced.
    local_run(CUTOFFS[2]);
    let before: Vec<String> = server.keys("hist", "team/out/history/");
    sync_up(&server, "hist", "team/out/", &w.path().join("out"));
    let added: Vec<String> =
        server.keys("hist", "team/out/history/").into_iter().filter(|k| !before.contains(k)).collect();
    for q in questions {
        assert_eq!(ask(q, h), ask(q, "out"), "{q:?}");
    }
    let mut fetched = server.fetched();
    fetched.sort();
    assert_eq!(fetched, added, "only the new parts are fetched");
    assert_eq!(findings(&w, "out").len(), ask(questions[3], h).len());

    let none = server.run(w.path(), &["sessions", "--history", "s3://hist/elsewhere"]);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("no history there"), "{}", none.stderr);
}

/// A backlog in an S3 trail bucket, read in passes (they share one S3 client) with STATE and OUT on S3 too,
/// leaves what the same passes over the local folder leave: the same history, and no open part of an
/// earlier pass uploaded again after that pass dropped it.
#[test]
fn a_backlog_on_s3_read_in_passes_equals_the_folder() {
    let server = Server::start();
    server.create_bucket("trail");
    server.create_bucket("ops");
    let w = Workdir::new();
    trail(&w);
    server.upload("trail", &w.path().join("logs"));
    // Uploaded now: a cut-off after that reads every file, on S3 and on disk alike.
    let until = "2099-01-01T00:00:00Z";
    let in_passes = |source: &'static str, state: &'static str, out: &'static str| {
        let mut a = args(state, out, until);
        a[2] = source;
        a.extend_from_slice(&["--batch-size", "1"]);
        a
    };
    server.listed();
    let remote = server.run(w.path(), &in_passes("s3://trail/AWSLogs", STATE, OUT));
    // The backlog's list of files is not held: the region is listed once, whole, to size each day, and
    // each pass then lists its own day's folder.
    let region = "AWSLogs/111122223333/CloudTrail/us-east-1/";
    let listed: Vec<String> = server.listed().into_iter().filter(|p| p.starts_with(region)).collect();
    let days = ["2026/11/20/", "2026/11/21/", "2026/11/22/", "2026/11/23/"].map(|d| format!("{region}{d}"));
    assert_eq!(listed, [vec![region.to_owned()], days.to_vec()].concat());
    let local = w.run(&in_passes("logs", "state", "out"));
    assert_eq!((remote.code, local.code), (0, 0), "{}\n{}", remote.stderr, local.stderr);
    assert_eq!(remote.stdout.lines().count(), 4, "a pass per trail day: {}", remote.stdout);
    let summaries = |r: &Run| -> Vec<String> {
        r.stdout.lines().map(|l| l.split("; bundle ").next().unwrap().to_owned()).collect()
    };
    assert_eq!(summaries(&remote), summaries(&local));
    let local_out = files(&w.path().join("out"));
    let remote_out = objects(&server, "ops", "trailscan/out/");
    assert_eq!(remote_out.keys().collect::<Vec<_>>(), local_out.keys().collect::<Vec<_>>());
    assert!(!local_out.keys().any(|k| k.contains("/open-")), "every session is final at this cut-off");
    assert_eq!(
        answer(&server, &w, &["sessions", "--history", OUT, "--format", "json"]),
        sessions(&w, "out"),
        "the same history"
    );
    let flags = "SELECT rule, session_event_id FROM flags ORDER BY rule, session_event_id";
    assert_eq!(
        answer(&server, &w, &["query", "--history", OUT, flags, "--format", "json"]),
        answer(&server, &w, &["query", "--history", "out", flags, "--format", "json"])
    );
}
