//! Reports, ad-hoc SQL, Parquet output and the auditor bundle (issue 5), on a small two-day trail built per
//! test: every named report is run and its answer checked, the tables agree with each other and with the
//! other commands, bad SQL is an explained error, and bundles are byte-identical across runs and threads.

use crate::util::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

const A: &str = "111122223333";
const B: &str = "444455556666";
const OUTSIDE: &str = "999988887777";
const DEPLOY: &str = "arn:aws:iam::111122223333:role/Deploy";
const DEPLOY_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/Deploy/alice";

/// The story: on day one alice assumes Deploy (and works with it: reads, a privileged CreateUser, a denied
/// write, a chained assumption of Two) and a role in account B; on day two an outside account assumes
/// Vendor, bob is denied Admin, bob switches to ReadOnly in the console, and a SAML user signs in.
/// Plus a CloudTrail digest (skipped) and a truncated file (failed).
fn story(w: &Workdir) {
    let alice = iam_user(A, "alice", "AKIAALICE");
    let bob = iam_user(A, "bob", "AKIABOB");
    let deploy = role_session(DEPLOY_SESSION, "ASIADEPLOY", "2026-11-20T09:00:00Z");
    let mut create_user = call("c4", "2026-11-20T09:08:00Z", "CreateUser", deploy.clone(), "198.51.100.7");
    create_user["eventSource"] = json!("iam.amazonaws.com");
    let mut denied = call("c5", "2026-11-20T09:09:00Z", "PutObject", deploy.clone(), "198.51.100.7");
    denied["errorCode"] = json!("AccessDenied");
    let mut audit = assume_role(
        "a2",
        "2026-11-20T09:30:00Z",
        alice.clone(),
        "arn:aws:iam::444455556666:role/Audit",
        "alice",
        "ASIAAUDIT",
        "Nov 20, 2026, 10:30:00 AM",
    );
    audit["recipientAccountId"] = json!(A);
    let day1 = vec![
        assume_role("a1", "2026-11-20T09:00:00Z", alice, DEPLOY, "alice", "ASIADEPLOY", "Nov 20, 2026, 10:00:00 AM"),
        call("c1", "2026-11-20T09:05:00Z", "ListBuckets", deploy.clone(), "198.51.100.7"),
        call("c2", "2026-11-20T09:06:00Z", "GetObject", deploy.clone(), "198.51.100.7"),
        call("c3", "2026-11-20T09:07:00Z", "GetObject", deploy.clone(), "198.51.100.7"),
        create_user,
        denied,
        assume_role(
            "a8",
            "2026-11-20T09:10:00Z",
            deploy.clone(),
            "arn:aws:iam::111122223333:role/Two",
            "hop",
            "ASIATWO",
            "Nov 20, 2026, 10:10:00 AM",
        ),
        audit,
        call(
            "c6",
            "2026-11-20T09:35:00Z",
            "ListBuckets",
            role_session("arn:aws:sts::444455556666:assumed-role/Audit/alice", "ASIAAUDIT", "2026-11-20T09:30:00Z"),
            "198.51.100.7",
        ),
    ];
    let mut vendor = assume_role(
        "a3",
        "2026-11-21T08:00:00Z",
        json!({"type": "AWSAccount", "principalId": "AIDAVENDOR", "accountId": OUTSIDE}),
        "arn:aws:iam::111122223333:role/Vendor",
        "vendor",
        "ASIAVENDOR",
        "Nov 21, 2026, 9:00:00 AM",
    );
    vendor["sharedEventID"] = json!("shared-vendor");
    vendor["recipientAccountId"] = json!(A);
    let admin_denied = json!({
        "eventID": "a4", "eventTime": "2026-11-21T08:10:00Z", "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole",
        "userIdentity": bob.clone(), "sourceIPAddress": "203.0.113.66", "userAgent": "aws-cli/2.15.0",
        "errorCode": "AccessDenied", "awsRegion": "us-east-1",
        "errorMessage": "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/Admin",
        "requestParameters": null, "responseElements": null
    });
    let ro = "arn:aws:iam::111122223333:role/ReadOnly";
    let ro_session = "arn:aws:sts::111122223333:assumed-role/ReadOnly/bob";
    let mut by_console = assume_role(
        "a5",
        "2026-11-21T12:00:00Z",
        json!({
            "type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/bob", "accountId": A, "accessKeyId": "ASIABOBCONSOLE",
            "userName": "bob", "invokedBy": "AWS Internal",
            "sessionContext": {"attributes": {"mfaAuthenticated": "true", "creationDate": "2026-11-21T11:00:00Z"}}
        }),
        ro,
        "bob",
        "ASIAREADONLY",
        "Nov 21, 2026, 1:00:00 PM",
    );
    by_console["sourceIPAddress"] = json!("AWS Internal");
    by_console["userAgent"] = json!("AWS Internal");
    let switch = json!({
        "eventID": "a5sw", "eventTime": "2026-11-21T12:00:00Z", "eventSource": "signin.amazonaws.com", "eventName": "SwitchRole",
        "userIdentity": {"type": "AssumedRole", "arn": ro_session, "accountId": A},
        "sourceIPAddress": "192.0.2.44", "userAgent": "Mozilla/5.0 Firefox/140", "responseElements": {"SwitchRole": "Success"},
        "additionalEventData": {"SwitchFrom": "arn:aws:iam::111122223333:user/bob"}, "eventType": "AwsConsoleSignIn",
        "recipientAccountId": A
    });
    let saml = json!({
        "eventVersion": "1.08", "eventID": "a6", "eventTime": "2026-11-21T13:00:00Z", "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRoleWithSAML", "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.80",
        "userAgent": "Mozilla/5.0 Chrome/140",
        "userIdentity": {"type": "SAMLUser", "principalId": "SAMLID:carol@example.com", "userName": "carol@example.com",
            "identityProvider": "SAMLID"},
        "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/SSOUser",
            "principalArn": "arn:aws:iam::111122223333:saml-provider/Okta"},
        "responseElements": {
            "credentials": {"accessKeyId": "ASIASAML", "expiration": "Nov 21, 2026, 2:00:00 PM"},
            "assumedRoleUser": {"assumedRoleId": "AROASSO:carol@example.com",
                "arn": "arn:aws:sts::111122223333:assumed-role/SSOUser/carol@example.com"},
            "subject": "carol@example.com", "issuer": "https://idp.example.com/"
        },
        "eventType": "AwsApiCall", "recipientAccountId": A
    });
    let day2 = vec![vendor, admin_denied, by_console, switch, saml];
    w.trail("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/day1.json.gz", &day1);
    w.trail("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/day2.json.gz", &day2);
    w.write_gz(
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/21/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261121T000000Z.json.gz",
        r#"{"awsAccountId":"111122223333","digestStartTime":"2026-11-21T00:00:00Z","logFiles":[]}"#,
    );
    let mut gz =
        std::fs::read(w.path().join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/day1.json.gz")).unwrap();
    gz.truncate(gz.len() / 2);
    w.write("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/truncated.json.gz", gz);
}

