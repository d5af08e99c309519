//! Test helpers: a scratch folder to build inputs in, and a runner for the real binary.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The output of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Parses `--format json` output.
    pub fn json(&self) -> Vec<Value> {
        match serde_json::from_str(&self.stdout) {
            Ok(Value::Array(rows)) => rows,
            other => panic!("not a JSON array: {other:?}\nstdout: {}\nstderr: {}", self.stdout, self.stderr),
        }
    }
}

/// Runs trailscan in `cwd` with `args`.
pub fn trailscan(cwd: &Path, args: &[&str]) -> Run {
    let out =
        Command::new(env!("CARGO_BIN_EXE_trailscan")).current_dir(cwd).args(args).output().expect("run trailscan");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs trailscan in `cwd` with `args`, feeding `input` on standard input.
pub fn trailscan_stdin(cwd: &Path, args: &[&str], input: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailscan"))
        .current_dir(cwd)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run trailscan");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().expect("wait for trailscan");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The repository root (for sample-logs and trailscan.toml).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary folder for one test's inputs.
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        Workdir { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    pub fn write_gz(&self, rel: &str, text: &str) -> PathBuf {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        self.write(rel, gz.finish().unwrap())
    }

    /// Writes events as a CloudTrail delivery `{"Records":[...]}`, gzipped.
    pub fn trail(&self, rel: &str, events: &[Value]) -> PathBuf {
        self.write_gz(rel, &serde_json::json!({ "Records": events }).to_string())
    }

    /// Runs trailscan here.
    pub fn run(&self, args: &[&str]) -> Run {
        trailscan(self.path(), args)
    }
}

/// Finds the rows whose `col` equals `value`.
pub fn rows_where<'a>(rows: &'a [Value], col: &str, value: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r[col].as_str() == Some(value)).collect()
}

/// A typical event made with some credentials.
pub fn call(id: &str, time: &str, name: &str, identity: Value, ip: &str) -> Value {
    serde_json::json!({
        "eventVersion": "1.08", "eventID": id, "eventTime": time, "eventSource": "s3.amazonaws.com",
        "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.0",
        "userIdentity": identity, "requestParameters": null, "responseElements": null, "eventType": "AwsApiCall"
    })
}

/// `userIdentity` of a call made with a role session.
pub fn role_session(arn: &str, key: &str, created: &str) -> Value {
    serde_json::json!({
        "type": "AssumedRole", "principalId": "AROAEXAMPLE:s", "arn": arn, "accountId": arn.split(':').nth(4).unwrap(),
        "accessKeyId": key,
        "sessionContext": {"sessionIssuer": {"type": "Role"}, "attributes": {"creationDate": created, "mfaAuthenticated": "false"}}
    })
}

/// `userIdentity` of an IAM user with a long-term key.
pub fn iam_user(account: &str, name: &str, key: &str) -> Value {
    serde_json::json!({
        "type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": format!("arn:aws:iam::{account}:user/{name}"),
        "accountId": account, "accessKeyId": key, "userName": name
    })
}

/// A successful AssumeRole.
#[allow(clippy::too_many_arguments)]
pub fn assume_role(
    id: &str,
    time: &str,
    caller: Value,
    role_arn: &str,
    session: &str,
    key: &str,
    expires: &str,
) -> Value {
    let acct = role_arn.split(':').nth(4).unwrap();
    let role = role_arn.rsplit('/').next().unwrap();
    serde_json::json!({
        "eventVersion": "1.08", "eventID": id, "eventTime": time, "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.10",
        "userAgent": "aws-cli/2.15.0", "userIdentity": caller,
        "requestParameters": {"roleArn": role_arn, "roleSessionName": session},
        "responseElements": {
            "credentials": {"accessKeyId": key, "sessionToken": "IQoJb3JpZ2luX2VjSECRETTOKEN", "expiration": expires},
            "assumedRoleUser": {"assumedRoleId": format!("AROAEXAMPLE:{session}"), "arn": format!("arn:aws:sts::{acct}:assumed-role/{role}/{session}")}
        },
        "readOnly": true, "eventType": "AwsApiCall", "recipientAccountId": acct
    })
}

/// Runs trailscan in `cwd` with `args` and extra environment variables.
pub fn trailscan_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailscan"));
    cmd.current_dir(cwd).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run trailscan");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
/// The shared real-data folder `../shared/data/real/<folder>`, or `None` (with the reason printed) when absent.
pub fn real_data(folder: &str) -> Option<PathBuf> {
    let p = repo().join("../shared/data/real").join(folder);
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipped: {} is absent (the shared real-data folder sits beside the repository)", p.display());
        None
    }
}

/// An AWS service assuming a role (Lambda, EC2, ECS): no `assumedRoleUser` in the response.
pub fn service_assume_role(id: &str, time: &str, service: &str, role_arn: &str, session: &str, key: &str) -> Value {
    let acct = role_arn.split(':').nth(4).unwrap();
    serde_json::json!({
        "eventVersion": "1.08", "eventID": id, "eventTime": time, "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole", "awsRegion": "us-east-1", "sourceIPAddress": service, "userAgent": service,
        "userIdentity": {"type": "AWSService", "invokedBy": service},
        "requestParameters": {"roleArn": role_arn, "roleSessionName": session},
        "responseElements": {"credentials": {"accessKeyId": key, "sessionToken": "IQoJSECRET", "expiration": "Nov 20, 2026, 10:00:00 PM"}},
        "sharedEventID": format!("shared-{id}"), "readOnly": true, "eventType": "AwsApiCall", "recipientAccountId": acct
    })
}

/// A denied AssumeRole, as logged in the caller's account: no request parameters, the role in the message.
pub fn denied_assume_role(id: &str, time: &str, caller: Value, role_arn: &str) -> Value {
    let principal = caller["arn"].as_str().unwrap_or("unknown").to_owned();
    let acct = caller["accountId"].as_str().unwrap_or("111122223333").to_owned();
    serde_json::json!({
        "eventVersion": "1.08", "eventID": id, "eventTime": time, "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.66",
        "userAgent": "aws-cli/2.15.0", "userIdentity": caller, "errorCode": "AccessDenied",
        "errorMessage": format!("User: {principal} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"),
        "requestParameters": null, "responseElements": null, "readOnly": true, "eventType": "AwsApiCall",
        "recipientAccountId": acct
    })
}

/// `event` with `eventSource`/`eventName` replaced.
pub fn as_call(mut event: Value, source: &str, name: &str) -> Value {
    event["eventSource"] = serde_json::json!(source);
    event["eventName"] = serde_json::json!(name);
    event
}

/// Every file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every file under `dir` (its path relative to `dir`) with its bytes, sorted: a tree to compare whole.
pub fn tree_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|p| (p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}
