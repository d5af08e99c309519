//! Each linking rule of the correlator, on a small trail built for it.

use crate::util::*;
use serde_json::json;

const ROLE: &str = "arn:aws:iam::111122223333:role/Deploy";
const SESSION_ARN: &str = "arn:aws:sts::111122223333:assumed-role/Deploy/s";

#[test]
fn recycled_key_ids_make_two_sessions() {
    let w = Workdir::new();
    let user = iam_user("111122223333", "alice", "AKIAALICE");
    w.trail(
        "a.json.gz",
        &[
            assume_role(
                "a1",
                "2026-11-20T10:00:00Z",
                user.clone(),
                ROLE,
                "s",
                "ASIARECYCLED",
                "Nov 20, 2026, 11:00:00 AM",
            ),
            assume_role("a2", "2026-11-20T14:00:00Z", user, ROLE, "s", "ASIARECYCLED", "Nov 20, 2026, 3:00:00 PM"),
            call(
                "c1",
                "2026-11-20T10:05:00Z",
                "ListBuckets",
                role_session(SESSION_ARN, "ASIARECYCLED", "2026-11-20T10:00:00Z"),
                "1.1.1.1",
            ),
            call(
                "c2",
                "2026-11-20T14:05:00Z",
                "ListBuckets",
                role_session(SESSION_ARN, "ASIARECYCLED", "2026-11-20T14:00:00Z"),
                "2.2.2.2",
            ),
            call(
                "c3",
                "2026-11-20T14:06:00Z",
                "GetObject",
                role_session(SESSION_ARN, "ASIARECYCLED", "2026-11-20T14:00:00Z"),
                "2.2.2.2",
            ),
        ],
    );
    let r = w.run(&["sessions", "--source", ".", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = r.json();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["event_count"], 1);
    assert_eq!(rows[0]["source_ips"], "1.1.1.1");
    assert_eq!(rows[1]["event_count"], 2);
    assert_eq!(rows[1]["distinct_actions"], 2);
    assert_eq!(rows[1]["source_ips"], "2.2.2.2");
}

#[test]
fn console_sessions_link_by_arn_and_creation_date_with_new_keys() {
    let w = Workdir::new();
    let user = iam_user("111122223333", "alice", "AKIAALICE");
    w.trail(
        "a.json.gz",
        &[
            assume_role("a1", "2026-11-20T10:00:00Z", user, ROLE, "s", "ASIAISSUED", "Nov 20, 2026, 11:00:00 AM"),
            call(
                "c1",
                "2026-11-20T10:01:00Z",
                "ListBuckets",
                role_session(SESSION_ARN, "ASIACONSOLE1", "2026-11-20T10:00:00Z"),
                "1.1.1.1",
            ),
            call(
                "c2",
                "2026-11-20T10:02:00Z",
                "ListBuckets",
                role_session(SESSION_ARN, "ASIACONSOLE2", "2026-11-20T10:00:00Z"),
                "1.1.1.1",
            ),
            // Same ARN, another session (created later): not ours.
            call(
                "c3",
                "2026-11-20T12:02:00Z",
                "ListBuckets",
                role_session(SESSION_ARN, "ASIAOTHER", "2026-11-20T12:00:00Z"),
                "1.1.1.1",
            ),
        ],
    );
    let rows = w.run(&["sessions", "-s", ".", "-f", "json"]).json();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["event_count"], 2);
    assert_eq!(rows[0]["access_key_id"], "ASIAISSUED");
    // The later session's AssumeRole is not in the input: it is inferred from its calls.
    assert_eq!(rows[1]["event_name"], "inferred");
    assert_eq!(rows[1]["assumed_at"], "2026-11-20T12:00:00Z");
    assert_eq!(rows[1]["role_arn"], "arn:aws:iam::111122223333:role/Deploy");
    assert_eq!(rows[1]["access_key_id"], "ASIAOTHER");
    assert_eq!(rows[1]["event_count"], 1);
}