fn json_of(w: &Workdir, args: &[&str]) -> Vec<Value> {
    let mut all = args.to_vec();
    all.extend(["-s", ".", "-f", "json"]);
    let r = w.run(&all);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r.json()
}

fn col<'a>(rows: &'a [Value], name: &str) -> Vec<&'a str> {
    rows.iter().map(|r| r[name].as_str().unwrap_or("")).collect()
}

#[test]
fn every_named_report_runs_and_answers_its_question() {
    let w = Workdir::new();
    story(&w);
    let sessions = json_of(&w, &["sessions"]);
    assert_eq!(sessions.len(), 7, "{sessions:#?}");

    let rows = json_of(&w, &["report", "who_assumed"]);
    assert_eq!(rows.len(), 7, "{rows:#?}");
    let deploy = rows.iter().find(|r| r["role_arn"] == DEPLOY).unwrap();
    assert_eq!(deploy["source_principal"], "arn:aws:iam::111122223333:user/alice");
    assert_eq!((deploy["sessions"].as_u64(), deploy["event_count"].as_u64()), (Some(1), Some(6)));
    let admin = rows.iter().find(|r| r["role_arn"] == "arn:aws:iam::111122223333:role/Admin").unwrap();
    assert_eq!((admin["successful"].as_u64(), admin["failed"].as_u64()), (Some(0), Some(1)));

    // The SQL version of who-became-what gives the command's answer.
    let sql = json_of(&w, &["report", "who_became_what"]);
    let cmd = json_of(&w, &["who-became-what"]);
    let key = |r: &Value| (r["origin_principal"].to_string(), r["role_arn"].to_string());
    let mut a: Vec<_> = sql.iter().map(|r| (key(r), r.clone())).collect();
    let mut b: Vec<_> = cmd.iter().map(|r| (key(r), r.clone())).collect();
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(a, b);
    let two = sql.iter().find(|r| r["role_arn"] == "arn:aws:iam::111122223333:role/Two").unwrap();
    assert_eq!(
        (two["via"].as_str(), two["origin_principal"].as_str()),
        (Some("chain"), Some("arn:aws:iam::111122223333:user/alice"))
    );

    let rows = json_of(&w, &["report", "cross_account_access"]);
    assert_eq!(
        col(&rows, "role_arn"),
        ["arn:aws:iam::111122223333:role/Vendor", "arn:aws:iam::444455556666:role/Audit"]
    );
    assert_eq!(col(&rows, "caller_account"), [OUTSIDE, A]);

    let rows = json_of(&w, &["report", "external_access"]);
    assert_eq!(col(&rows, "event_id"), ["a3", "a6"], "{rows:#?}");
    assert_eq!(col(&rows, "reason"), ["outside account", "federated identity"]);

    let rows = json_of(&w, &["report", "failed_assumptions"]);
    assert_eq!(col(&rows, "event_id"), ["a4"]);
    assert_eq!(col(&rows, "error_code"), ["AccessDenied"]);
    assert_eq!(col(&rows, "role_arn"), ["arn:aws:iam::111122223333:role/Admin"]);

    let rows = json_of(&w, &["report", "privileged_sessions"]);
    assert_eq!(col(&rows, "event_id"), ["a1"]);
    assert_eq!(col(&rows, "privileged_actions"), ["CreateUser"]);
    assert_eq!(rows[0]["privileged_calls"], 1);
    assert_eq!(rows[0]["first_privileged_at"], "2026-11-20T09:08:00Z");

    let rows = json_of(&w, &["report", "console_sessions"]);
    assert_eq!(col(&rows, "how"), ["role switch", "browser sign-in"], "{rows:#?}");
    assert_eq!(col(&rows, "source_ip"), ["192.0.2.44", "192.0.2.80"]);

    let rows = json_of(&w, &["report", "daily_summary"]);
    assert_eq!(col(&rows, "day"), ["2026-11-20", "2026-11-21"]);
    let n = |r: &Value, c: &str| r[c].as_u64().unwrap();
    assert_eq!((n(&rows[0], "sessions"), n(&rows[0], "failed"), n(&rows[0], "chained")), (3, 0, 1));
    assert_eq!((n(&rows[1], "sessions"), n(&rows[1], "failed"), n(&rows[1], "cross_account")), (4, 1, 1));
    assert_eq!(n(&rows[0], "calls"), 7); // six with Deploy (one is the chained AssumeRole), one with Audit
                                         // Day one: Deploy's and Audit's credentials used away from where they were assumed, and Deploy's
                                         // CreateUser; day two: the outside account that assumed Vendor.
    assert_eq!((n(&rows[0], "findings"), n(&rows[1], "findings")), (3, 1));

    let rows = json_of(&w, &["report", "findings"]);
    assert_eq!(
        rows.iter().map(|r| (r["rule"].as_str().unwrap(), r["session_event_id"].as_str().unwrap())).collect::<Vec<_>>(),
        [
            ("credentials-used-elsewhere", "a1"),
            ("privileged-action-in-session", "a1"),
            ("credentials-used-elsewhere", "a2"),
            ("untrusted-external-account", "a3"),
        ],
        "{rows:#?}"
    );

    let rows = json_of(&w, &["report", "inputs"]);
    let got: Vec<(String, String, u64, u64)> = rows
        .iter()
        .map(|r| {
            (r["status"].as_str().unwrap().into(), r["label"].as_str().unwrap().into(), n(r, "files"), n(r, "records"))
        })
        .collect();
    assert_eq!(
        got,
        [
            ("failed".into(), "truncated gzip".into(), 1, 0),
            ("read".into(), "".into(), 2, 14),
            ("skipped".into(), "CloudTrail digest".into(), 1, 0),
        ]
    );
}

