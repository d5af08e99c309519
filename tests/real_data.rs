//! Real third-party CloudTrail data, read from `../shared/data/real/` when it is there (it is never copied
//! into this repository). Each test prints why it is skipped when the data is absent.

use crate::util::*;
use serde_json::Value;
use std::path::Path;

fn sessions(folder: &Path) -> (Vec<Value>, Run) {
    let r = trailscan(&repo(), &["sessions", "-s", folder.to_str().unwrap(), "-f", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    (r.json(), r)
}

/// The `files: R read, S skipped (...), F failed` numbers of the summary.
fn file_counts(stderr: &str) -> (usize, usize, usize) {
    let line = stderr.lines().find(|l| l.starts_with("trailscan: files:")).expect("summary line");
    let nums: Vec<usize> = ["read", "skipped", "failed"]
        .iter()
        .map(|w| {
            let before = &line[..line.find(&format!(" {w}")).unwrap()];
            before.rsplit([' ', ',']).next().unwrap().parse().unwrap()
        })
        .collect();
    (nums[0], nums[1], nums[2])
}

#[test]
fn every_real_file_is_accounted_for_and_nothing_panics() {
    let Some(root) = real_data("") else { return };
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let files = std::fs::read_dir(&dir).unwrap().filter(|e| e.as_ref().unwrap().path().is_file()).count();
        for format in ["json", "csv"] {
            let r = trailscan(&repo(), &["sessions", "-s", dir.to_str().unwrap(), "-f", format]);
            assert_eq!(r.code, 0, "{}: {}", dir.display(), r.stderr);
            assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
            let (read, skipped, failed) = file_counts(&r.stderr);
            assert_eq!(read + skipped + failed, files, "{}: {}", dir.display(), r.stderr);
            // Only Panther's hand-written rule tests carry events no reader can place in time (`"eventTime": "..."`).
            if !dir.ends_with("panther-analysis") {
                assert_eq!(failed, 0, "real exports should all be readable: {}", r.stderr);
            }
        }
    }
}

#[test]
fn flaws2_stolen_lambda_keys_are_linked_to_their_session() {
    let Some(dir) = real_data("flaws2-cloud") else {
        return;
    };
    let (rows, _) = sessions(&dir);
    let level1 = rows_where(&rows, "access_key_id", "ASIAZQNB3KHGIGYQXVVG");
    assert_eq!(level1.len(), 1);
    let s = level1[0];
    assert_eq!(s["session_arn"], "arn:aws:sts::653711331788:assumed-role/level1/level1");
    assert_eq!(s["source_principal"], "lambda.amazonaws.com");
    // Five CreateLogStream calls by the function, then the attacker's ListObjects and ECR calls; one use
    // is in a file delivered before the AssumeRole's.
    assert_eq!(s["event_count"], 9);
    assert_eq!(s["source_ips"], "34.234.236.212;104.102.221.250");
    assert_eq!(s["first_event_at"], "2018-11-28T23:03:12Z");
    // The ECS task's two roles, same task id, same second: two sessions; the stolen one was used once.
    let ecs = rows_where(&rows, "source_principal", "ecs-tasks.amazonaws.com");
    assert_eq!(ecs.len(), 2);
    let used: Vec<_> = ecs.iter().filter(|r| r["event_count"] == 1).collect();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0]["access_key_id"], "ASIAZQNB3KHGNXWXBSJS");
    assert_eq!(used[0]["source_ips"], "104.102.221.250");
}

#[test]
fn opensearch_aws_config_sessions_link_by_arn_and_creation_date() {
    let Some(dir) = real_data("opensearch-catalog") else {
        return;
    };
    let (all, run) = sessions(&dir);
    let rows: Vec<Value> = all.iter().filter(|r| r["event_name"] != "inferred").cloned().collect();
    assert_eq!(rows.len(), 65);
    let config: Vec<_> = rows_where(&rows, "source_principal", "config.amazonaws.com");
    assert_eq!(config.len(), 50);
    let linked: u64 = rows.iter().map(|r| r["event_count"].as_u64().unwrap()).sum();
    // AWS Config calls with keys other than the ones issued: only ARN + creationDate links them.
    assert!(linked >= 724, "linked {linked}: {}", run.stderr);
    assert!(config.iter().filter(|r| r["event_count"].as_u64().unwrap() > 0).count() >= 5);
}

#[test]
fn stratus_federation_token_session_is_linked() {
    let Some(dir) = real_data("stratus-red-team") else {
        return;
    };
    let (rows, _) = sessions(&dir);
    let gft = rows_where(&rows, "access_key_id", "ASIASTJKC5GCM7ZE6LUP");
    assert_eq!(gft.len(), 1);
    assert_eq!(gft[0]["event_name"], "GetFederationToken");
    assert_eq!(gft[0]["session_name"], "stratus_red_team");
    assert_eq!(gft[0]["event_count"], 1);
    assert!(rows.iter().any(|r| r["success"] == false && r["error_code"] == "AccessDenied"));
    // The stolen instance credentials: the instance profile's AssumeRole is not in the recording, so the
    // session is inferred from its calls.
    let stolen = rows_where(&rows, "session_name", "i-786a3A8B5C0d92eF4");
    assert_eq!(stolen.len(), 1);
    assert_eq!(stolen[0]["event_name"], "inferred");
    assert_eq!(stolen[0]["access_key_id"], "ASIAP5CT9NN8EYVU1FXV");
    assert_eq!(stolen[0]["event_count"], 2);
}

#[test]
fn real_data_gives_the_same_bytes_whatever_the_thread_count() {
    // Real records of one key disagree on fields such as the session issuer (anonymised exports mangle
    // ARNs differently in each copy): which record a thread happened to read first must not show.
    let Some(root) = real_data("") else { return };
    let root = root.to_str().unwrap();
    for command in ["sessions", "who-became-what", "flags"] {
        let run = |threads: &str| {
            let r = trailscan(&repo(), &[command, "-s", root, "-f", "csv", "--threads", threads]);
            assert_eq!(r.code, 0, "{}", r.stderr);
            r.stdout
        };
        let one = run("1");
        for threads in ["2", "3", "4", "2", "3", "4"] {
            assert!(run(threads) == one, "{command} --threads {threads} differs from --threads 1");
        }
    }
}