#[test]
fn cross_account_copies_are_one_session_attributed_to_the_caller() {
    let w = Workdir::new();
    let role = "arn:aws:iam::999988887777:role/Prod";
    let mut caller_copy = assume_role(
        "caller-copy",
        "2026-11-20T10:00:00Z",
        iam_user("111122223333", "bob", "AKIABOB"),
        role,
        "bob",
        "ASIAX",
        "Nov 20, 2026, 11:00:00 AM",
    );
    caller_copy["sharedEventID"] = json!("shared-1");
    caller_copy["recipientAccountId"] = json!("111122223333");
    let mut owner_copy = caller_copy.clone();
    owner_copy["eventID"] = json!("owner-copy");
    owner_copy["recipientAccountId"] = json!("999988887777");
    owner_copy["userIdentity"] = json!({"type": "AWSAccount", "principalId": "AIDABOB", "accountId": "111122223333"});
    w.trail("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/a.json.gz", &[caller_copy]);
    w.trail("AWSLogs/999988887777/CloudTrail/us-east-1/2026/11/20/b.json.gz", &[owner_copy.clone()]);
    let rows = w.run(&["sessions", "-s", ".", "-f", "json"]).json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["source_principal"], "arn:aws:iam::111122223333:user/bob");
    assert_eq!(rows[0]["cross_account"], true);
    assert_eq!(rows[0]["caller_account"], "111122223333");
    assert_eq!(rows[0]["role_account"], "999988887777");
    assert_eq!(rows[0]["event_id"], "caller-copy");

    // Only the role owner's copy: the caller is the outside account and principal id.
    let only_owner = Workdir::new();
    only_owner.trail("b.json.gz", &[owner_copy]);
    let rows = only_owner.run(&["sessions", "-s", ".", "-f", "json"]).json();
    assert_eq!(rows[0]["source_principal"], "aws-account:111122223333/AIDABOB");
    assert_eq!(rows[0]["source_type"], "AWSAccount");
    assert_eq!(rows[0]["cross_account"], true);
}

#[test]
fn chains_record_depth_parent_and_origin() {
    let w = Workdir::new();
    let r2 = "arn:aws:iam::111122223333:role/Two";
    let r3 = "arn:aws:iam::444455556666:role/Three";
    let s1 = "arn:aws:sts::111122223333:assumed-role/Deploy/hop1";
    let s2 = "arn:aws:sts::111122223333:assumed-role/Two/hop2";
    w.trail(
        "a.json.gz",
        &[
            assume_role(
                "h1",
                "2026-11-20T10:00:00Z",
                iam_user("111122223333", "carol", "AKIACAROL"),
                ROLE,
                "hop1",
                "ASIAHOP1",
                "Nov 20, 2026, 11:00:00 AM",
            ),
            assume_role(
                "h2",
                "2026-11-20T10:01:00Z",
                role_session(s1, "ASIAHOP1", "2026-11-20T10:00:00Z"),
                r2,
                "hop2",
                "ASIAHOP2",
                "Nov 20, 2026, 11:01:00 AM",
            ),
        ],
    );
    // The third hop is delivered in another account's folder, a day later in delivery order.
    w.trail(
        "b/2026/11/21/b.json.gz",
        &[assume_role(
            "h3",
            "2026-11-20T10:02:00Z",
            role_session(s2, "ASIAHOP2", "2026-11-20T10:01:00Z"),
            r3,
            "hop3",
            "ASIAHOP3",
            "Nov 20, 2026, 11:02:00 AM",
        )],
    );
    let rows = w.run(&["sessions", "-s", ".", "-f", "json"]).json();
    let depths: Vec<_> = rows.iter().map(|r| r["chain_depth"].as_u64().unwrap()).collect();
    assert_eq!(depths, [1, 2, 3]);
    for r in &rows {
        assert_eq!(r["origin_principal"], "arn:aws:iam::111122223333:user/carol");
    }
    assert_eq!(rows[2]["parent_access_key_id"], "ASIAHOP2");
    assert_eq!(rows[2]["source_principal"], s2);
    // The chained AssumeRole is a call made with the parent's credentials.
    assert_eq!(rows[0]["event_count"], 1);
}

