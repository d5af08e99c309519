//! S3 sources against a real S3-compatible server (s3s-fs) on 127.0.0.1, started in this process, with the
//! real AWS SDK clients on both sides: the test uploads with aws-sdk-s3, trailscan lists and fetches with it.

use crate::s3_server::Server;
use crate::util::*;

/// A small org trail: for each account, region and day, a file with a session and its calls; plus a digest.
fn org_trail(w: &Workdir, accounts: &[&str], regions: &[&str], days: &[u32]) {
    for acct in accounts {
        for region in regions {
            for day in days {
                let t = format!("2026-11-{day:02}T10:00:00Z");
                let role = format!("arn:aws:iam::{acct}:role/R");
                let arn = format!("arn:aws:sts::{acct}:assumed-role/R/s-{region}-{day}");
                let key = format!("ASIA{acct}{day}{}", region.len());
                let events = vec![
                    assume_role(
                        &format!("a-{acct}-{region}-{day}"),
                        &t,
                        iam_user(acct, "u", "AKIAU"),
                        &role,
                        &format!("s-{region}-{day}"),
                        &key,
                        "Nov 30, 2026, 11:00:00 AM",
                    ),
                    call(
                        &format!("c-{acct}-{region}-{day}"),
                        &format!("2026-11-{day:02}T10:30:00Z"),
                        "ListBuckets",
                        role_session(&arn, &key, &t),
                        "198.51.100.1",
                    ),
                ];
                let dir = format!("AWSLogs/o-abcdefgh12/{acct}/CloudTrail/{region}/2026/11/{day:02}");
                w.trail(&format!("{dir}/{acct}_CloudTrail_{region}_202611{day:02}T1005Z_abc.json.gz"), &events);
            }
        }
        w.write_gz(
            &format!("AWSLogs/o-abcdefgh12/{acct}/CloudTrail-Digest/us-east-1/2026/11/18/{acct}_CloudTrail-Digest_us-east-1_t_us-east-1_20261118T100000Z.json.gz"),
            r#"{"awsAccountId":"1","digestStartTime":"2026-11-18T09:00:00Z","logFiles":[]}"#,
        );
    }
}

#[test]
fn s3_and_disk_give_identical_reports() {
    let server = Server::start();
    let w = Workdir::new();
    org_trail(&w, &["111111111111", "222222222222"], &["us-east-1", "eu-west-1"], &[18, 19]);
    server.upload("trail", w.path());
    let cwd = Workdir::new();
    for args in
        [&["sessions", "-f", "csv"][..], &["who-became-what", "-f", "json"], &["who-assumed", "R", "-f", "json"]]
    {
        let mut disk_args = args.to_vec();
        disk_args.extend(["-s", w.path().to_str().unwrap()]);
        let disk = trailscan(cwd.path(), &disk_args);
        let mut s3_args = args.to_vec();
        s3_args.extend(["-s", "s3://trail"]);
        let s3 = server.run(cwd.path(), &s3_args);
        assert_eq!(s3.code, 0, "{}", s3.stderr);
        assert_eq!(s3.stdout, disk.stdout, "{args:?}");
        assert!(s3.stderr.contains("files: 8 read"), "{}", s3.stderr);
    }
    // Digest trees are never listed on S3.
    assert!(server.listed().iter().all(|p| !p.contains("CloudTrail-Digest")));
}