#[test]
fn tables_agree_with_each_other() {
    let w = Workdir::new();
    story(&w);
    // Every session's actions add up to its event_count, and every action row joins a session.
    let rows = json_of(
        &w,
        &[
            "query",
            r#"SELECT s.event_id, s.event_count, COALESCE(a.calls, 0) AS calls
               FROM sessions s LEFT JOIN (SELECT session_event_id, SUM("count") AS calls FROM actions GROUP BY session_event_id) a
               ON a.session_event_id = s.event_id ORDER BY s.event_id"#,
        ],
    );
    assert_eq!(rows.len(), 7);
    for r in &rows {
        assert_eq!(r["event_count"], r["calls"], "{r}");
    }
    let orphans = json_of(
        &w,
        &["query", "SELECT COUNT(*) AS n FROM actions WHERE session_event_id NOT IN (SELECT event_id FROM sessions)"],
    );
    assert_eq!(orphans[0]["n"], 0);
    let deploy = json_of(
        &w,
        &["query", "SELECT event_source, event_name, \"count\", errors, denied, privileged, first_at, last_at FROM actions WHERE session_event_id = 'a1' ORDER BY event_source, event_name"],
    );
    let names: Vec<_> =
        deploy.iter().map(|r| format!("{}:{}", r["event_name"].as_str().unwrap(), r["count"])).collect();
    assert_eq!(names, ["CreateUser:1", "GetObject:2", "ListBuckets:1", "PutObject:1", "AssumeRole:1"]);
    let get = &deploy[1];
    assert_eq!(
        (get["first_at"].as_str(), get["last_at"].as_str()),
        (Some("2026-11-20T09:06:00Z"), Some("2026-11-20T09:07:00Z"))
    );
    assert_eq!((deploy[3]["errors"].as_u64(), deploy[3]["denied"].as_u64()), (Some(1), Some(1)));
    assert_eq!((deploy[0]["privileged"].as_bool(), deploy[1]["privileged"].as_bool()), (Some(true), Some(false)));
    let files = json_of(&w, &["query", "SELECT path, status, records, shape, label, reason FROM files ORDER BY path"]);
    assert_eq!(files.len(), 4);
    assert!(
        files.iter().any(|f| f["status"] == "failed" && f["reason"].as_str().unwrap().contains("truncated")),
        "{files:#?}"
    );
}