#[test]
fn service_sessions_derive_their_arn_and_link_uses_delivered_earlier() {
    let w = Workdir::new();
    let role = "arn:aws:iam::653711331788:role/service-role/level1";
    let arn = "arn:aws:sts::653711331788:assumed-role/level1/level1";
    let mut assume = json!({
        "eventID": "lambda-assume", "eventTime": "2018-11-28T23:03:12Z", "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole", "awsRegion": "us-east-1", "sourceIPAddress": "lambda.amazonaws.com",
        "userAgent": "lambda.amazonaws.com", "userIdentity": {"type": "AWSService", "invokedBy": "lambda.amazonaws.com"},
        "requestParameters": {"roleArn": role, "roleSessionName": "level1"},
        "responseElements": {"credentials": {"accessKeyId": "ASIALAMBDA", "sessionToken": "x", "expiration": "Nov 29, 2018 11:03:12 AM"}},
        "sharedEventID": "svc-shared"
    });
    assume["readOnly"] = json!(true);
    // The first use sits in the file delivered before the AssumeRole's.
    w.trail(
        "AWSLogs/653711331788/CloudTrail/us-east-1/2018/11/28/x_20181128T2305Z_a.json.gz",
        &[call(
            "u1",
            "2018-11-28T23:03:12Z",
            "CreateLogStream",
            role_session(arn, "ASIALAMBDA", "2018-11-28T23:03:12Z"),
            "34.234.236.212",
        )],
    );
    w.trail(
        "AWSLogs/653711331788/CloudTrail/us-east-1/2018/11/28/x_20181128T2310Z_b.json.gz",
        &[
            assume,
            call(
                "u2",
                "2018-11-28T23:09:00Z",
                "ListObjects",
                role_session(arn, "ASIALAMBDA", "2018-11-28T23:03:12Z"),
                "104.102.221.250",
            ),
        ],
    );
    let rows = w.run(&["sessions", "-s", ".", "-f", "json"]).json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["session_arn"], arn);
    assert_eq!(rows[0]["source_principal"], "lambda.amazonaws.com");
    assert_eq!(rows[0]["source_type"], "AWSService");
    assert_eq!(rows[0]["event_count"], 2);
    assert_eq!(rows[0]["source_ips"], "34.234.236.212;104.102.221.250");
    assert_eq!(rows[0]["expires_at"], "2018-11-29T11:03:12Z");
}

#[test]
fn session_token_and_federation_token_sessions() {
    let w = Workdir::new();
    let user = iam_user("111122223333", "dave", "AKIADAVE");
    let gst = json!({
        "eventID": "gst", "eventTime": "2026-11-20T10:00:00Z", "eventSource": "sts.amazonaws.com", "eventName": "GetSessionToken",
        "userIdentity": user, "sourceIPAddress": "1.1.1.1", "requestParameters": {"durationSeconds": 3600, "serialNumber": "arn:aws:iam::111122223333:mfa/dave"},
        "responseElements": {"credentials": {"accessKeyId": "ASIAGST", "expiration": "Nov 20, 2026, 11:00:00 AM", "sessionToken": "x"}}
    });
    let gft = json!({
        "eventID": "gft", "eventTime": "2026-11-20T10:00:00Z", "eventSource": "sts.amazonaws.com", "eventName": "GetFederationToken",
        "userIdentity": user, "sourceIPAddress": "1.1.1.1", "requestParameters": {"name": "fed", "policy": "{}"},
        "responseElements": {"credentials": {"accessKeyId": "ASIAGFT", "expiration": "Nov 20, 2026, 10:00:00 PM", "sessionToken": "x"},
            "federatedUser": {"arn": "arn:aws:sts::111122223333:federated-user/fed", "federatedUserId": "111122223333:fed"}}
    });
    let mut gst_use = call("g1", "2026-11-20T10:10:00Z", "ListUsers", json!({}), "1.1.1.1");
    gst_use["userIdentity"] = json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/dave", "accessKeyId": "ASIAGST",
        "sessionContext": {"attributes": {"creationDate": "2026-11-20T10:00:00Z", "mfaAuthenticated": "true"}}});
    let mut gft_use = call("f1", "2026-11-20T10:20:00Z", "ListBuckets", json!({}), "1.1.1.1");
    gft_use["userIdentity"] = json!({"type": "FederatedUser", "principalId": "111122223333:fed", "arn": "arn:aws:sts::111122223333:federated-user/fed",
        "accessKeyId": "ASIAGFT", "sessionContext": {"attributes": {"creationDate": "2026-11-20T10:00:00Z"}, "sessionIssuer": {"type": "IAMUser"}}});
    w.trail("a.json.gz", &[gst, gft, gst_use, gft_use]);
    let rows = w.run(&["sessions", "-s", ".", "-f", "json"]).json();
    assert_eq!(rows.len(), 2);
    let gft = rows_where(&rows, "event_name", "GetFederationToken")[0];
    assert_eq!(gft["session_name"], "fed");
    assert_eq!(gft["event_count"], 1);
    let gst = rows_where(&rows, "event_name", "GetSessionToken")[0];
    assert_eq!(gst["event_count"], 1);
    assert_eq!(gst["mfa"], true);
    assert_eq!(gst["session_arn"], "arn:aws:iam::111122223333:user/dave");
}

