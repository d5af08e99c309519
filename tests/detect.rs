//! The detections through the binary: `trailscan flags`, the `flags` column, `--fail-on`, `--baseline-until`
//! and `[detect]` in trailscan.toml, on small trails built per test and on the shared real data.

use crate::util::*;
use serde_json::{json, Value};

const ACCT: &str = "111122223333";
const ROLE_FN: &str = "arn:aws:iam::111122223333:role/service-role/fn-role";
const FN_ARN: &str = "arn:aws:sts::111122223333:assumed-role/fn-role/fn";
const ROLE_ADMIN: &str = "arn:aws:iam::111122223333:role/Admin";
const ROLE_APP: &str = "arn:aws:iam::111122223333:role/App";
const T: &str = "2026-11-20T10:00:00Z";
const EXPIRES: &str = "Nov 20, 2026, 11:00:00 AM";

fn at(min: u32) -> String {
    format!("2026-11-20T10:{min:02}:00Z")
}

/// A Lambda function's key, used by the function and then from a laptop (the flaws2 story).
fn stolen_lambda() -> Vec<Value> {
    let fn_session = || role_session(FN_ARN, "ASIAFN", T);
    vec![
        service_assume_role("l1", T, "lambda.amazonaws.com", ROLE_FN, "fn", "ASIAFN"),
        as_call(call("c1", T, "x", fn_session(), "34.234.236.212"), "logs.amazonaws.com", "CreateLogStream"),
        as_call(call("c2", &at(1), "x", fn_session(), "34.234.236.212"), "logs.amazonaws.com", "CreateLogStream"),
        call("c3", &at(2), "ListObjects", fn_session(), "104.102.221.250"),
    ]
}

/// The same function, used only by itself.
fn quiet_lambda() -> Vec<Value> {
    stolen_lambda().into_iter().take(3).collect()
}

fn flags_json(w: &Workdir, extra: &[&str]) -> (Vec<Value>, Run) {
    let mut args = vec!["flags", "-s", "logs", "-f", "json"];
    args.extend_from_slice(extra);
    let r = w.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    (r.json(), r)
}

fn workdir(events: &[Value]) -> Workdir {
    let w = Workdir::new();
    w.trail("logs/a.json.gz", events);
    w
}

#[test]
fn stolen_lambda_credentials_are_one_finding_with_its_evidence() {
    let w = workdir(&stolen_lambda());
    let (rows, run) = flags_json(&w, &[]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let f = &rows[0];
    assert_eq!(f["rule"], "credentials-used-elsewhere");
    assert_eq!(f["severity"], "high");
    assert_eq!(f["detected_at"], "2026-11-20T10:02:00Z");
    assert_eq!(f["principal"], "lambda.amazonaws.com");
    assert_eq!(f["role_arn"], ROLE_FN);
    assert_eq!(f["session_arn"], FN_ARN);
    assert_eq!(f["access_key_id"], "ASIAFN");
    assert_eq!(f["source_ips"], "104.102.221.250");
    assert_eq!(f["event_ids"], "l1;c1;c3");
    assert_eq!(
        f["summary"],
        "Lambda credentials (role fn-role, session fn), first used from 34.234.236.0/24, used from 104.102.221.250 \
         (s3:ListObjects at 2026-11-20T10:02:00Z)"
    );
    assert!(run.stderr.contains("trailscan: findings: 1 (1 high)"), "{}", run.stderr);

    // One JSON finding per line for SIEM pickup.
    let nd = w.run(&["flags", "-s", "logs", "-f", "ndjson"]);
    let lines: Vec<Value> = nd.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, rows);
    // The table shows the summary whole, however long.
    let table = w.run(&["flags", "-s", "logs", "-f", "table"]);
    assert!(table.stdout.contains("(s3:ListObjects at 2026-11-20T10:02:00Z)"), "{}", table.stdout);
    let csv = w.run(&["flags", "-s", "logs", "-f", "csv"]);
    assert!(csv.stdout.starts_with(
        "detected_at,rule,severity,principal,role_arn,session_arn,access_key_id,session_event_id,source_ips,summary,event_ids\n"
    ));

    let quiet = workdir(&quiet_lambda());
    let (rows, run) = flags_json(&quiet, &[]);
    assert!(rows.is_empty(), "{rows:#?}");
    assert!(run.stderr.contains("trailscan: findings: 0"), "{}", run.stderr);
}