#[test]
fn listing_is_pruned_by_account_region_and_date() {
    let server = Server::start();
    let w = Workdir::new();
    org_trail(&w, &["111111111111", "222222222222"], &["us-east-1", "eu-west-1"], &[10, 15, 16, 17, 25]);
    server.upload("org", w.path());
    server.listed();
    let cwd = Workdir::new();
    let r = server.run(
        cwd.path(),
        &[
            "sessions",
            "-s",
            "s3://org",
            "-f",
            "json",
            "--account",
            "222222222222",
            "--region",
            "eu-west-1",
            "--since",
            "2026-11-15T00:00:00Z",
            "--until",
            "2026-11-16T12:00:00Z",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = r.json();
    let names: Vec<&str> = rows.iter().map(|r| r["session_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["s-eu-west-1-15", "s-eu-west-1-16"]);
    let listed = server.listed();
    assert!(
        listed.iter().all(|p| !p.contains("111111111111") && !p.contains("us-east-1/") && !p.contains("Digest")),
        "{listed:?}"
    );
    // Only the day folders the window can need: the 15th and 16th, and the 17th for late deliveries.
    let days: Vec<&String> = listed.iter().filter(|p| p.contains("/2026/11/")).collect();
    assert_eq!(days.len(), 3, "{listed:?}");
    assert!(!listed.iter().any(|p| p.ends_with("/2026/11/10/") || p.ends_with("/2026/11/25/")));
    // The late-delivery folder (17th) was read but its events are outside the window.
    assert!(r.stderr.contains("files: 3 read"), "{}", r.stderr);
}

/// A source may name any folder of the trail layout: an organisation, an account, its CloudTrail folder, a
/// region, a year or a month. With a window, the window's days below it are read, on S3 as on disk. (On S3, an
/// account's folder and a year or month folder with a window once read nothing.)
#[test]
fn a_source_that_names_any_folder_of_the_layout_reads_the_window_below_it() {
    let server = Server::start();
    let w = Workdir::new();
    org_trail(&w, &["222222222222"], &["eu-west-1"], &[10, 15, 16, 17, 25]);
    server.upload("org", w.path());
    let cwd = Workdir::new();
    let window = ["--since", "2026-11-15T00:00:00Z", "--until", "2026-11-16T12:00:00Z", "-f", "json"];
    let account = "AWSLogs/o-abcdefgh12/222222222222";
    let region = format!("{account}/CloudTrail/eu-west-1");
    let folders = [
        "AWSLogs/o-abcdefgh12/".to_owned(),
        format!("{account}/"),
        format!("{account}/CloudTrail/"),
        format!("{region}/"),
        format!("{region}/2026/"),
        format!("{region}/2026/11/"),
        format!("{region}/2026/11"),
    ];
    for folder in &folders {
        let s3_source = format!("s3://org/{folder}");
        let disk_source = w.path().join(folder);
        for source in [s3_source.as_str(), disk_source.to_str().unwrap()] {
            let mut args = vec!["sessions", "-s", source];
            args.extend(window);
            let r = server.run(cwd.path(), &args);
            assert_eq!(r.code, 0, "{}", r.stderr);
            let rows = r.json();
            let names: Vec<&str> = rows.iter().map(|r| r["session_name"].as_str().unwrap()).collect();
            assert_eq!(names, ["s-eu-west-1-15", "s-eu-west-1-16"], "{source}");
        }
    }
    // A month outside the window's days lists none of them.
    let mut args = vec!["sessions", "-s", "s3://org/AWSLogs/o-abcdefgh12/222222222222/CloudTrail/eu-west-1/2026/10/"];
    args.extend(window);
    server.listed();
    let r = server.run(cwd.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(server.listed().iter().all(|p| !p.contains("/2026/11/")));
}

#[test]
fn an_object_that_cannot_be_fetched_is_named_and_counted() {
    let server = Server::start();
    let w = Workdir::new();
    org_trail(&w, &["111111111111"], &["us-east-1"], &[18]);
    w.write("AWSLogs/o-abcdefgh12/111111111111/CloudTrail/us-east-1/2026/11/18/111111111111_CloudTrail_us-east-1_20261118T1010Z_FAIL.json.gz", "x");
    w.write("AWSLogs/o-abcdefgh12/111111111111/CloudTrail/us-east-1/2026/11/18/111111111111_CloudTrail_us-east-1_20261118T1015Z_DENIED.json.gz", "x");
    server.upload("flaky", w.path());
    let cwd = Workdir::new();
    let r = server.run(cwd.path(), &["sessions", "-s", "s3://flaky", "-f", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 2, "the good object is still used");
    let line = r.stderr.lines().find(|l| l.contains("s3://flaky/AWSLogs/")).expect("failed object named");
    assert!(line.contains("FAIL.json.gz") && line.contains("cannot fetch: InternalError"), "{line}");
    // A refusal names what to grant, KMS included: trails are often encrypted with a key of their own.
    let denied = r.stderr.lines().find(|l| l.contains("DENIED.json.gz")).expect("refused object named");
    assert!(denied.contains("cannot fetch: AccessDenied: The ciphertext refers"), "{denied}");
    assert!(denied.contains("s3:GetObject on the objects, and kms:Decrypt on the trail's key"), "{denied}");
    assert!(r.stderr.contains("2 failed (2 fetch failed)"), "{}", r.stderr);
    let strict = server.run(cwd.path(), &["sessions", "-s", "s3://flaky", "-f", "csv", "--strict"]);
    assert_eq!(strict.code, 2);
}

/// `n` files of one call each (an IAM user's), at `path(i)`.
fn one_call_each(w: &Workdir, n: usize, path: impl Fn(usize) -> String) {
    for i in 0..n {
        let user = iam_user("111111111111", "u", "AKIAU");
        w.trail(&path(i), &[call(&format!("e{i}"), "2026-11-20T10:00:00Z", "GetObject", user, "1.1.1.1")]);
    }
}

#[test]
fn thousands_of_tiny_objects_and_plain_prefixes() {
    let server = Server::start();
    let w = Workdir::new();
    let n = 2000;
    one_call_each(&w, n, |i| format!("exports/batch{}/f{i:05}.json.gz", i % 7));
    server.upload("tiny", w.path());
    let cwd = Workdir::new();
    let r = server.run(cwd.path(), &["sessions", "-s", "s3://tiny/exports/", "-f", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("files: {n} read")), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("records: {n} ")), "{}", r.stderr);
    // Not a trail layout: one look for AWSLogs/, then listed plainly (1,000 keys a page), no walk per folder.
    let listed = server.listed();
    assert!(listed.iter().all(|p| p == "exports/") && listed.len() <= 4, "{listed:?}");
}

/// The empty object the S3 console creates for "Create folder" (`exports/MARKED/`) is a folder, not a file:
/// not fetched, not counted.
#[test]
fn folder_marker_objects_are_not_files() {
    let server = Server::start();
    let w = Workdir::new();
    one_call_each(&w, 1, |i| format!("exports/MARKED/f{i}.json.gz"));
    server.upload("marked", w.path());
    let cwd = Workdir::new();
    let r = server.run(cwd.path(), &["sessions", "-s", "s3://marked/exports/MARKED/", "-f", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("files: 1 read, 0 skipped, 0 failed"), "{}", r.stderr);
}

/// S3 answers each GET after tens of milliseconds: a trail of thousands of small objects is fetched many at a
/// time, or the run waits on the network (32 at a time, a day of the benchmark's trail took five times longer
/// from an endpoint answering in 20 ms than from one answering at once).
#[test]
fn many_objects_are_fetched_at_once() {
    let server = Server::start();
    let w = Workdir::new();
    let n = 300;
    one_call_each(&w, n, |i| format!("exports/SLOW{i:04}.json.gz"));
    server.upload("far", w.path());
    let cwd = Workdir::new();
    let r = server.run(cwd.path(), &["sessions", "-s", "s3://far/exports/", "-f", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("files: {n} read")), "{}", r.stderr);
    let most = server.most_slow_fetches_at_once();
    assert!(most > 100, "at most {most} objects were fetched at once");
}

/// An organisation has hundreds of accounts: their folders are listed many at a time, or the run waits a
/// round trip to S3 for each account before it reads anything.
#[test]
fn an_organisations_accounts_are_listed_many_at_once() {
    let server = Server::start_far();
    let w = Workdir::new();
    let accounts: Vec<String> = (0..40).map(|i| format!("3000000000{i:02}")).collect();
    let accounts: Vec<&str> = accounts.iter().map(String::as_str).collect();
    org_trail(&w, &accounts, &["us-east-1"], &[18]);
    server.upload("org", w.path());
    let cwd = Workdir::new();
    let r = server.run(cwd.path(), &["sessions", "-s", "s3://org", "-f", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("files: 40 read"), "{}", r.stderr);
    let most = server.most_folder_listings_at_once();
    assert!(most > 4, "at most {most} folders were listed at once");
}

#[test]
fn unreachable_or_misnamed_buckets_are_clear_errors() {
    let server = Server::start();
    let cwd = Workdir::new();
    let r = server.run(cwd.path(), &["sessions", "-s", "s3://no-such-bucket", "-f", "csv"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot list s3://no-such-bucket"), "{}", r.stderr);
    let r = trailscan(cwd.path(), &["sessions", "-s", "s3://", "-f", "csv"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not an S3 location"), "{}", r.stderr);
}

/// A run without credentials, or with credentials S3 refuses, says so in a line and says what to do: not a
/// permissions hint for an IMDS refusal, and not the SDK's debug dump of the error.
#[test]
fn missing_or_refused_credentials_are_told_in_a_line() {
    let server = Server::start();
    server.create_bucket("trail");
    let cwd = Workdir::new();
    let output = |mut cmd: std::process::Command| {
        let out = cmd.output().expect("run trailscan");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let mut none = server.command(cwd.path(), &["sessions", "-s", "s3://trail", "-f", "csv"]);
    none.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    let (code, missing) = output(none);
    assert_eq!(code, Some(2), "{missing}");
    assert!(missing.contains("cannot list s3://trail/"), "{missing}");
    assert!(missing.contains("no AWS credentials found: set AWS_PROFILE"), "{missing}");
    let mut wrong = server.command(cwd.path(), &["sessions", "-s", "s3://trail", "-f", "csv"]);
    wrong.env("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    let (code, refused) = output(wrong);
    assert_eq!(code, Some(2), "{refused}");
    assert!(refused.contains("SignatureDoesNotMatch"), "{refused}");
    assert!(refused.contains("AWS does not accept these credentials"), "{refused}");
    for run in [&missing, &refused] {
        assert!(!run.contains("SdkBody") && !run.contains("ConnectorError") && run.lines().count() <= 2, "{run}");
        assert!(!run.contains('\u{fffd}'), "a message of several lines is joined into one: {run}");
    }
}

/// `nightly` over a bucket: the cut-off is on `LastModified`, and each object is read once.
#[test]
fn nightly_reads_each_object_once_by_last_modified() {
    let server = Server::start();
    let w = Workdir::new();
    org_trail(&w, &["111111111111"], &["us-east-1"], &[18, 19]);
    server.upload("trail", w.path());
    let cwd = Workdir::new();
    let nightly = |until: &str| {
        let r = server
            .run(cwd.path(), &["nightly", "-s", "s3://trail", "--state", "state", "--out", "out", "--until", until]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    // Uploaded just now: nothing was delivered before yesterday.
    let before = nightly("1d");
    assert!(before.contains(": 0 files read") && before.contains("2 delivered after the cut-off"), "{before}");
    let first = nightly("2099-01-01");
    assert!(first.contains(": 2 files read"), "{first}");
    let w2 = Workdir::new();
    org_trail(&w2, &["111111111111"], &["us-east-1"], &[20]);
    server.upload("trail", w2.path());
    let second = nightly("2099-01-02");
    assert!(second.contains(": 1 files read"), "each object once: {second}");
}