#[test]
fn console_switch_is_one_session_attributed_to_the_user() {
    let w = Workdir::new();
    let role = "arn:aws:iam::776613361644:role/assume-admin-role-example";
    let arn = "arn:aws:sts::776613361644:assumed-role/assume-admin-role-example/bob";
    let mut by_console = assume_role(
        "ar",
        "2020-09-17T19:04:10Z",
        json!({
            "type": "IAMUser", "arn": "arn:aws:iam::203016562928:user/bob", "accountId": "203016562928", "accessKeyId": "ASIACONSOLELOGIN",
            "userName": "bob", "invokedBy": "AWS Internal",
            "sessionContext": {"attributes": {"mfaAuthenticated": "true", "creationDate": "2020-09-17T13:58:45Z"}}
        }),
        role,
        "bob",
        "ASIAISSUED",
        "Sep 17, 2020 8:04:10 PM",
    );
    by_console["sourceIPAddress"] = json!("AWS Internal");
    by_console["userAgent"] = json!("AWS Internal");
    let switch = json!({
        "eventID": "sw", "eventTime": "2020-09-17T19:04:10Z", "eventSource": "signin.amazonaws.com", "eventName": "SwitchRole",
        "userIdentity": {"type": "AssumedRole", "arn": arn, "accountId": "776613361644"},
        "sourceIPAddress": "75.15.154.15", "userAgent": "Mozilla/5.0 Chrome/85", "responseElements": {"SwitchRole": "Success"},
        "additionalEventData": {"SwitchFrom": "arn:aws:iam::203016562928:user/bob"}, "eventType": "AwsConsoleSignIn",
        "recipientAccountId": "776613361644"
    });
    let mut create = call(
        "cu",
        "2020-09-17T19:05:00Z",
        "CreateUser",
        role_session(arn, "ASIAOTHERKEY", "2020-09-17T19:04:10Z"),
        "75.15.154.15",
    );
    create["sessionCredentialFromConsole"] = json!("true");
    w.trail("a.json.gz", &[switch, by_console, create]);
    let rows = w.run(&["sessions", "-s", ".", "-f", "json"]).json();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let s = &rows[0];
    assert_eq!(s["event_name"], "SwitchRole");
    assert_eq!(s["source_principal"], "arn:aws:iam::203016562928:user/bob");
    assert_eq!(s["source_ip"], "75.15.154.15");
    assert_eq!(s["mfa"], true);
    assert_eq!(s["event_count"], 1);
    assert_eq!(s["chain_depth"], 1);
    // `session` finds it by the switch's event id too; but an id in the event_id column names its own row
    // first, even when a forged record gives it to another session's switch as well.
    let timeline = w.run(&["session", "sw", "-s", ".", "-f", "csv"]);
    assert_eq!((timeline.code, timeline.stdout.matches("CreateUser").count()), (0, 1), "{}", timeline.stderr);
    let forged =
        assume_role("sw", "2026-11-20T10:00:00Z", iam_user("1", "eve", "AKIAEVE"), ROLE, "eve", "ASIAEVE", "x");
    w.trail("forged.json.gz", &[forged]);
    let timeline = w.run(&["session", "sw", "-s", ".", "-f", "csv"]);
    assert_eq!(timeline.code, 0, "{}", timeline.stderr);
    assert!(timeline.stdout.contains("AKIAEVE") && !timeline.stdout.contains("CreateUser"), "{}", timeline.stdout);

    // Only the SwitchRole was logged (the AssumeRole went to another trail): still a session.
    let alone = Workdir::new();
    alone.trail("b.json.gz", &[json!({
        "eventID": "sw", "eventTime": "2020-09-17T19:04:10Z", "eventSource": "signin.amazonaws.com", "eventName": "SwitchRole",
        "userIdentity": {"type": "AssumedRole", "arn": arn, "accountId": "776613361644"},
        "sourceIPAddress": "75.15.154.15", "responseElements": {"SwitchRole": "Success"},
        "additionalEventData": {"SwitchFrom": "arn:aws:iam::203016562928:user/bob"}
    })]);
    let rows = alone.run(&["sessions", "-s", ".", "-f", "json"]).json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["role_arn"], role);
    assert_eq!(rows[0]["origin_principal"], "arn:aws:iam::203016562928:user/bob");
}

