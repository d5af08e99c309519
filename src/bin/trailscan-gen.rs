//! `trailscan-gen`: writes a realistic, deterministic organisation trail for benchmarks and scale tests.
//!
//! ```sh
//! cargo run --release --no-default-features --bin trailscan-gen -- --out /tmp/corpus --records 1000000 --seed 1
//! ```
//!
//! Layout and content follow real trails: `AWSLogs/o-…/<account>/CloudTrail/<region>/YYYY/MM/DD/` with one
//! gzipped `{"Records":[…]}` file per account, region and five minutes; records out of order inside a file;
//! the bulk of calls made by AWS-service sessions (Lambda, EC2 instance profiles, ECS tasks), S3 data
//! events, people working from the CLI and the console (role switches), two-hop chains, cross-account
//! assumptions logged in both accounts, AccessDenied attempts, late deliveries into the next day's folder
//! and duplicate deliveries. The records span one day from 2026-11-19, or `--days D` days (the same total,
//! spread thinner: for how memory grows with the days a run reads). Each hour also holds one planted
//! incident, in turn one of the [`INCIDENTS`], so that the detections have something to find (and the
//! benchmark times them firing); their actors' names start with `mallory` and nothing else in the corpus is
//! suspicious. The same seed and size always write the same bytes.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

/// splitmix64: small, fast and good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
    fn key(&mut self, prefix: &str) -> String {
        const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut s = prefix.to_owned();
        for _ in 0..16 {
            s.push(B32[self.below(32) as usize] as char);
        }
        s
    }
}

struct Args {
    out: PathBuf,
    records: u64,
    seed: u64,
    accounts: usize,
    regions: usize,
    days: u64,
}

fn parse_args() -> Args {
    let mut a = Args { out: PathBuf::from("corpus"), records: 100_000, seed: 1, accounts: 12, regions: 4, days: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--out" => a.out = PathBuf::from(val()),
            "--records" => a.records = val().parse().unwrap_or_else(|_| usage("--records takes a number")),
            "--seed" => a.seed = val().parse().unwrap_or_else(|_| usage("--seed takes a number")),
            "--accounts" => a.accounts = val().parse().unwrap_or_else(|_| usage("--accounts takes a number")),
            "--regions" => a.regions = val().parse().unwrap_or_else(|_| usage("--regions takes a number")),
            "--days" => a.days = val().parse::<u64>().unwrap_or_else(|_| usage("--days takes a number")).max(1),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    a
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("trailscan-gen: {msg}");
    }
    eprintln!(
        "usage: trailscan-gen --out DIR [--records N (100000)] [--seed S (1)] [--accounts A (12)] [--regions R (4)] \
         [--days D (1)]"
    );
    std::process::exit(2)
}

const REGIONS: [&str; 8] = [
    "us-east-1",
    "eu-west-1",
    "us-west-2",
    "eu-central-1",
    "ap-southeast-2",
    "us-east-2",
    "ap-northeast-1",
    "sa-east-1",
];
const START: i64 = 1_795_046_400; // 2026-11-19T00:00:00Z
const UAS: [&str; 4] = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/s3.ls",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.53.1",
    "aws-sdk-java/2.25.16 Linux/5.10.213-201.855.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/standard",
];

