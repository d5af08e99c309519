//! Every input shape trailscan reads, and bad input: each gets a message and a count, the run goes on,
//! and the results from good files are the same as without the bad ones.

use crate::util::*;
use serde_json::{json, Value};

fn story() -> Vec<Value> {
    let user = iam_user("111122223333", "alice", "AKIAALICE");
    let arn = "arn:aws:sts::111122223333:assumed-role/Deploy/s";
    vec![
        assume_role(
            "a1",
            "2026-11-20T10:00:00Z",
            user,
            "arn:aws:iam::111122223333:role/Deploy",
            "s",
            "ASIAS",
            "Nov 20, 2026, 11:00:00 AM",
        ),
        call(
            "c1",
            "2026-11-20T10:05:00Z",
            "ListBuckets",
            role_session(arn, "ASIAS", "2026-11-20T10:00:00Z"),
            "1.1.1.1",
        ),
        call("c2", "2026-11-20T10:06:00Z", "GetObject", role_session(arn, "ASIAS", "2026-11-20T10:00:00Z"), "1.1.1.1"),
    ]
}

fn sessions_csv(w: &Workdir) -> Run {
    w.run(&["sessions", "-s", ".", "-f", "csv"])
}

#[test]
fn every_shape_gives_the_same_sessions() {
    let reference = Workdir::new();
    reference.trail("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/r.json.gz", &story());
    let want = sessions_csv(&reference);
    assert_eq!(want.code, 0, "{}", want.stderr);
    assert!(want.stdout.lines().count() == 2, "{}", want.stdout);

    let ev = story();
    let lines: String = ev.iter().map(|e| format!("{e}\n")).collect();
    let lookup = json!({"Events": ev.iter().map(|e| json!({"EventId": e["eventID"], "EventName": e["eventName"], "CloudTrailEvent": e.to_string()})).collect::<Vec<_>>(), "NextToken": null});
    let bridge: String = ev
        .iter()
        .map(|e| {
            format!(
                "{}\n",
                json!({"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.sts", "detail": e})
            )
        })
        .collect();
    // A CloudWatch Logs export task writes `<task>/<stream>/000000.gz`: each line is the event's time, a
    // space and the event.
    let export: String = ev.iter().map(|e| format!("{} {e}\n", e["eventTime"].as_str().unwrap())).collect();
    let shapes: Vec<(&str, Vec<u8>)> = vec![
        ("records.json", json!({"Records": ev}).to_string().into_bytes()),
        ("pretty.json", serde_json::to_vec_pretty(&json!({"Records": ev})).unwrap()),
        ("events.jsonl", lines.clone().into_bytes()),
        ("array.json", Value::Array(ev.clone()).to_string().into_bytes()),
        ("lookup.json", lookup.to_string().into_bytes()),
        ("bridge.ndjson", bridge.into_bytes()),
        ("exportTask/111122223333_CloudTrail_us-east-1/000000", export.into_bytes()),
    ];
    for (name, bytes) in shapes {
        for gz in [false, true] {
            let w = Workdir::new();
            if gz {
                w.write_gz(&format!("{name}.gz"), std::str::from_utf8(&bytes).unwrap());
            } else {
                w.write(name, &bytes);
            }
            let got = sessions_csv(&w);
            assert_eq!(got.stdout, want.stdout, "{name} gz={gz}: {}", got.stderr);
            assert!(got.stderr.contains("files: 1 read"), "{name}: {}", got.stderr);
        }
    }
    // Single events, one per file.
    let w = Workdir::new();
    for (i, e) in ev.iter().enumerate() {
        w.write(&format!("event{i}.json"), e.to_string());
    }
    assert_eq!(sessions_csv(&w).stdout, want.stdout);
}