#[test]
fn duplicates_and_time_window() {
    let w = Workdir::new();
    let user = iam_user("111122223333", "erin", "AKIAERIN");
    let events = [
        assume_role("a1", "2026-11-20T10:00:00Z", user, ROLE, "s", "ASIAE", "Nov 20, 2026, 11:00:00 AM"),
        call(
            "c1",
            "2026-11-20T10:05:00Z",
            "ListBuckets",
            role_session(SESSION_ARN, "ASIAE", "2026-11-20T10:00:00Z"),
            "1.1.1.1",
        ),
    ];
    w.trail("one.json.gz", &events);
    w.trail("again.json.gz", &events);
    let r = w.run(&["sessions", "-s", ".", "-f", "json"]);
    let rows = r.json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["event_count"], 1);
    assert!(r.stderr.contains("records: 2 (2 duplicates dropped"), "{}", r.stderr);

    // The AssumeRole is before --since: its calls still make a session, inferred, started at creationDate.
    let r = w.run(&["sessions", "-s", ".", "-f", "json", "--since", "2026-11-20T10:01:00Z"]);
    let rows = r.json();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["event_name"].as_str(), rows[0]["assumed_at"].as_str()),
        (Some("inferred"), Some("2026-11-20T10:00:00Z"))
    );
    assert_eq!(rows[0]["event_count"], 1);
    assert!(r.stderr.contains("1 inferred from calls"), "{}", r.stderr);
    let r = w.run(&["sessions", "-s", ".", "-f", "json", "--until", "2026-11-20T10:01:00Z"]);
    let rows = r.json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["event_count"], 0);
}

#[test]
fn failed_attempts_are_sessions_with_their_error() {
    let w = Workdir::new();
    w.trail("a.json.gz", &[json!({
        "eventID": "denied", "eventTime": "2026-11-20T10:00:00Z", "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole",
        "userIdentity": iam_user("111122223333", "mallory", "AKIAM"), "sourceIPAddress": "6.6.6.6",
        "errorCode": "AccessDenied",
        "errorMessage": "User: arn:aws:iam::111122223333:user/mallory is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/Admin",
        "requestParameters": null, "responseElements": null
    })]);
    let r = w.run(&["who-assumed", "Admin", "-s", ".", "-f", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = r.json();
    assert_eq!(rows[0]["success"], false);
    assert_eq!(rows[0]["error_code"], "AccessDenied");
    assert_eq!(rows[0]["role_arn"], "arn:aws:iam::111122223333:role/Admin");
    let none = w.run(&["who-assumed", "NoSuchRole", "-s", ".", "-f", "json"]);
    assert_eq!(none.code, 1);
    assert_eq!(none.json().len(), 0);
}