fn ts(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let s = t.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

fn expiration(t: i64) -> String {
    const MON: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, m, d) = civil(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    let (h, ampm) = match s / 3600 {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!("{} {d}, {y}, {h}:{:02}:{:02} {ampm}", MON[m as usize - 1], s / 60 % 60, s % 60)
}

/// A role session that makes calls: who it is and how it calls.
struct Actor {
    /// The role's account.
    account: String,
    arn: String,
    key: String,
    created: i64,
    issuer: String,
    ip: String,
    ua: &'static str,
    console: bool,
}

impl Actor {
    /// The session `session` of the role `role_arn`, with credentials `key` issued at `created`, calling
    /// from `ip` with `ua`.
    fn role_session(role_arn: &str, session: &str, key: String, created: i64, ip: String, ua: &'static str) -> Actor {
        let account = role_arn.split(':').nth(4).unwrap_or("").to_owned();
        let role_name = role_arn.rsplit('/').next().unwrap_or("");
        Actor {
            arn: format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}"),
            key,
            created,
            issuer: role_arn.to_owned(),
            ip,
            ua,
            console: false,
            account,
        }
    }
}

struct Gen {
    rng: Rng,
    accounts: Vec<String>,
    regions: Vec<&'static str>,
    /// Records waiting for delivery: (account index, region index, delivery time, json).
    out: Vec<(usize, usize, i64, String)>,
}

impl Gen {
    fn record(&mut self, acct: usize, region: usize, t: i64, json: String) {
        // Most records arrive within ~5 minutes; a few are late, some into the next day's folder.
        let delay = if self.rng.chance(0.002) {
            6 * 3600 + self.rng.below(20 * 3600) as i64
        } else {
            60 + self.rng.below(600) as i64
        };
        self.out.push((acct, region, t + delay, json));
    }

    fn identity(&self, a: &Actor) -> String {
        // A federated user's calls name the IAM user that made the token as the issuer; a role session's, the role.
        let issuer_name = a.issuer.rsplit('/').next().unwrap_or("");
        let (kind, principal_id, issuer_kind, issuer_id) = match a.arn.split(":federated-user/").nth(1) {
            Some(name) => ("FederatedUser", format!("{}:{name}", a.account), "IAMUser", format!("AIDA{}", &a.key[4..])),
            None => (
                "AssumedRole",
                format!("AROA{}:{}", &a.key[4..], a.arn.rsplit('/').next().unwrap_or("")),
                "Role",
                format!("AROA{}", &a.key[4..]),
            ),
        };
        let mut s = String::with_capacity(600);
        let _ = write!(
            s,
            r#"{{"type":"{kind}","principalId":"{principal_id}","arn":"{}","accountId":"{}","accessKeyId":"{}","sessionContext":{{"sessionIssuer":{{"type":"{issuer_kind}","principalId":"{issuer_id}","arn":"{}","accountId":"{}","userName":"{issuer_name}"}},"webIdFederationData":{{}},"attributes":{{"creationDate":"{}","mfaAuthenticated":"false"}}}}}}"#,
            a.arn,
            a.account,
            a.key,
            a.issuer,
            a.account,
            ts(a.created)
        );
        s
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        acct: usize,
        region: usize,
        t: i64,
        a: &Actor,
        source: &str,
        name: &str,
        data: bool,
        denied: bool,
    ) {
        let id = self.rng.uuid();
        let req = self.rng.uuid();
        let reg = self.regions[region];
        let ident = self.identity(a);
        let bucket = format!("app-data-{}", &a.account[8..]);
        let (params, resources) = if data {
            let key = format!("objects/{:08x}/{:08x}.parquet", self.rng.next() as u32, self.rng.next() as u32);
            (
                format!(r#"{{"bucketName":"{bucket}","Host":"{bucket}.s3.{reg}.amazonaws.com","key":"{key}"}}"#),
                format!(
                    r#","resources":[{{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::{bucket}/{key}"}},{{"accountId":"{}","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::{bucket}"}}]"#,
                    a.account
                ),
            )
        } else {
            (format!(r#"{{"maxResults":100,"filter":"{}"}}"#, self.rng.below(1000)), String::new())
        };
        let err = if denied {
            format!(
                r#","errorCode":"AccessDenied","errorMessage":"User: {} is not authorized to perform: {}:{} because no identity-based policy allows the action""#,
                a.arn,
                source.split('.').next().unwrap_or(""),
                name
            )
        } else {
            String::new()
        };
        let console = if a.console { r#","sessionCredentialFromConsole":"true""# } else { "" };
        let json = format!(
            r#"{{"eventVersion":"1.10","userIdentity":{ident},"eventTime":"{}","eventSource":"{source}","eventName":"{name}","awsRegion":"{reg}","sourceIPAddress":"{}","userAgent":"{}"{err},"requestParameters":{params},"responseElements":null,"requestID":"{req}","eventID":"{id}","readOnly":true{resources},"eventType":"AwsApiCall","managementEvent":{},"recipientAccountId":"{}","eventCategory":"{}"{console},"tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{}.{reg}.amazonaws.com"}}}}"#,
            ts(t),
            a.ip,
            a.ua,
            !data,
            a.account,
            if data { "Data" } else { "Management" },
            source.split('.').next().unwrap_or("")
        );
        self.record(acct, region, t, json);
    }

    #[allow(clippy::too_many_arguments)]
    fn assume(
        &mut self,
        acct: usize,
        t: i64,
        caller: &str,
        role_arn: &str,
        session: &str,
        key: &str,
        ip: &str,
        ua: &str,
        shared: Option<&str>,
        denied: bool,
    ) {
        let role_acct = role_arn.split(':').nth(4).unwrap_or("").to_owned();
        let role_name = role_arn.rsplit('/').next().unwrap_or("");
        let id = self.rng.uuid();
        let req = self.rng.uuid();
        let body = if denied {
            format!(
                r#""errorCode":"AccessDenied","errorMessage":"User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}","requestParameters":null,"responseElements":null"#,
                caller_arn(caller)
            )
        } else {
            format!(
                r#""requestParameters":{{"roleArn":"{role_arn}","roleSessionName":"{session}","durationSeconds":3600}},"responseElements":{{"credentials":{{"accessKeyId":"{key}","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLEx{}","expiration":"{}"}},"assumedRoleUser":{{"assumedRoleId":"AROA{}:{session}","arn":"arn:aws:sts::{role_acct}:assumed-role/{role_name}/{session}"}}}},"resources":[{{"accountId":"{role_acct}","type":"AWS::IAM::Role","ARN":"{role_arn}"}}]"#,
                "Q".repeat(300),
                expiration(t + 3600),
                &key[4..]
            )
        };
        let shared_json = shared.map(|s| format!(r#","sharedEventID":"{s}""#)).unwrap_or_default();
        let json = format!(
            r#"{{"eventVersion":"1.08","userIdentity":{caller},"eventTime":"{}","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","awsRegion":"us-east-1","sourceIPAddress":"{ip}","userAgent":"{ua}",{body},"requestID":"{req}","eventID":"{id}","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{}"{shared_json},"eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"sts.amazonaws.com"}}}}"#,
            ts(t),
            self.accounts[acct]
        );
        self.record(acct, 0, t, json);
    }
}

fn caller_arn(identity: &str) -> String {
    identity.split(r#""arn":""#).nth(1).and_then(|r| r.split('"').next()).unwrap_or("unknown").to_owned()
}

fn user_identity(account: &str, user: &str, key: &str) -> String {
    format!(
        r#"{{"type":"IAMUser","principalId":"AIDA{key}","arn":"arn:aws:iam::{account}:user/{user}","accountId":"{account}","accessKeyId":"{key}","userName":"{user}"}}"#
    )
}

fn main() {
    let args = parse_args();
    let mut g = Gen {
        rng: Rng(args.seed),
        accounts: (0..args.accounts).map(|i| format!("{:012}", 210_000_000_000u64 + i as u64 * 1_111_111)).collect(),
        regions: REGIONS[..args.regions.clamp(1, REGIONS.len())].to_vec(),
        out: Vec::new(),
    };
    let org = "o-7kq2x9vd4m";
    let awslogs = args.out.join("AWSLogs").join(org);
    if args.out.join("AWSLogs").exists() {
        std::fs::remove_dir_all(args.out.join("AWSLogs")).expect("clear the old corpus");
    }
    let mut written = 0u64;
    let mut files = 0u64;
    let mut t = START;
    let mut hour = 0;
    // Generate in one-hour slices so memory holds one hour of records, whatever the corpus size.
    while written < args.records {
        let slice_end = t + 3600;
        let per_hour = (args.records / (24 * args.days)).max(1000 / args.days);
        let mut made = 0;
        while made < per_hour && written + made < args.records {
            let start = t + g.rng.below(3600) as i64;
            made += session(&mut g, start);
        }
        let start = t + g.rng.below(1800) as i64;
        incident(&mut g, start, INCIDENTS[hour % INCIDENTS.len()]);
        hour += 1;
        // Deliver every record whose delivery time falls in this slice or earlier (late ones wait).
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut g.out).into_iter().partition(|r| r.2 < slice_end + 3600);
        g.out = later;
        let (n, f) = deliver(&mut g, &awslogs, due);
        written += n;
        files += f;
        t = slice_end;
    }
    let rest = std::mem::take(&mut g.out);
    let (n, f) = deliver(&mut g, &awslogs, rest);
    eprintln!("trailscan-gen: {} records in {} files under {}", written + n, files + f, args.out.display());
}

/// Writes records as five-minute deliveries per account and region; returns (records, files).
fn deliver(g: &mut Gen, root: &Path, mut recs: Vec<(usize, usize, i64, String)>) -> (u64, u64) {
    recs.sort_by_key(|a| (a.0, a.1, a.2 / 300));
    let mut files = 0;
    let n = recs.len() as u64;
    let mut i = 0;
    while i < recs.len() {
        let (acct, region, slot) = (recs[i].0, recs[i].1, recs[i].2 / 300);
        let mut j = i;
        while j < recs.len() && (recs[j].0, recs[j].1, recs[j].2 / 300) == (acct, region, slot) {
            j += 1;
        }
        let mut batch: Vec<&str> = recs[i..j].iter().map(|r| r.3.as_str()).collect();
        // Records inside a delivery are not in time order.
        for k in (1..batch.len()).rev() {
            batch.swap(k, g.rng.below(k as u64 + 1) as usize);
        }
        let at = slot * 300 + 300;
        let (y, m, d) = civil(at.div_euclid(86_400));
        let account = &g.accounts[acct];
        let region_name = g.regions[region];
        let dir = root.join(account).join("CloudTrail").join(region_name).join(format!("{y:04}/{m:02}/{d:02}"));
        std::fs::create_dir_all(&dir).expect("create corpus folder");
        let stamp = &ts(at)[..16].replace(['-', ':'], "");
        let mut name = String::new();
        for _ in 0..16 {
            name.push(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[g.rng.below(62) as usize] as char,
            );
        }
        let path = dir.join(format!("{account}_CloudTrail_{region_name}_{stamp}Z_{name}.json.gz"));
        let body = format!("{{\"Records\":[{}]}}", batch.join(","));
        write_gz(&path, body.as_bytes());
        files += 1;
        // Now and then CloudTrail delivers the same file twice.
        if g.rng.chance(0.003) {
            write_gz(
                &path.with_file_name(format!("{account}_CloudTrail_{region_name}_{stamp}Z_{name}dup.json.gz")),
                body.as_bytes(),
            );
            files += 1;
        }
        i = j;
    }
    (n, files)
}

fn write_gz(path: &Path, bytes: &[u8]) {
    let file = std::fs::File::create(path).expect("write corpus file");
    let mut gz = flate2::GzBuilder::new().mtime(0).write(std::io::BufWriter::new(file), flate2::Compression::new(6));
    gz.write_all(bytes).expect("write corpus file");
    gz.finish().expect("write corpus file").flush().expect("write corpus file");
}

/// Generates one session and its calls starting at `t`; returns how many records it made.
fn session(g: &mut Gen, t: i64) -> u64 {
    let acct = g.rng.below(g.accounts.len() as u64) as usize;
    let region = g.rng.below(g.regions.len() as u64) as usize;
    let account = g.accounts[acct].clone();
    let roll = g.rng.below(100);
    let key = g.rng.key("ASIA");
    let mut made = 0;
    let (actor, n_calls, data_share) = match roll {
        // AWS services: Lambda, ECS tasks and EC2 instance profiles, the bulk of real trails.
        0..=59 => {
            let (svc, role, session, ip) = match g.rng.below(3) {
                0 => (
                    "lambda.amazonaws.com",
                    format!("service-role/fn-{}-role", g.rng.below(40)),
                    format!("fn-{}", g.rng.below(40)),
                    format!("3.{}.{}.{}", 200 + g.rng.below(50), g.rng.below(256), g.rng.below(256)),
                ),
                1 => (
                    "ecs-tasks.amazonaws.com",
                    format!("task-{}-role", g.rng.below(20)),
                    g.rng.uuid(),
                    format!("10.{}.{}.{}", g.rng.below(256), g.rng.below(256), g.rng.below(256)),
                ),
                _ => (
                    "ec2.amazonaws.com",
                    format!("instance-{}-role", g.rng.below(20)),
                    format!("i-0{:016x}", g.rng.next() >> 4),
                    format!("52.{}.{}.{}", g.rng.below(256), g.rng.below(256), g.rng.below(256)),
                ),
            };
            let role_arn = format!("arn:aws:iam::{account}:role/{role}");
            let caller = format!(r#"{{"type":"AWSService","invokedBy":"{svc}"}}"#);
            let shared = g.rng.uuid();
            g.assume(acct, t, &caller, &role_arn, &session, &key, svc, svc, Some(&shared), false);
            made += 1;
            (Actor::role_session(&role_arn, &session, key, t, ip, UAS[2]), 5 + g.rng.below(40), 0.5)
        }
        // People from the CLI, some through a second hop in another account.
        60..=84 => {
            let user = format!("user{}", g.rng.below(200));
            let ukey = g.rng.key("AKIA");
            let role_arn = format!("arn:aws:iam::{account}:role/Team{}", g.rng.below(10));
            let ip = format!("198.51.{}.{}", g.rng.below(256), g.rng.below(256));
            let ua = *g.rng.pick(&UAS[..2]);
            let caller = user_identity(&account, &user, &ukey);
            if g.rng.chance(0.06) {
                // AccessDenied attempts.
                let denied_role = format!("arn:aws:iam::{account}:role/Admin{}", g.rng.below(5));
                g.assume(acct, t, &caller, &denied_role, &user, &key, &ip, ua, None, true);
                return 1;
            }
            g.assume(acct, t, &caller, &role_arn, &user, &key, &ip, ua, None, false);
            made += 1;
            let mut actor = Actor::role_session(&role_arn, &user, key, t, ip.clone(), ua);
            if g.rng.chance(0.3) {
                // Second hop into another account: logged in both accounts with one sharedEventID.
                let other = g.rng.below(g.accounts.len() as u64) as usize;
                let other_acct = g.accounts[other].clone();
                let role2 = format!("arn:aws:iam::{other_acct}:role/CrossAccountDeploy");
                let key2 = g.rng.key("ASIA");
                let shared = g.rng.uuid();
                let caller2 = g.identity(&actor);
                let t2 = t + 5 + g.rng.below(60) as i64;
                g.assume(acct, t2, &caller2, &role2, &format!("{user}-x"), &key2, &ip, ua, Some(&shared), false);
                if other != acct {
                    let owner_copy = format!(
                        r#"{{"type":"AWSAccount","principalId":"AROA{}:{user}","accountId":"{account}"}}"#,
                        &actor.key[4..]
                    );
                    g.assume(
                        other,
                        t2,
                        &owner_copy,
                        &role2,
                        &format!("{user}-x"),
                        &key2,
                        &ip,
                        ua,
                        Some(&shared),
                        false,
                    );
                    made += 1;
                }
                made += 1;
                actor = Actor::role_session(&role2, &format!("{user}-x"), key2, t2, ip, ua);
                let n = 3 + g.rng.below(30);
                return made + calls(g, other, region, &actor, n, 0.2);
            }
            (actor, 3 + g.rng.below(30), 0.2)
        }
        // Console role switches: calls with keys other than the issued one.
        _ => {
            let user = format!("person{}", g.rng.below(80));
            let role_arn = format!("arn:aws:iam::{account}:role/ReadOnly{}", g.rng.below(4));
            let caller = format!(
                r#"{{"type":"IAMUser","principalId":"AIDAX{user}","arn":"arn:aws:iam::{account}:user/{user}","accountId":"{account}","accessKeyId":"{}","userName":"{user}","sessionContext":{{"sessionIssuer":{{}},"webIdFederationData":{{}},"attributes":{{"creationDate":"{}","mfaAuthenticated":"true"}}}},"invokedBy":"AWS Internal"}}"#,
                g.rng.key("ASIA"),
                ts(t - 600)
            );
            g.assume(acct, t, &caller, &role_arn, &user, &key, "AWS Internal", "AWS Internal", None, false);
            made += 1;
            let ip = format!("203.0.{}.{}", g.rng.below(256), g.rng.below(256));
            let console_key = g.rng.key("ASIA");
            let actor =
                Actor { console: true, ..Actor::role_session(&role_arn, &user, console_key, t, ip, "AWS Internal") };
            (actor, 5 + g.rng.below(25), 0.1)
        }
    };
    made + calls(g, acct, region, &actor, n_calls, data_share)
}

fn calls(g: &mut Gen, acct: usize, region: usize, a: &Actor, n: u64, data_share: f64) -> u64 {
    const MGMT: [(&str, &str); 8] = [
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("logs.amazonaws.com", "CreateLogStream"),
        ("dynamodb.amazonaws.com", "DescribeTable"),
        ("kms.amazonaws.com", "Decrypt"),
        ("sts.amazonaws.com", "GetCallerIdentity"),
        ("ssm.amazonaws.com", "GetParameter"),
        ("cloudformation.amazonaws.com", "DescribeStacks"),
        ("iam.amazonaws.com", "ListRoles"),
    ];
    for i in 0..n {
        let t = a.created + 1 + i as i64 * (1 + g.rng.below(90) as i64);
        let data = g.rng.chance(data_share);
        let (source, name) = if data {
            ("s3.amazonaws.com", *g.rng.pick(&["GetObject", "PutObject", "HeadObject"]))
        } else {
            *g.rng.pick(&MGMT)
        };
        let denied = g.rng.chance(0.01);
        g.call(acct, region, t, a, source, name, data, denied);
    }
    n
}

/// What the detections should find, one incident an hour in this order: the rule each one trips.
const INCIDENTS: [&str; 11] = [
    "credentials-used-elsewhere",
    "role-enumeration",
    "untrusted-external-account",
    "privileged-action-in-session",
    "access-denied-burst",
    "service-role-used-by-human",
    "long-role-chain",
    "sensitive-role-without-mfa",
    "console-sign-in-from-credentials",
    "implicit-self-trust",
    "federation-token-by-user",
];

/// An account outside the organisation.
const OUTSIDER: &str = "999988887777";

/// Plants one incident that trips `rule` at `t`.
fn incident(g: &mut Gen, t: i64, rule: &str) {
    let acct = g.rng.below(g.accounts.len() as u64) as usize;
    let region = g.rng.below(g.regions.len() as u64) as usize;
    let account = g.accounts[acct].clone();
    let user = format!("mallory{}", g.rng.below(100));
    let ukey = g.rng.key("AKIA");
    let person = user_identity(&account, &user, &ukey);
    let ip = format!("185.220.101.{}", g.rng.below(256));
    let ua = UAS[0];
    let team = format!("arn:aws:iam::{account}:role/Team{}", g.rng.below(10));
    // A person's session of `role`, assumed at `at` from the incident's address.
    let assumed = |g: &mut Gen, caller: &str, role_arn: &str, at: i64, acct: usize| {
        let key = g.rng.key("ASIA");
        g.assume(acct, at, caller, role_arn, &user, &key, &ip, ua, None, false);
        Actor::role_session(role_arn, &user, key, at, ip.clone(), ua)
    };
    match rule {
        "credentials-used-elsewhere" => {
            // An instance's credentials, then the same key from a network far from the instance's.
            let role_arn = format!("arn:aws:iam::{account}:role/instance-{}-role", g.rng.below(20));
            let instance = format!("i-0{:016x}", g.rng.next() >> 4);
            let key = g.rng.key("ASIA");
            let caller = r#"{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}"#;
            let svc = "ec2.amazonaws.com";
            g.assume(acct, t, caller, &role_arn, &instance, &key, svc, svc, None, false);
            let instance_ip = format!("52.{}.{}.{}", g.rng.below(256), g.rng.below(256), g.rng.below(256));
            let mut actor = Actor::role_session(&role_arn, &instance, key, t, instance_ip, UAS[2]);
            calls(g, acct, region, &actor, 10, 0.5);
            (actor.ip, actor.ua) = (ip, ua);
            for (i, (source, name)) in [
                ("sts.amazonaws.com", "GetCallerIdentity"),
                ("s3.amazonaws.com", "ListBuckets"),
                ("iam.amazonaws.com", "ListRoles"),
            ]
            .into_iter()
            .enumerate()
            {
                g.call(acct, region, t + 1800 + 20 * i as i64, &actor, source, name, false, false);
            }
        }
        "role-enumeration" => {
            // Twelve denied guesses at six roles in six minutes.
            for i in 0..12 {
                let role = format!(
                    "arn:aws:iam::{account}:role/{}",
                    ["Admin", "OrganizationAccountAccessRole", "BreakGlass", "Deploy", "Billing", "Security"][i % 6]
                );
                let key = g.rng.key("ASIA");
                g.assume(acct, t + 30 * i as i64, &person, &role, &user, &key, &ip, ua, None, true);
            }
        }
        "untrusted-external-account" => {
            // An account outside the organisation assumes a role; only the role owner's copy is in the trail.
            let caller =
                format!(r#"{{"type":"AWSAccount","principalId":"AIDA{}","accountId":"{OUTSIDER}"}}"#, &ukey[4..]);
            let actor = assumed(g, &caller, &format!("arn:aws:iam::{account}:role/VendorAccess"), t, acct);
            calls(g, acct, region, &actor, 5, 0.5);
        }
        "privileged-action-in-session" => {
            // A session that gives itself a way back in.
            let actor = assumed(g, &person, &team, t, acct);
            g.call(acct, region, t + 60, &actor, "iam.amazonaws.com", "CreateAccessKey", false, false);
            g.call(acct, region, t + 90, &actor, "iam.amazonaws.com", "AttachRolePolicy", false, false);
        }
        "access-denied-burst" => {
            // A session probing what it may do: fourteen denials in four minutes.
            let actor = assumed(g, &person, &team, t, acct);
            for i in 0..14 {
                let (source, name) =
                    [("secretsmanager.amazonaws.com", "GetSecretValue"), ("kms.amazonaws.com", "Decrypt")][i % 2];
                g.call(acct, region, t + 10 + 15 * i as i64, &actor, source, name, false, true);
            }
        }
        "service-role-used-by-human" => {
            // A person borrows a Lambda function's role.
            let role = format!("arn:aws:iam::{account}:role/service-role/fn-{}-role", g.rng.below(40));
            let actor = assumed(g, &person, &role, t, acct);
            calls(g, acct, region, &actor, 3, 0.0);
        }
        "console-sign-in-from-credentials" => {
            // A script opens a console with a session's keys (as aws_consoler does), then looks around.
            let mut actor = assumed(g, &person, &team, t, acct);
            let cli = actor.ua;
            actor.ua = "python-requests/2.31.0";
            g.call(acct, region, t + 40, &actor, "signin.amazonaws.com", "GetSigninToken", false, false);
            actor.ua = cli;
            calls(g, acct, region, &actor, 3, 0.0);
        }
        "implicit-self-trust" => {
            // A team role's session renews itself through the legacy implicit self-trust (role-juggling too).
            let actor = assumed(g, &person, &team, t, acct);
            let caller = g.identity(&actor);
            let key = g.rng.key("ASIA");
            g.assume(acct, t + 1800, &caller, &team, &user, &key, &ip, ua, None, false);
            let renewal = &mut g.out.last_mut().expect("just recorded").3;
            *renewal = renewal.replacen(
                r#""eventType":"#,
                r#""additionalEventData":{"explicitTrustGrant":false},"eventType":"#,
                1,
            );
            let renewed = Actor::role_session(&team, &user, key, t + 1800, ip.clone(), ua);
            calls(g, acct, region, &renewed, 3, 0.0);
        }
        "federation-token-by-user" => {
            // An IAM user makes itself a federated session that outlives its access key, then uses it.
            let name = format!("{user}-fed");
            let key = g.rng.key("ASIA");
            let json = format!(
                r#"{{"eventVersion":"1.08","userIdentity":{person},"eventTime":"{}","eventSource":"sts.amazonaws.com","eventName":"GetFederationToken","awsRegion":"us-east-1","sourceIPAddress":"{ip}","userAgent":"{ua}","requestParameters":{{"name":"{name}","durationSeconds":129600,"policy":"{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}]}}"}},"responseElements":{{"credentials":{{"accessKeyId":"{key}","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLEx{}","expiration":"{}"}},"federatedUser":{{"federatedUserId":"{account}:{name}","arn":"arn:aws:sts::{account}:federated-user/{name}"}},"packedPolicySize":9}},"requestID":"{}","eventID":"{}","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{account}","eventCategory":"Management"}}"#,
                ts(t),
                "Q".repeat(300),
                expiration(t + 129_600),
                g.rng.uuid(),
                g.rng.uuid()
            );
            g.record(acct, 0, t, json);
            let actor = Actor {
                account: account.clone(),
                arn: format!("arn:aws:sts::{account}:federated-user/{name}"),
                key,
                created: t,
                issuer: format!("arn:aws:iam::{account}:user/{user}"),
                ip: ip.clone(),
                ua,
                console: false,
            };
            calls(g, acct, region, &actor, 3, 0.0);
        }
        "long-role-chain" => {
            // Three hops: a team role, a role in another account, and on from there.
            let hop1 = assumed(g, &person, &team, t, acct);
            let other = (acct + 1) % g.accounts.len();
            let other_account = g.accounts[other].clone();
            let caller = g.identity(&hop1);
            let hop2 =
                assumed(g, &caller, &format!("arn:aws:iam::{other_account}:role/CrossAccountDeploy"), t + 30, acct);
            let caller = g.identity(&hop2);
            let hop3 = assumed(g, &caller, &format!("arn:aws:iam::{other_account}:role/DataAdmin"), t + 60, other);
            calls(g, other, region, &hop3, 3, 0.0);
        }
        _ => {
            // An IAM user without MFA takes the organisation's administrator role.
            let actor =
                assumed(g, &person, &format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole"), t, acct);
            calls(g, acct, region, &actor, 3, 0.0);
        }
    }
}