#[test]
fn bad_files_are_named_counted_and_cost_only_themselves() {
    let good = Workdir::new();
    good.trail("good.json.gz", &story());
    let clean = sessions_csv(&good);

    let w = Workdir::new();
    w.trail("good.json.gz", &story());
    let full = std::fs::read(w.path().join("good.json.gz")).unwrap();
    w.write("truncated.json.gz", &full[..full.len() / 2]);
    w.write("text-as.json.gz", "this is not gzip at all");
    w.write("invalid.json", "{\"Records\": [ {\"eventName\": }");
    w.write("empty.json", "");
    w.write("badutf8.json", b"{\"Records\":[{\"eventName\":\"\xff\xfe\"}]}");
    w.write("deep.json", "[".repeat(100_000));
    w.write("types.json", r#"{"Records":[{"eventTime":{"x":1},"eventName":"A","eventSource":"s"}]}"#);
    w.write_gz(
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261120T100000Z.json.gz",
        r#"{"awsAccountId":"111122223333","digestStartTime":"2026-11-20T09:00:00Z","logFiles":[]}"#,
    );
    w.write(
        "unnamed-digest.json",
        r#"{"awsAccountId":"111122223333","digestStartTime":"2026-11-20T09:00:00Z","logFiles":[]}"#,
    );
    w.write("README.md", "# notes");
    let huge_field = "x".repeat(3 << 20);
    w.write("huge.json", json!({"Records": [{"eventName": "Big", "eventSource": "s3.amazonaws.com", "eventTime": "2026-11-20T10:00:00Z", "eventID": "big", "requestParameters": {"blob": huge_field}}]}).to_string());

    let r = sessions_csv(&w);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, clean.stdout, "good records still give the same sessions");
    for (file, why) in [
        ("truncated.json.gz", "truncated gzip"),
        ("text-as.json.gz", "not JSON or gzip"),
        ("invalid.json", "invalid JSON"),
        ("empty.json", "empty file"),
        ("badutf8.json", "not valid UTF-8"),
        ("deep.json", "truncated JSON"),
        ("types.json", "no readable events"),
    ] {
        let line = r
            .stderr
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("no message for {file}:\n{}", r.stderr));
        assert!(line.contains(why) || line.to_lowercase().contains(&why.to_lowercase()), "{file}: {line}");
    }
    assert!(!r.stderr.contains("CloudTrail-Digest_"), "digests are counted quietly: {}", r.stderr);
    assert!(r.stderr.contains("2 CloudTrail digest"), "{}", r.stderr);
    assert!(r.stderr.contains("files: 2 read"), "{}", r.stderr);

    let strict = w.run(&["sessions", "-s", ".", "-f", "csv", "--strict"]);
    assert_eq!(strict.code, 2);
    assert_eq!(strict.stdout, clean.stdout, "--strict still writes the results");
    assert_eq!(good.run(&["sessions", "-s", ".", "-f", "csv", "--strict"]).code, 0);
}

#[test]
fn ndjson_keeps_good_lines_around_a_bad_one() {
    let w = Workdir::new();
    let ev = story();
    w.write("mixed.jsonl", format!("{}\n{{broken\n{}\n{}\n", ev[0], ev[1], ev[2]));
    let r = w.run(&["sessions", "-s", ".", "-f", "json"]);
    let rows = r.json();
    assert_eq!(rows[0]["event_count"], 2);
    assert!(r.stderr.contains("mixed.jsonl: 1 unreadable record(s), first: line 2"), "{}", r.stderr);
}