#[test]
fn the_sessions_table_names_each_sessions_flags() {
    let mut events = stolen_lambda();
    events.push(as_call(
        call("c4", &at(3), "x", role_session(FN_ARN, "ASIAFN", T), "104.102.221.250"),
        "iam.amazonaws.com",
        "CreateUser",
    ));
    events.push(assume_role("a1", T, iam_user(ACCT, "alice", "AKIAALICE"), ROLE_APP, "alice", "ASIAALICE", EXPIRES));
    let w = workdir(&events);
    let r = w.run(&["sessions", "-s", "logs", "-f", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = r.json();
    let lambda = rows_where(&rows, "access_key_id", "ASIAFN");
    assert_eq!(lambda[0]["flags"], "credentials-used-elsewhere;privileged-action-in-session");
    assert_eq!(rows_where(&rows, "access_key_id", "ASIAALICE")[0]["flags"], Value::Null);
    let table = w.run(&["sessions", "-s", "logs", "-f", "table"]);
    assert!(table.stdout.lines().next().unwrap().ends_with("flags"), "{}", table.stdout);
    let who = w.run(&["who-assumed", "fn-role", "-s", "logs", "-f", "csv"]);
    assert!(who.stdout.contains(",credentials-used-elsewhere;privileged-action-in-session"), "{}", who.stdout);
}

#[test]
fn fail_on_exits_3_at_or_above_the_severity() {
    let stolen = workdir(&stolen_lambda());
    let quiet = workdir(&quiet_lambda());
    for (w, args, code) in [
        (&stolen, vec!["sessions", "--fail-on", "high"], 3),
        (&stolen, vec!["flags", "--fail-on", "low"], 3),
        (&stolen, vec!["who-became-what", "--fail-on", "medium"], 3),
        (&stolen, vec!["sessions"], 0),
        (&quiet, vec!["sessions", "--fail-on", "low"], 0),
        // Findings outrank "nothing found": a gate is never masked by an empty lookup.
        (&stolen, vec!["who-assumed", "NoSuchRole", "--fail-on", "high"], 3),
        (&quiet, vec!["who-assumed", "NoSuchRole", "--fail-on", "high"], 1),
    ] {
        let mut full = args.clone();
        full.extend(["-s", "logs", "-f", "csv"]);
        let r = w.run(&full);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        if code == 3 {
            assert!(r.stderr.contains("--fail-on"), "{}", r.stderr);
            assert!(!r.stdout.is_empty() || args[0] == "who-assumed", "results are still written");
        }
    }
    // A medium finding (a three-hop chain) passes a high gate and fails a medium one.
    let w = workdir(&chain_story());
    let r = w.run(&["flags", "-s", "logs", "-f", "csv", "--fail-on", "high"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = w.run(&["flags", "-s", "logs", "-f", "csv", "--fail-on", "medium"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    // An error outranks findings.
    stolen.write("logs/broken.json.gz", b"\x1f\x8b\x08\x00truncated");
    let r = stolen.run(&["flags", "-s", "logs", "-f", "csv", "--fail-on", "high", "--strict"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = stolen.run(&["flags", "-s", "logs", "--fail-on", "severe"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("low, medium, high"), "{}", r.stderr);
}

/// Alice (with MFA) assumes App, App's session assumes Admin, Admin's session assumes Deep: three hops.
fn chain_story() -> Vec<Value> {
    let deep = "arn:aws:iam::111122223333:role/Deep";
    let hop = |id: &str, min: u32, caller: Value, role: &str, key: &str| {
        let mut a = assume_role(id, &at(min), caller, role, "hop", key, EXPIRES);
        a["requestParameters"]["serialNumber"] = json!("arn:aws:iam::111122223333:mfa/alice");
        a
    };
    let sess = |role: &str| format!("arn:aws:sts::111122223333:assumed-role/{role}/hop");
    vec![
        hop("h1", 0, iam_user(ACCT, "alice", "AKIAALICE"), ROLE_APP, "ASIAH1"),
        hop("h2", 1, role_session(&sess("App"), "ASIAH1", &at(0)), ROLE_ADMIN, "ASIAH2"),
        hop("h3", 2, role_session(&sess("Admin"), "ASIAH2", &at(1)), deep, "ASIAH3"),
    ]
}

#[test]
fn who_assumed_what_rules_through_the_binary() {
    let breakglass = "arn:aws:iam::111122223333:role/BreakGlass";
    let mut events = chain_story();
    // Alice into BreakGlass without MFA; Bob with it.
    events.push(assume_role(
        "b1",
        &at(5),
        iam_user(ACCT, "alice", "AKIAALICE"),
        breakglass,
        "alice",
        "ASIAB1",
        EXPIRES,
    ));
    let mut bob = assume_role("b2", &at(6), iam_user(ACCT, "bob", "AKIABOB"), breakglass, "bob", "ASIAB2", EXPIRES);
    bob["requestParameters"]["serialNumber"] = json!("arn:aws:iam::111122223333:mfa/bob");
    events.push(bob);
    // The role owner's copy of an assumption from an outside account, and from a trusted one.
    for (id, outside) in [("x1", "999988887777"), ("x2", "444455556666")] {
        let mut x =
            assume_role(id, &at(7), json!({}), ROLE_APP, "partner", &format!("ASIA{}", id.to_uppercase()), EXPIRES);
        x["userIdentity"] = json!({"type": "AWSAccount", "principalId": "AROAPARTNER:partner", "accountId": outside});
        events.push(x);
    }
    // Lambda's role, assumed by the function and by Carol.
    events.push(service_assume_role("l1", &at(8), "lambda.amazonaws.com", ROLE_FN, "fn", "ASIAFN"));
    events.push(assume_role("c1", &at(9), iam_user(ACCT, "carol", "AKIACAROL"), ROLE_FN, "carol", "ASIAC1", EXPIRES));
    let w = workdir(&events);
    w.write("trailscan.toml", "[detect]\ntrusted_accounts = [\"444455556666\"]\n");
    let (rows, _) = flags_json(&w, &[]);
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|f| (f["rule"].as_str().unwrap().to_owned(), f["event_ids"].as_str().unwrap().to_owned()))
        .collect();
    let want: Vec<(String, String)> = [
        ("long-role-chain", "h1;h2;h3"),
        ("sensitive-role-without-mfa", "b1"),
        ("untrusted-external-account", "x1"),
        ("service-role-used-by-human", "c1;l1"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want, "{rows:#?}");
    let chain = &rows[0];
    assert_eq!(chain["severity"], "medium");
    assert_eq!(chain["principal"], "arn:aws:iam::111122223333:user/alice");
    assert_eq!(
        chain["summary"],
        "a chain of 3 hops, deeper than 2: arn:aws:iam::111122223333:user/alice → App → Admin → Deep"
    );
    // A deeper limit quiets the chain.
    w.write("trailscan.toml", "[detect]\ntrusted_accounts = [\"444455556666\"]\nmax_chain_depth = 3\n");
    let (rows, _) = flags_json(&w, &[]);
    assert!(rows.iter().all(|f| f["rule"] != "long-role-chain"));
}

#[test]
fn first_seen_assumptions_need_a_baseline() {
    let day = |d: u32, h: u32| format!("2026-11-{d}T{h:02}:00:00Z");
    let alice = || iam_user(ACCT, "alice", "AKIAALICE");
    let events = vec![
        assume_role("a1", &day(20, 9), alice(), ROLE_ADMIN, "alice", "ASIAA1", EXPIRES),
        service_assume_role("l1", &day(20, 9), "lambda.amazonaws.com", ROLE_FN, "awslambda_1", "ASIAL1"),
        assume_role("a2", &day(21, 9), alice(), ROLE_ADMIN, "alice", "ASIAA2", EXPIRES),
        assume_role("a3", &day(21, 10), alice(), ROLE_APP, "alice", "ASIAA3", EXPIRES),
        assume_role("a4", &day(21, 11), alice(), ROLE_APP, "alice", "ASIAA4", EXPIRES),
        // Lambda names each session differently: still one assumer, the service.
        service_assume_role("l2", &day(21, 9), "lambda.amazonaws.com", ROLE_FN, "awslambda_2", "ASIAL2"),
    ];
    let w = workdir(&events);
    let (rows, _) = flags_json(&w, &[]);
    assert!(rows.is_empty(), "no baseline, no first-seen: {rows:#?}");
    let (rows, _) = flags_json(&w, &["--baseline-until", "2026-11-21"]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["rule"], "first-seen-assumption");
    assert_eq!(rows[0]["event_ids"], "a3");
    assert_eq!(
        rows[0]["summary"],
        "arn:aws:iam::111122223333:user/alice assumed App for the first time (not seen before 2026-11-21T00:00:00Z)"
    );
    let r = w.run(&["flags", "-s", "logs", "--since", "2026-11-21", "--baseline-until", "2026-11-20"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no assumption would train the baseline"), "{}", r.stderr);
}

#[test]
fn denial_bursts_through_the_binary() {
    let mallory = || iam_user(ACCT, "mallory", "AKIAMALLORY");
    let bob = || iam_user(ACCT, "bob", "AKIABOB");
    let mut events = Vec::new();
    for i in 0..12u32 {
        let t = format!("2026-11-20T10:00:{:02}Z", i * 4);
        // Mallory probes six roles in another account; Bob's job retries one role it lost access to.
        events.push(denied_assume_role(
            &format!("m{i}"),
            &t,
            mallory(),
            &format!("arn:aws:iam::999988887777:role/r{}", i % 6),
        ));
        events.push(denied_assume_role(&format!("b{i}"), &t, bob(), ROLE_ADMIN));
    }
    // Alice's session is denied twelve times in two minutes; Carol's five times.
    let alice = "arn:aws:sts::111122223333:assumed-role/Admin/alice";
    let carol = "arn:aws:sts::111122223333:assumed-role/Admin/carol";
    events.push(assume_role("s1", T, iam_user(ACCT, "alice", "AKIAALICE"), ROLE_ADMIN, "alice", "ASIAS1", EXPIRES));
    events.push(assume_role("s2", T, iam_user(ACCT, "carol", "AKIACAROL"), ROLE_ADMIN, "carol", "ASIAS2", EXPIRES));
    for i in 0..12u32 {
        let t = format!("2026-11-20T10:{:02}:{:02}Z", 5 + i * 10 / 60, i * 10 % 60);
        let mut e = as_call(
            call(&format!("d{i}"), &t, "x", role_session(alice, "ASIAS1", T), "203.0.113.10"),
            "iam.amazonaws.com",
            "ListUsers",
        );
        e["errorCode"] = json!("AccessDenied");
        events.push(e);
        if i < 5 {
            let mut e = as_call(
                call(&format!("e{i}"), &t, "x", role_session(carol, "ASIAS2", T), "203.0.113.10"),
                "iam.amazonaws.com",
                "ListUsers",
            );
            e["errorCode"] = json!("AccessDenied");
            events.push(e);
        }
    }
    let w = workdir(&events);
    let (rows, _) = flags_json(&w, &[]);
    let rules: Vec<(&str, &str)> =
        rows.iter().map(|f| (f["rule"].as_str().unwrap(), f["principal"].as_str().unwrap())).collect();
    assert_eq!(
        rules,
        [
            ("role-enumeration", "arn:aws:iam::111122223333:user/mallory"),
            ("access-denied-burst", "arn:aws:iam::111122223333:user/alice"),
        ],
        "{rows:#?}"
    );
    assert_eq!(rows[0]["event_ids"].as_str().unwrap().split(';').count(), 12);
    assert_eq!(rows[0]["session_arn"], Value::Null);
    // Each probe's row in the sessions table carries the flag.
    let r = w.run(&["sessions", "-s", "logs", "-f", "json"]);
    let sessions = r.json();
    let probes = rows_where(&sessions, "source_principal", "arn:aws:iam::111122223333:user/mallory");
    assert_eq!(probes.len(), 12);
    assert!(probes.iter().all(|p| p["flags"] == "role-enumeration"));
    // Thresholds come from the config.
    w.write(
        "trailscan.toml",
        "[detect.role-enumeration]\nfailures = 20\n[detect.access-denied-burst]\nerrors = 5\nwindow = \"1m\"\n",
    );
    let (rows, _) = flags_json(&w, &[]);
    let rules: Vec<&str> = rows.iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["access-denied-burst", "access-denied-burst"], "{rows:#?}");
}

#[test]
fn privileged_actions_and_event_selectors() {
    let alice = "arn:aws:sts::111122223333:assumed-role/Admin/alice";
    let bob = "arn:aws:sts::111122223333:assumed-role/Admin/bob";
    let selectors = |include: bool| {
        let mut e =
            as_call(call("x", T, "x", json!({}), "203.0.113.10"), "cloudtrail.amazonaws.com", "PutEventSelectors");
        e["requestParameters"] = json!({"trailName": "org", "eventSelectors": [{"readWriteType": "All",
            "includeManagementEvents": include, "dataResources": [{"type": "AWS::S3::Object", "values": []}],
            "excludeManagementEventSources": []}]});
        e
    };
    let with = |mut e: Value, id: &str, min: u32, who: &str, key: &str| {
        e["eventID"] = json!(id);
        e["eventTime"] = json!(at(min));
        e["userIdentity"] = role_session(who, key, T);
        e
    };
    let events = vec![
        assume_role("s1", T, iam_user(ACCT, "alice", "AKIAALICE"), ROLE_ADMIN, "alice", "ASIAS1", EXPIRES),
        assume_role("s2", T, iam_user(ACCT, "bob", "AKIABOB"), ROLE_ADMIN, "bob", "ASIAS2", EXPIRES),
        // Alice adds S3 data events and keeps management events: routine.
        with(selectors(true), "p1", 1, alice, "ASIAS1"),
        // Bob turns management events off, then creates a user.
        with(selectors(false), "p2", 2, bob, "ASIAS2"),
        with(
            as_call(call("x", T, "x", json!({}), "203.0.113.10"), "iam.amazonaws.com", "CreateUser"),
            "p3",
            3,
            bob,
            "ASIAS2",
        ),
    ];
    let w = workdir(&events);
    let (rows, _) = flags_json(&w, &[]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["rule"], "privileged-action-in-session");
    assert_eq!(rows[0]["event_ids"], "s2;p2;p3");
    assert_eq!(
        rows[0]["summary"],
        "arn:aws:sts::111122223333:assumed-role/Admin/bob (from arn:aws:iam::111122223333:user/bob) made 2 privileged \
         call(s): cloudtrail:PutEventSelectors (dropping management events), iam:CreateUser"
    );
}

/// GetSigninToken turns a session's credentials into a console session: the Identity Center portal does it
/// with its own user agent; anything else (aws_consoler, Pacu) is flagged, once per session.
#[test]
fn console_sign_in_from_session_credentials() {
    let sign_in = |id: &str, min: u32, who: &str, key: &str, agent: &str| {
        let mut e = as_call(
            call(id, &at(min), "x", role_session(who, key, T), "203.0.113.10"),
            "signin.amazonaws.com",
            "GetSigninToken",
        );
        e["eventType"] = json!("AwsConsoleSignIn");
        e["userAgent"] = json!(agent);
        e["responseElements"] = json!({"GetSigninToken": "Success", "credentials": {"accessKeyId": "ASIACONSOLE"}});
        e
    };
    let alice = "arn:aws:sts::111122223333:assumed-role/Admin/alice";
    let bob = "arn:aws:sts::111122223333:assumed-role/Admin/bob";
    let events = vec![
        assume_role("s1", T, iam_user(ACCT, "alice", "AKIAALICE"), ROLE_ADMIN, "alice", "ASIAS1", EXPIRES),
        assume_role("s2", T, iam_user(ACCT, "bob", "AKIABOB"), ROLE_ADMIN, "bob", "ASIAS2", EXPIRES),
        // Bob signs in through the portal; Alice's credentials are opened in a console twice by a script.
        sign_in("g1", 1, bob, "ASIAS2", "Jersey/${project.version} (HttpUrlConnection 17.0.12)"),
        sign_in("g2", 2, alice, "ASIAS1", "python-requests/2.32.3"),
        sign_in("g3", 3, alice, "ASIAS1", "python-requests/2.32.3"),
    ];
    let w = workdir(&events);
    let (rows, _) = flags_json(&w, &[]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["rule"], "console-sign-in-from-credentials");
    assert_eq!(rows[0]["severity"], "medium");
    assert_eq!(rows[0]["event_ids"], "s1;g2;g3");
    assert_eq!(
        rows[0]["summary"],
        "arn:aws:sts::111122223333:assumed-role/Admin/alice (from arn:aws:iam::111122223333:user/alice) was turned \
         into a console session 2 time(s) through GetSigninToken, not by the Identity Center portal"
    );
}

/// A role that assumes itself through the legacy implicit self-trust (`explicitTrustGrant: false`) is
/// flagged; one whose trust policy grants it is not.
#[test]
fn self_assumption_through_implicit_trust() {
    let alice = "arn:aws:sts::111122223333:assumed-role/Admin/alice";
    let renew = |id: &str, min: u32, key: &str, explicit: bool| {
        let mut e = assume_role(id, &at(min), role_session(alice, "ASIAS1", T), ROLE_ADMIN, "alice", key, EXPIRES);
        e["additionalEventData"] = json!({"explicitTrustGrant": explicit});
        e
    };
    let events = vec![
        assume_role("s1", T, iam_user(ACCT, "alice", "AKIAALICE"), ROLE_ADMIN, "alice", "ASIAS1", EXPIRES),
        renew("s2", 5, "ASIAS2", true),
        renew("s3", 10, "ASIAS3", false),
    ];
    let w = workdir(&events);
    let (rows, _) = flags_json(&w, &[]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["rule"], "implicit-self-trust");
    assert_eq!(rows[0]["severity"], "medium");
    assert_eq!(rows[0]["event_ids"], "s3");
    assert_eq!(rows[0]["principal"], "arn:aws:iam::111122223333:user/alice");
    assert_eq!(
        rows[0]["summary"],
        "Admin assumed itself through the legacy implicit self-trust, not its trust policy (explicitTrustGrant \
         false): grant it in the trust policy, or stop the self-assumption"
    );
}

/// GetFederationToken by an IAM user is flagged; GetSessionToken (the MFA-for-CLI routine) and a denied
/// attempt are not.
#[test]
fn federation_tokens_made_by_users() {
    let sts = |id: &str, name: &str, key: &str, denied: bool| {
        let mut e =
            as_call(call(id, T, "x", iam_user(ACCT, "dave", "AKIADAVE"), "203.0.113.10"), "sts.amazonaws.com", name);
        e["requestParameters"] = json!({"name": "fed", "durationSeconds": 129600});
        e["responseElements"] = json!({"credentials": {"accessKeyId": key, "expiration": "Nov 22, 2026, 10:00:00 PM"},
            "federatedUser": {"arn": "arn:aws:sts::111122223333:federated-user/fed", "federatedUserId": "111122223333:fed"}});
        if denied {
            e["errorCode"] = json!("AccessDenied");
            e["responseElements"] = json!(null);
        }
        e
    };
    let events = vec![
        sts("f1", "GetFederationToken", "ASIAFED", false),
        sts("f2", "GetFederationToken", "ASIAFED2", true),
        sts("g1", "GetSessionToken", "ASIAGST", false),
    ];
    let w = workdir(&events);
    let (rows, _) = flags_json(&w, &[]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["rule"], "federation-token-by-user");
    assert_eq!(rows[0]["event_ids"], "f1");
    assert_eq!(
        rows[0]["summary"],
        "arn:aws:iam::111122223333:user/dave made itself the federated session \
         arn:aws:sts::111122223333:federated-user/fed with GetFederationToken: it lasts up to 36 h and outlives the \
         access key that made it"
    );
}

/// Calls whose user agent names an attack tool: TruffleHog checking an IAM user's key (a finding on the user)
/// and the CLI on Kali Linux with a role session's key (a finding on the session). The same calls from an
/// ordinary CLI are not flagged.
#[test]
fn attack_tool_user_agents() {
    let with_agent = |mut e: Value, agent: &str| {
        e["userAgent"] = json!(agent);
        e
    };
    let identity = |id: &str, min: u32, who: Value| {
        as_call(call(id, &at(min), "x", who, "203.0.113.10"), "sts.amazonaws.com", "GetCallerIdentity")
    };
    let alice = || role_session("arn:aws:sts::111122223333:assumed-role/Admin/alice", "ASIAS1", T);
    let carol = || role_session("arn:aws:sts::111122223333:assumed-role/Admin/carol", "ASIAS2", T);
    let kali = "aws-cli/2.15.0 Python/3.11.8 Linux/6.6.9-amd64-kali exe/x86_64.kali.2024 prompt/off";
    let events = vec![
        assume_role("s1", T, iam_user(ACCT, "alice", "AKIAALICE"), ROLE_ADMIN, "alice", "ASIAS1", EXPIRES),
        assume_role("s2", T, iam_user(ACCT, "carol", "AKIACAROL"), ROLE_ADMIN, "carol", "ASIAS2", EXPIRES),
        with_agent(identity("t1", 1, iam_user(ACCT, "bob", "AKIABOB")), "trufflehog/3.63.0"),
        with_agent(identity("k1", 2, alice()), kali),
        with_agent(call("k2", &at(3), "ListBuckets", alice(), "203.0.113.10"), kali),
        identity("n1", 4, iam_user(ACCT, "dave", "AKIADAVE")),
        identity("n2", 5, carol()),
    ];
    let w = workdir(&events);
    let (rows, _) = flags_json(&w, &[]);
    let found: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["principal"].as_str().unwrap(), f["event_ids"].as_str().unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            ("attack-tool-user-agent", "arn:aws:iam::111122223333:user/bob", "t1"),
            ("attack-tool-user-agent", "arn:aws:iam::111122223333:user/alice", "s1;k1;k2"),
        ],
        "{rows:#?}"
    );
    assert_eq!(rows[0]["severity"], "high");
    assert!(rows[0]["session_event_id"].is_null(), "a finding on the user, whose own key it is");
    assert_eq!(rows[1]["session_arn"], "arn:aws:sts::111122223333:assumed-role/Admin/alice");
    assert_eq!(
        rows[1]["summary"],
        "arn:aws:sts::111122223333:assumed-role/Admin/alice (from arn:aws:iam::111122223333:user/alice) was used by \
         an attack tool (TruffleHog, or Kali, Parrot or Pentoo Linux, by its user agent) for 2 call(s): \
         sts:GetCallerIdentity, s3:ListBuckets"
    );
}

#[test]
fn suppressions_and_allow_listed_networks() {
    let w = workdir(&stolen_lambda());
    for (toml, findings, suppressed) in [
        ("[detect]\nallow_cidrs = [\"104.102.221.0/24\"]\n", 0, false),
        ("[detect]\nallow_cidrs = [\"10.0.0.0/8\"]\n", 1, false),
        ("[[detect.suppress]]\nrule = \"credentials-used-elsewhere\"\nrole = \"fn-role\"\nreason = \"lab\"\n", 0, true),
        ("[[detect.suppress]]\nrule = \"*\"\nprincipal = \"lambda.amazonaws.com\"\n", 0, true),
        ("[[detect.suppress]]\nrule = \"credentials-used-elsewhere\"\ncidr = \"104.102.0.0/16\"\n", 0, true),
        ("[[detect.suppress]]\nrule = \"credentials-used-elsewhere\"\nprincipal = \"someone-else\"\n", 1, false),
        ("[[detect.suppress]]\nrule = \"long-role-chain\"\n", 1, false),
    ] {
        w.write("trailscan.toml", toml);
        let (rows, run) = flags_json(&w, &[]);
        assert_eq!(rows.len(), findings, "{toml}");
        assert_eq!(run.stderr.contains("1 suppressed by [[detect.suppress]]"), suppressed, "{toml}: {}", run.stderr);
    }
}

#[test]
fn aws_ip_ranges_tell_workloads_used_outside_aws() {
    let task = "arn:aws:sts::111122223333:assumed-role/task/d190d14a";
    let events = vec![
        service_assume_role(
            "t1",
            T,
            "ecs-tasks.amazonaws.com",
            "arn:aws:iam::111122223333:role/task",
            "d190d14a",
            "ASIAT1",
        ),
        call("c1", &at(5), "ListBuckets", role_session(task, "ASIAT1", T), "104.102.221.250"),
    ];
    let w = workdir(&events);
    let (rows, _) = flags_json(&w, &[]);
    assert!(rows.is_empty(), "one address and no ranges: nothing to compare: {rows:#?}");
    w.write("conf/ranges.json", r#"{"syncToken":"1","prefixes":[{"ip_prefix":"34.224.0.0/12","region":"us-east-1","service":"AMAZON"}],"ipv6_prefixes":[]}"#);
    w.write("conf/trailscan.toml", "[detect]\naws_ip_ranges = \"ranges.json\"\n");
    let (rows, _) = flags_json(&w, &["--config", "conf/trailscan.toml"]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert!(rows[0]["summary"].as_str().unwrap().contains("used from 104.102.221.250, outside AWS"), "{rows:#?}");
}

#[test]
fn detect_settings_are_checked_and_errors_say_what_to_write() {
    let w = workdir(&quiet_lambda());
    for (toml, says) in [
        ("[detect]\ntrusted_acounts = [\"444455556666\"]\n", "`trusted_accounts`"),
        ("[detect]\nbogus = 1\n", "`sensitive_roles`"),
        ("[detect.role-enumeration]\nfailurez = 3\n", "`failures`"),
        ("[detect.credentials-used-elsewhere]\nipv4 = 16\n", "`ipv4_prefix`"),
        ("[[detect.suppress]]\nrule = \"privileged-action-in-session\"\nrol = \"x\"\n", "`role`"),
        ("[detect]\nallow_cidrs = [\"corp-vpn\"]\n", "203.0.113.0/24"),
        ("[detect]\ntrusted_accounts = [\"4444\"]\n", "12 digits"),
        ("[detect]\nmax_chain_depth = 0\n", "at least 1"),
        ("[detect]\naws_ip_ranges = \"missing.json\"\n", "https://ip-ranges.amazonaws.com/ip-ranges.json"),
        ("[detect.access-denied-burst]\nwindow = \"soon\"\n", "\"15m\""),
        ("[detect.role-enumeration]\nroles = 0\n", "at least 1"),
        ("[[detect.suppress]]\nrule = \"stolen-creds\"\n", "credentials-used-elsewhere, role-enumeration"),
        ("[[detect.suppress]]\nrule = \"*\"\ncidr = \"10.0.0.0/40\"\n", "203.0.113.0/24"),
        ("[detect]\nsensitive_roles = [\"[\"]\n", "not a valid glob"),
    ] {
        w.write("trailscan.toml", toml);
        let r = w.run(&["flags", "-s", "logs"]);
        assert_eq!(r.code, 2, "{toml}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{toml}: {}", r.stderr);
    }
    w.write(
        "trailscan.toml",
        "[detect]\ntrusted_accounts = [\"444455556666\"]\nsensitive_roles = [\"*BreakGlass*\", \"OrganizationAccountAccessRole\"]\n\
         max_chain_depth = 2\nallow_cidrs = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n\
         [detect.credentials-used-elsewhere]\nipv4_prefix = 24\nipv6_prefix = 48\n\
         [detect.role-enumeration]\nfailures = 10\nroles = 5\nwindow = \"15m\"\n\
         [detect.access-denied-burst]\nerrors = 10\nwindow = \"10m\"\n\
         [[detect.suppress]]\nrule = \"privileged-action-in-session\"\nrole = \"cdk-*\"\nreason = \"deployments\"\n",
    );
    let r = w.run(&["flags", "-s", "logs", "-f", "json"]);
    assert_eq!(r.code, 0, "every documented key is accepted: {}", r.stderr);
}

// ---- Real third-party data from ../shared/data/real (skipped with a message when absent) ----

fn real_flags(path: &std::path::Path) -> Vec<Value> {
    let r = trailscan(&repo(), &["flags", "-s", path.to_str().unwrap(), "-f", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r.json()
}

#[test]
fn real_flaws2_stolen_lambda_credentials_are_flagged() {
    let Some(dir) = real_data("flaws2-cloud") else { return };
    let rows = real_flags(&dir);
    let lambda: Vec<&Value> = rows.iter().filter(|f| f["access_key_id"] == "ASIAZQNB3KHGIGYQXVVG").collect();
    assert_eq!(lambda.len(), 1, "{rows:#?}");
    let f = lambda[0];
    assert_eq!(f["rule"], "credentials-used-elsewhere");
    assert_eq!(f["principal"], "lambda.amazonaws.com");
    assert_eq!(f["session_arn"], "arn:aws:sts::653711331788:assumed-role/level1/level1");
    assert_eq!(f["source_ips"], "104.102.221.250");
    // The attacker's first call with the key: ListObjects, minutes after the function's own calls.
    assert_eq!(f["detected_at"], "2018-11-28T23:04:54Z");
    assert!(f["summary"].as_str().unwrap().contains("first used from 34.234.236.0/24"), "{f:#?}");
}

/// Stratus Red Team's persistence through GetFederationToken, as recorded: the federated session is flagged;
/// TrailDiscover's denied attempts are not.
#[test]
fn real_stratus_federation_token_persistence_is_flagged() {
    let Some(dir) = real_data("stratus-red-team") else { return };
    let rows = real_flags(&dir.join("aws.persistence.sts-federation-token.json"));
    let federated: Vec<&Value> = rows.iter().filter(|f| f["rule"] == "federation-token-by-user").collect();
    assert_eq!(federated.len(), 1, "{rows:#?}");
    assert_eq!(federated[0]["principal"], "arn:aws:iam::742491224508:user/stratus-red-team-user-federation-user");
    assert_eq!(federated[0]["session_arn"], "arn:aws:sts::742491224508:federated-user/stratus_red_team");
    assert_eq!(federated[0]["access_key_id"], "ASIASTJKC5GCM7ZE6LUP");
    let Some(discover) = real_data("traildiscover") else { return };
    for denied in ["GetFederationToken.json.cloudtrail", "SecurityTokenService-GetFederationToken.json.cloudtrail"] {
        assert!(real_flags(&discover.join(denied)).iter().all(|f| f["rule"] != "federation-token-by-user"));
    }
}

/// Panther's TruffleHog test events: the user whose key TruffleHog checked is flagged, the one using the CLI
/// is not.
#[test]
fn real_trufflehog_key_checks_are_flagged() {
    let Some(dir) = real_data("panther-analysis") else { return };
    let rows = real_flags(&dir.join("aws_sts_getcalleridentity_trufflehog.yml.tests.json"));
    let tool: Vec<&Value> = rows.iter().filter(|f| f["rule"] == "attack-tool-user-agent").collect();
    assert_eq!(tool.len(), 1, "{rows:#?}");
    assert_eq!(tool[0]["principal"], "arn:aws:iam::123456789012:user/compromised-user");
}

#[test]
fn real_stratus_stolen_instance_credentials_are_flagged() {
    let Some(dir) = real_data("stratus-red-team") else { return };
    let file = dir.join("aws.credential-access.ec2-steal-instance-credentials.json");
    for input in [file.as_path(), dir.as_path()] {
        let rows = real_flags(input);
        let stolen: Vec<&Value> = rows.iter().filter(|f| f["access_key_id"] == "ASIAP5CT9NN8EYVU1FXV").collect();
        assert_eq!(stolen.len(), 1, "{}: {rows:#?}", input.display());
        let f = stolen[0];
        assert_eq!(f["rule"], "credentials-used-elsewhere");
        assert_eq!(f["source_ips"], "18.236.253.47");
        let summary = f["summary"].as_str().unwrap();
        assert!(summary.starts_with("EC2 instance credentials"), "{summary}");
        assert!(summary.contains("arn:aws:iam::017622104382:user/christophe"), "{summary}");
    }
}

#[test]
fn real_opensearch_aws_config_sessions_are_not_flagged() {
    let Some(dir) = real_data("opensearch-catalog") else { return };
    let rows = real_flags(&dir);
    let config: Vec<&Value> = rows
        .iter()
        .filter(|f| {
            f["principal"] == "config.amazonaws.com"
                || f["session_arn"].as_str().is_some_and(|a| a.contains("AWSServiceRoleForConfig"))
        })
        .collect();
    assert!(config.is_empty(), "{config:#?}");
    let r = trailscan(&repo(), &["sessions", "-s", dir.to_str().unwrap(), "-f", "json"]);
    let sessions = r.json();
    let config_rows = rows_where(&sessions, "source_principal", "config.amazonaws.com");
    assert_eq!(config_rows.len(), 50);
    assert!(config_rows.iter().all(|s| s["flags"].is_null()));
}

#[test]
fn real_data_flags_run_everywhere_without_panics() {
    let Some(root) = real_data("") else { return };
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() {
            let rows = real_flags(&dir);
            for f in &rows {
                assert!(!f["summary"].as_str().unwrap().is_empty());
                assert!(["low", "medium", "high"].contains(&f["severity"].as_str().unwrap()));
            }
        }
    }
}