#[test]
fn report_list_describes_every_report() {
    let w = Workdir::new();
    // Listing reads no logs, so it needs no --source.
    let r = w.run(&["report", "--list", "-f", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = r.json();
    let names = col(&rows, "name");
    for want in [
        "who_assumed",
        "who_became_what",
        "cross_account_access",
        "external_access",
        "failed_assumptions",
        "privileged_sessions",
        "console_sessions",
        "daily_summary",
    ] {
        let row = rows.iter().find(|r| r["name"] == want).unwrap_or_else(|| panic!("{want} missing from {names:?}"));
        assert!(row["description"].as_str().unwrap().len() > 40, "{row}");
        assert_eq!(row["source"], "built-in");
    }
    let r = w.run(&["report", "--list", "-f", "table"]);
    assert!(r.stdout.contains("daily_summary\n    Per UTC day"), "{}", r.stdout);
}

#[test]
fn unknown_report_names_the_ones_there_are() {
    let w = Workdir::new();
    story(&w);
    let r = w.run(&["report", "who_asumed", "-s", "."]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no report named \"who_asumed\""), "{}", r.stderr);
    assert!(r.stderr.contains("  who_assumed\n"), "{}", r.stderr);
    // Found before any log is read: no run summary.
    assert!(!r.stderr.contains("files:"), "{}", r.stderr);
}

#[test]
fn filters_narrow_the_tables_and_never_become_sql() {
    let w = Workdir::new();
    story(&w);
    let rows = json_of(&w, &["report", "who_assumed", "--role", "Deploy"]);
    assert_eq!(col(&rows, "role_arn"), [DEPLOY]);
    let actions = json_of(&w, &["query", "SELECT DISTINCT session_event_id FROM actions", "--role", "Deploy"]);
    assert_eq!(col(&actions, "session_event_id"), ["a1"]);
    // --account reads only that account's trail folders: B has none here, so nothing is read.
    let rows = json_of(&w, &["query", "SELECT event_id FROM sessions ORDER BY event_id", "--account", B]);
    assert!(rows.is_empty(), "{rows:#?}");
    let rows = json_of(&w, &["query", "SELECT COUNT(*) AS n FROM sessions", "--account", A]);
    assert_eq!(rows[0]["n"], 7);
    let rows = json_of(&w, &["report", "who_assumed", "--principal", "bob"]);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    // A value that would change the query if it were spliced into it matches nothing instead.
    for evil in ["x' OR '1'='1", "Deploy'; --", "*') OR (1=1"] {
        let rows = json_of(&w, &["report", "who_assumed", "--role", evil]);
        assert!(rows.is_empty(), "{evil}: {rows:#?}");
    }
    // The files table is never filtered: it proves what was read.
    let rows = json_of(&w, &["query", "SELECT COUNT(*) AS n FROM files", "--role", "nothing"]);
    assert_eq!(rows[0]["n"], 4);
}

#[test]
fn queries_dir_adds_and_overrides() {
    let w = Workdir::new();
    story(&w);
    w.write(
        "mine/who_assumed.sql",
        "-- name: who_assumed\n-- description: Only the role names.\n-- columns: role_arn\nSELECT DISTINCT role_arn FROM sessions WHERE role_arn IS NOT NULL ORDER BY role_arn\n",
    );
    w.write("mine/busy.sql", "-- description: Sessions with more than one call.\nSELECT event_id FROM sessions WHERE event_count > 1 ORDER BY event_id");
    w.write("mine/notes.txt", "not a report");
    let list = w.run(&["report", "--list", "--queries", "mine", "-f", "json"]).json();
    let mine = list.iter().find(|r| r["name"] == "who_assumed").unwrap();
    assert_eq!(mine["description"], "Only the role names.");
    assert!(mine["source"].as_str().unwrap().ends_with("who_assumed.sql"));
    assert!(list.iter().any(|r| r["name"] == "daily_summary" && r["source"] == "built-in"));
    let rows = json_of(&w, &["report", "who_assumed", "--queries", "mine"]);
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[0].as_object().unwrap().len(), 1);
    let rows = json_of(&w, &["report", "busy", "--queries", "mine"]);
    assert_eq!(col(&rows, "event_id"), ["a1"]);
    // From trailscan.toml, relative to it.
    w.write("cfg/trailscan.toml", "source = [\"..\"]\nqueries = \"../mine\"\n");
    let r = w.run(&["report", "busy", "--config", "cfg/trailscan.toml", "-f", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(col(&r.json(), "event_id"), ["a1"]);
    // A header that contradicts the file name, and a folder that is not there, are explained.
    w.write("bad/x.sql", "-- name: y\nSELECT 1");
    let r = w.run(&["report", "x", "--queries", "bad", "-s", "."]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("rename the file or fix the header"), "{}", r.stderr);
    let r = w.run(&["report", "x", "--queries", "nope", "-s", "."]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--queries nope: cannot read the folder"), "{}", r.stderr);
}

#[test]
fn query_from_text_file_and_stdin() {
    let w = Workdir::new();
    story(&w);
    let sql = "SELECT event_id FROM sessions WHERE NOT success ORDER BY event_id";
    w.write("q.sql", sql);
    for r in [
        w.run(&["query", sql, "-s", ".", "-f", "csv"]),
        w.run(&["query", "q.sql", "-s", ".", "-f", "csv"]),
        trailscan_stdin(w.path(), &["query", "-", "-s", ".", "-f", "csv"], sql),
    ] {
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout, "event_id\na4\n");
    }
    let r = w.run(&["query", "missing.sql", "-s", "."]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing.sql: no such file"), "{}", r.stderr);
}

#[test]
fn sql_count_of_sessions_equals_csv_rows() {
    let w = Workdir::new();
    story(&w);
    let n = json_of(&w, &["query", "SELECT COUNT(*) AS n FROM sessions"])[0]["n"].as_u64().unwrap();
    let csv = w.run(&["sessions", "-s", ".", "-f", "csv"]);
    assert_eq!(csv.stdout.lines().count() as u64 - 1, n);
    let out = w.path().join("bundle");
    let r = w.run(&["scan", "-s", ".", "--out", "bundle"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bundle_csv = std::fs::read_to_string(out.join("sessions.csv")).unwrap();
    assert_eq!(bundle_csv, csv.stdout, "the bundle's sessions.csv is the sessions command's CSV");
    assert_eq!(n, 7);
    // The bundle lies inside the source folder: the next scan does not read it back.
    let files = std::fs::read(out.join("files.csv")).unwrap();
    let again = w.run(&["scan", "-s", ".", "--out", "bundle"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stderr.contains("bundle/"), "{}", again.stderr);
    assert_eq!(std::fs::read(out.join("files.csv")).unwrap(), files, "the same files read, the bundle not among them");
}

#[test]
fn invalid_queries_explain_and_exit_2() {
    let w = Workdir::new();
    story(&w);
    for (sql, says) in [
        ("SELECT nope FROM sessions", "nope"),
        ("SELECT * FROM sesions", "sesions"),
        ("SELEC * FROM sessions", "SELEC"),
        ("SELECT * FROM sessions WHERE", "the query failed"),
        ("", "the query is empty"),
        ("SELECT COUNT(*) FROM sessions; SELECT 1", "one"),
        ("SELECT * FROM sessions s JOIN actions a ON s.nope = a.nope", "nope"),
    ] {
        let r = w.run(&["query", sql, "-s", "."]);
        assert_eq!(r.code, 2, "{sql}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{sql}: {}", r.stdout);
        assert!(!r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"), "{sql}: {}", r.stderr);
        assert!(r.stderr.contains("trailscan: error:"), "{sql}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{sql}: wanted {says:?} in {}", r.stderr);
        assert!(!r.stderr.contains("Resolved plan"), "{sql}: {}", r.stderr);
        for table in ["sessions", "actions", "flags", "files"] {
            let listed =
                r.stderr.lines().any(|l| l.starts_with("  ") && l.trim_start().starts_with(&format!("{table} ")));
            assert!(listed, "{sql}: {table} not listed: {}", r.stderr);
        }
        assert!(r.stderr.contains("assumed_at") && r.stderr.contains("session_event_id"), "{}", r.stderr);
    }
}

#[test]
fn parquet_output_holds_the_same_table() {
    let w = Workdir::new();
    story(&w);
    let r = w.run(&["sessions", "-s", ".", "-f", "parquet", "-o", "s.parquet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bytes = std::fs::read(w.path().join("s.parquet")).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    let df = read_parquet(&w.path().join("s.parquet"));
    assert_eq!(df.height(), 7);
    assert_eq!(df.get_column_names()[0].as_str(), "assumed_at");
    // To a pipe (not a terminal) Parquet goes to stdout; report and query write it too.
    for args in [&["report", "daily_summary"][..], &["query", "SELECT * FROM actions"], &["who-became-what"]] {
        let mut all = args.to_vec();
        all.extend(["-s", ".", "-f", "parquet", "-o", "x.parquet"]);
        let r = w.run(&all);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(read_parquet(&w.path().join("x.parquet")).height() > 0, "{args:?}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trailscan"))
        .current_dir(w.path())
        .args(["sessions", "-s", ".", "-f", "parquet"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.starts_with(b"PAR1"));
}

fn read_parquet(p: &Path) -> polars::prelude::DataFrame {
    use polars::prelude::*;
    ParquetReader::new(std::fs::File::open(p).unwrap()).finish().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[test]
fn bundle_layout_summary_and_hashes_verify() {
    let w = Workdir::new();
    story(&w);
    let r = w.run(&["scan", "-s", ".", "--out", "out/bundle", "--since", "2026-11-01"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("bundle: 10 files written to out/bundle"), "{}", r.stderr);
    let dir = w.path().join("out/bundle");
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "README.txt",
            "actions.csv",
            "actions.parquet",
            "files.csv",
            "files.parquet",
            "flags.csv",
            "flags.parquet",
            "sessions.csv",
            "sessions.parquet",
            "summary.json"
        ]
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let hashes = summary["sha256"].as_object().unwrap();
    assert_eq!(hashes.len(), 9, "every file but summary.json");
    for (name, hash) in hashes {
        assert_eq!(&sha256(&std::fs::read(dir.join(name)).unwrap()), hash.as_str().unwrap(), "{name}");
    }
    assert_eq!(summary["tool"], "trailscan");
    assert_eq!(summary["version"], env!("CARGO_PKG_VERSION"));
    let command = summary["command"].as_array().unwrap();
    assert_eq!(
        command[1..],
        json!(["scan", "-s", ".", "--out", "out/bundle", "--since", "2026-11-01"]).as_array().unwrap()[..]
    );
    assert_eq!(summary["inputs"]["sources"], json!(["."]));
    assert_eq!(summary["time_range"]["since"], "2026-11-01T00:00:00Z");
    assert_eq!(summary["time_range"]["until"], Value::Null);
    assert_eq!(summary["time_range"]["first_event_at"], "2026-11-20T09:00:00Z");
    assert_eq!(summary["time_range"]["last_event_at"], "2026-11-21T13:00:00Z");
    let c = &summary["counts"];
    assert_eq!(
        c["files"],
        json!({"total": 4, "read": 2, "read_with_problems": 0, "skipped": 1, "failed": 1,
               "skipped_by_reason": {"CloudTrail digest": 1}, "failed_by_reason": {"truncated gzip": 1}})
    );
    assert_eq!(c["records"]["unique"], 14);
    assert_eq!(c["sessions"]["total"], 7);
    assert_eq!(c["sessions"]["failed_attempts"], 1);
    assert_eq!(c["findings"], json!({"total": 4, "high": 4, "medium": 0, "low": 0}));
    assert_eq!(c["rows"]["sessions"], 7);
    assert_eq!(summary["failed_files"].as_array().unwrap().len(), 1);
    assert!(summary["generated_at"].as_str().unwrap().ends_with('Z'));

    // CSV and Parquet hold the same rows; CSV has a header and RFC 3339 times.
    for table in ["sessions", "actions", "flags", "files"] {
        let csv = std::fs::read_to_string(dir.join(format!("{table}.csv"))).unwrap();
        let pq = read_parquet(&dir.join(format!("{table}.parquet")));
        assert_eq!(csv.lines().count() - 1, pq.height(), "{table}");
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let cols: Vec<&str> = pq.get_column_names().iter().map(|c| c.as_str()).collect();
        assert_eq!(header, cols, "{table}");
        assert_eq!(c["rows"][table], pq.height(), "{table}");
    }
    let sessions = std::fs::read_to_string(dir.join("sessions.csv")).unwrap();
    assert!(sessions.lines().nth(1).unwrap().starts_with("2026-11-20T09:00:00Z,AssumeRole,"), "{sessions}");
    let readme = std::fs::read_to_string(dir.join("README.txt")).unwrap();
    for needle in ["sessions.csv, sessions.parquet", "session_event_id", "sha256sum -c", "formula"] {
        assert!(readme.contains(needle), "{needle}");
    }

    // A second run replaces the bundle; files that are not ours are left alone, with a warning.
    w.write("out/bundle/notes.txt", "mine");
    let r = w.run(&["scan", "-s", ".", "--out", "out/bundle"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("not part of the bundle (not in summary.json): notes.txt"), "{}", r.stderr);
    assert!(dir.join("notes.txt").exists());
    assert!(!std::fs::read_dir(&dir).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp")));
}

fn bundle_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect()
}

#[test]
fn bundles_are_byte_identical_across_runs_and_threads() {
    let w = Workdir::new();
    story(&w);
    // More files than threads, so that the order in which workers finish varies.
    for day in 1..=9 {
        let user = iam_user(A, &format!("u{day}"), &format!("AKIAU{day}"));
        let role = format!("arn:aws:iam::111122223333:role/R{day}");
        w.trail(
            &format!("more/f{day}.json.gz"),
            &[assume_role(
                &format!("m{day}"),
                &format!("2026-11-1{day}T10:00:00Z"),
                user,
                &role,
                "s",
                &format!("ASIAM{day}"),
                "Nov 19, 2026, 11:00:00 AM",
            )],
        );
    }
    let mut runs = Vec::new();
    for (i, threads) in ["1", "2", "2", "1"].iter().enumerate() {
        let out = format!("b{i}");
        // The bundles are written outside the sources, so that a run does not read the one before it.
        let r = w.run(&["scan", "-s", "AWSLogs", "-s", "more", "--out", &out, "--threads", threads]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        runs.push(bundle_files(&w.path().join(out)));
    }
    let strip = |files: &BTreeMap<String, Vec<u8>>| {
        let mut v: Value = serde_json::from_slice(&files["summary.json"]).unwrap();
        v["generated_at"] = Value::Null;
        v["command"] = Value::Null;
        v
    };
    for other in &runs[1..] {
        assert_eq!(runs[0].keys().collect::<Vec<_>>(), other.keys().collect::<Vec<_>>());
        for (name, bytes) in &runs[0] {
            if name != "summary.json" {
                assert!(bytes == &other[name], "{name} differs between runs");
            }
        }
        assert_eq!(strip(&runs[0]), strip(other));
    }
}

#[test]
fn scan_and_parquet_refuse_what_they_cannot_do() {
    let w = Workdir::new();
    story(&w);
    let r = w.run(&["scan", "-s", ".", "--out", "b", "-f", "csv"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--format and --output do not apply"), "{}", r.stderr);
    let r = w.run(&["scan", "-s", "."]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--out"), "{}", r.stderr);
    // Lists cannot go to CSV: the message says what to do instead.
    let r = w.run(&["query", "SELECT ARRAY_AGG(event_id) AS ids FROM sessions", "-s", ".", "-f", "csv"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("use --format json or parquet"), "{}", r.stderr);
}

#[test]
fn bundle_csv_cells_are_formula_safe() {
    let w = Workdir::new();
    let user = iam_user(A, "eve", "AKIAEVE");
    w.trail(
        "t.json.gz",
        &[assume_role(
            "x1",
            "2026-11-20T10:00:00Z",
            user,
            DEPLOY,
            "=HYPERLINK(\"http://x\")",
            "ASIAX",
            "Nov 20, 2026, 11:00:00 AM",
        )],
    );
    let r = w.run(&["scan", "-s", ".", "--out", "b"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let csv = std::fs::read_to_string(w.path().join("b/sessions.csv")).unwrap();
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{csv}");
    // Parquet keeps the value as it was logged.
    let pq = read_parquet(&w.path().join("b/sessions.parquet"));
    assert_eq!(pq.column("session_name").unwrap().str().unwrap().get(0), Some("=HYPERLINK(\"http://x\")"));
}