#[test]
fn a_cloudwatch_logs_export_task_reads_as_it_lies() {
    // What an export task of a trail's log group leaves under its prefix: the write check it made first,
    // and a gzipped stream of `<time> <message>` lines, one of them no event.
    let w = Workdir::new();
    let ev = story();
    w.write("exports/aws-logs-write-test", "Permission Check Successful");
    let line = |e: &Value| format!("{} {e}\n", e["eventTime"].as_str().unwrap());
    let text = format!("{}2026-11-20T10:01:00.000Z {{broken\n{}{}", line(&ev[0]), line(&ev[1]), line(&ev[2]));
    w.write_gz("exports/6f1c/111122223333_CloudTrail_us-east-1/000000.gz", &text);
    let r = w.run(&["sessions", "-s", ".", "-f", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()[0]["event_count"], 2);
    assert!(r.stderr.contains("000000.gz: 1 unreadable record(s), first: line 2"), "{}", r.stderr);
    assert!(r.stderr.contains("0 failed"), "the write check is skipped, not failed: {}", r.stderr);
}

#[test]
fn output_is_identical_whatever_the_thread_count() {
    let w = Workdir::new();
    for i in 0..40 {
        let user = iam_user("111122223333", &format!("u{i}"), &format!("AKIAU{i}"));
        let arn = format!("arn:aws:sts::111122223333:assumed-role/R{}/s{i}", i % 3);
        let key = format!("ASIAK{i}");
        let t = format!("2026-11-20T10:{:02}:00Z", i % 60);
        let ev = vec![
            assume_role(
                &format!("a{i}"),
                &t,
                user,
                &format!("arn:aws:iam::111122223333:role/R{}", i % 3),
                &format!("s{i}"),
                &key,
                "Nov 20, 2026, 11:59:00 AM",
            ),
            call(
                &format!("c{i}"),
                "2026-11-20T11:00:00Z",
                "ListBuckets",
                role_session(&arn, &key, &t),
                &format!("10.0.0.{i}"),
            ),
        ];
        w.trail(&format!("d{}/f{i}.json.gz", i % 4), &ev);
    }
    let one = w.run(&["sessions", "-s", ".", "-f", "csv", "--threads", "1"]);
    let two = w.run(&["sessions", "-s", ".", "-f", "csv", "--threads", "2"]);
    let many = w.run(&["sessions", "-s", ".", "-f", "json", "--threads", "7"]);
    let many1 = w.run(&["sessions", "-s", ".", "-f", "json", "--threads", "1"]);
    assert_eq!(one.stdout, two.stdout);
    assert_eq!(many.stdout, many1.stdout);
    assert_eq!(one.stdout.lines().count(), 41);
}

#[test]
fn missing_source_is_a_clear_error() {
    let w = Workdir::new();
    let r = w.run(&["sessions"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--source"), "{}", r.stderr);
    let r = w.run(&["sessions", "-s", "nope"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read source nope"), "{}", r.stderr);
    let r = w.run(&["sessions", "-s", ".", "--since", "last tuesday"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("RFC 3339"), "{}", r.stderr);
}

/// A source that holds nothing to read (a wrong folder, or a scope that leaves none of it) is named, so an
/// empty report is not taken for a quiet trail.
#[test]
fn a_source_with_nothing_to_read_is_named() {
    let w = Workdir::new();
    std::fs::create_dir_all(w.path().join("empty")).unwrap();
    w.trail(
        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T1005Z_a.json.gz",
        &story(),
    );
    let r = w.run(&["sessions", "-s", "empty", "-s", "AWSLogs", "-f", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("trailscan: empty: no log files found\n"), "{}", r.stderr);
    assert!(!r.stderr.contains("AWSLogs: no log files"), "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 2, "the other source is read");
    let r = w.run(&["sessions", "-s", "AWSLogs", "--account", "999999999999", "-f", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("AWSLogs: no log files found for the --account, --region, --since and --until given"),
        "{}",
        r.stderr
    );
}

/// Links are followed to files and to folders (an archive linked into the log folder), each folder once
/// whichever link is found first; a cycle, a broken link and a FIFO are each named, and none stops the run.
#[test]
fn links_are_followed_once_and_odd_entries_are_named() {
    let w = Workdir::new();
    let outside = Workdir::new();
    let events = story();
    w.trail("logs/mine/a.json.gz", &events[..1]);
    outside.trail("archive/b.json.gz", &events[1..]);
    let link = |target: &std::path::Path, at: &str| std::os::unix::fs::symlink(target, w.path().join(at)).unwrap();
    link(&outside.path().join("archive"), "logs/archive");
    link(&outside.path().join("archive"), "logs/mine/archive-again");
    // A link into the archive, named first: the archive that holds it is read, whole, instead.
    outside.trail("archive/2026/c.json.gz", &events[2..]);
    link(&outside.path().join("archive/2026"), "logs/a-year");
    link(&w.path().join("logs"), "logs/mine/loop");
    link(&w.path().join("nowhere.json.gz"), "logs/broken.json.gz");
    let fifo = w.path().join("logs/pipe.json");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let r = w.run(&["sessions", "-s", "logs", "-f", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sessions = r.json();
    assert_eq!(sessions.len(), 1, "{}", r.stderr);
    assert_eq!(sessions[0]["event_count"], 2, "the calls in the linked archive are read: {}", r.stderr);
    assert!(r.stderr.contains("records: 3 (1 duplicates dropped)"), "each file once: {}", r.stderr);
    assert!(r.stderr.contains("logs/mine/archive-again: not followed: it leads to"), "{}", r.stderr);
    assert!(r.stderr.contains("logs/mine/loop: not followed"), "{}", r.stderr);
    assert!(
        r.stderr.contains("logs/a-year: not followed: it leads to") && r.stderr.contains("which is read as part of"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("logs/broken.json.gz: broken link"), "{}", r.stderr);
    assert!(r.stderr.contains("logs/pipe.json: neither a file nor a folder"), "{}", r.stderr);
    assert!(r.stderr.contains("files: 3 read, 4 skipped"), "{}", r.stderr);
    assert!(r.stderr.contains("1 failed (1 unreadable)"), "{}", r.stderr);
}

#[test]
fn config_file_names_default_sources_relative_to_itself() {
    let w = Workdir::new();
    w.trail("logs/a.json.gz", &story());
    w.write("conf/trailscan.toml", "source = [\"../logs\"]\n");
    let r = w.run(&["sessions", "--config", "conf/trailscan.toml", "-f", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 2);
    w.write("trailscan.toml", "source = [\"logs\"]\n");
    assert_eq!(w.run(&["sessions", "-f", "csv"]).stdout.lines().count(), 2);
    w.write("trailscan.toml", "sauce = [\"logs\"]\n");
    let bad = w.run(&["sessions", "-f", "csv"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("trailscan.toml is not valid"), "{}", bad.stderr);
}

#[test]
fn output_file_and_closed_pipes() {
    let w = Workdir::new();
    w.trail("a.json.gz", &story());
    let r = w.run(&["sessions", "-s", ".", "-f", "json", "-o", "out.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let rows: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(w.path().join("out.json")).unwrap()).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(std::fs::read_dir(w.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
    let bad = w.run(&["sessions", "-s", ".", "-o", "no/such/dir/out.csv"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("cannot write no/such/dir/out.csv"), "{}", bad.stderr);

    // A reader that stops early (`| head -1`) is not an error.
    let out = std::process::Command::new("sh")
        .current_dir(w.path())
        .arg("-c")
        .arg(format!(
            "'{}' sessions -s . -f csv --since 2026-01-01 2>err.txt | head -c 10 >/dev/null; echo ${{PIPESTATUS:-}}",
            env!("CARGO_BIN_EXE_trailscan")
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = std::fs::read_to_string(w.path().join("err.txt")).unwrap();
    assert!(!err.contains("error"), "{err}");
}

/// Reading a trail is looking at evidence: it must not change the files' access times, which an
/// investigation may rely on and which the first read of a freshly synced trail would otherwise write
/// back to disk for every file (the disk here is mounted `relatime`, which updates an access time older
/// than the file's last change).
#[cfg(target_os = "linux")]
#[test]
fn reading_a_trail_leaves_its_files_access_times_as_they_were() {
    use std::time::{Duration, SystemTime};
    let w = Workdir::new();
    let files = [
        w.trail("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/a.json.gz", &story()),
        w.trail("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/b.json.gz", &story()[1..]),
        w.trail("AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/c.json.gz", &story()[..1]),
    ];
    let long_ago = SystemTime::now() - Duration::from_secs(30 * 86400);
    for f in &files {
        let file = std::fs::File::options().write(true).open(f).unwrap();
        file.set_times(std::fs::FileTimes::new().set_accessed(long_ago)).unwrap();
    }
    let r = sessions_csv(&w);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    for f in &files {
        assert_eq!(std::fs::metadata(f).unwrap().accessed().unwrap(), long_ago, "{}", f.display());
    }
}
