//! The command line, as clap types only: no logic, no I/O. `config` turns these into a resolved `Config`.
//! Doc comments here are the `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Who became what: rebuild AWS role-assumption sessions from CloudTrail logs.
///
/// trailscan reads CloudTrail files (gzipped or not, in any of the shapes exports come in), rebuilds every
/// role-assumption session (AssumeRole, …WithSAML, …WithWebIdentity, GetSessionToken, GetFederationToken,
/// AssumeRoot, console role switches), links every later call made with the issued credentials to its
/// session, and answers who assumed what, from where, through which chain.
#[derive(Debug, Parser)]
#[command(name = "trailscan", version, about, max_term_width = 110)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub detect: DetectArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One row per assumption of ROLE: who, when, from where, and what they did with the session.
    WhoAssumed {
        /// The role: a name (`James-custom-S3-role`), an ARN, or a glob over either (`*Admin*`).
        role: String,
        /// Answer from the history dataset a `nightly --out OUT` job writes (a folder or s3://bucket/prefix),
        /// without reading any log.
        #[arg(long, value_name = "OUT")]
        history: Option<PathBuf>,
    },
    /// Per origin principal, the roles it became, directly or through chains.
    WhoBecameWhat {
        /// Only this principal: an ARN, a user or role name, a SAML/OIDC subject, or a glob over them.
        principal: Option<String>,
        /// Answer from the history dataset a `nightly --out OUT` job writes (a folder or s3://bucket/prefix),
        /// without reading any log.
        #[arg(long, value_name = "OUT")]
        history: Option<PathBuf>,
    },
    /// The whole sessions table, optionally filtered.
    Sessions {
        /// Only sessions of roles matching this name, ARN or glob.
        #[arg(long)]
        role: Option<String>,
        /// Only sessions whose source or origin principal matches this ARN, name or glob.
        #[arg(long)]
        principal: Option<String>,
        /// Answer from the history dataset a `nightly --out OUT` job writes (a folder or s3://bucket/prefix),
        /// without reading any log.
        #[arg(long, value_name = "OUT")]
        history: Option<PathBuf>,
    },
    /// One session's timeline: the assumption and every call made with its credentials.
    Session {
        /// An issued access key id, a session ARN, or the event id shown in the `event_id` column.
        id: String,
    },
    /// Findings: sessions and principals that the detection rules flag (credentials used from another
    /// network, role enumeration, untrusted outside accounts, long chains, first-seen assumptions, sensitive
    /// roles without MFA, privileged actions, bursts of denials, service roles assumed by people, console
    /// sign-ins from session credentials, roles assuming themselves without a trust grant, federation tokens
    /// made by users, roles renewed through their own chain, attack tools by their user agent). Rules and
    /// their settings ([detect] in trailscan.toml) are described in the README.
    Flags,
    /// Run a named report (an SQL file of queries/ or of --queries DIR) over the tables; --list names them.
    ///
    /// The tables are sessions, actions, flags and files; `trailscan query --help` lists their columns.
    /// --role, --principal and --account narrow the sessions (and their actions and flags) before the
    /// report runs.
    Report {
        /// The report to run, e.g. who_assumed, cross_account_access, daily_summary.
        #[arg(required_unless_present = "list")]
        name: Option<String>,
        /// List the reports with what each answers, instead of running one.
        #[arg(long, conflicts_with = "name")]
        list: bool,
        /// A folder of NAME.sql reports that add to (or replace) the built-in ones [default: `queries` in
        /// trailscan.toml].
        #[arg(long, value_name = "DIR")]
        queries: Option<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Run your own SQL (Polars SQL) over the tables: sessions, actions, flags, files.
    ///
    /// Join them on sessions.event_id = actions.session_event_id = flags.session_event_id. Timestamps are
    /// RFC 3339 UTC strings, so they compare and sort as text (assumed_at >= '2026-11-20'). Quote a column
    /// named like an SQL keyword: "count". An error lists every table and its columns.
    Query {
        /// The SQL, a FILE.sql holding it, or `-` to read it from standard input.
        sql: String,
        #[command(flatten)]
        filter: FilterArgs,
        /// Answer from the history dataset a `nightly --out OUT` job writes (a folder or s3://bucket/prefix),
        /// without reading any log.
        #[arg(long, value_name = "OUT")]
        history: Option<PathBuf>,
    },
    /// Write the auditor bundle: every table as CSV and Parquet, summary.json with counts and SHA-256
    /// hashes, and README.txt. Re-running on the same input writes the same bytes (except the run time in
    /// summary.json).
    Scan {
        /// The folder to write the bundle into (created if needed; files of an earlier bundle are replaced).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// The incremental job for cron: read every log file delivered before --until (default: now) that no
    /// earlier run read, carry sessions still open in STATE, and add to the history in OUT.
    ///
    /// Run N writes OUT/bundles/run-N-<cut-off>/ (the `scan` bundle of the sessions it finished or left
    /// open), OUT/findings/run-N-<cut-off>.ndjson (its new findings, one JSON object a line, for a SIEM),
    /// and adds to the Hive-partitioned Parquet history OUT/history/{sessions,actions,flags}/dt=YYYY-MM-DD/
    /// that `--history OUT` answers from. It prints one summary line on standard output (one a pass, for a
    /// backlog read in passes: --batch-size); --fail-on judges the new findings. --since DAY: trail date
    /// folders before DAY are never read (a first run over years of logs can start from a recent day). A
    /// second run while one holds the lock on STATE refuses. Killed, it is simply run again: STATE is
    /// committed last.
    Nightly {
        /// The folder that carries state between runs: files read, open sessions, the detection baseline.
        /// A local folder or s3://bucket/prefix (its lock and commit use S3's conditional writes).
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// The folder that receives bundles, findings and the history dataset: a local folder or
        /// s3://bucket/prefix (written locally, then uploaded before STATE is committed).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// How late a log file may be delivered after its events and still join a session: sessions are
        /// final, and leave STATE, this long after their credentials expire.
        #[arg(long, value_name = "DURATION", default_value = "1d")]
        late: String,
        /// A lock on STATE older than this is taken to be left by a crashed run and is broken.
        #[arg(long, value_name = "DURATION", default_value = "6h")]
        lock_expiry: String,
        /// Trail date folders dated more than this before the newest folder read are not listed again, and
        /// their files leave STATE's list of files read (CloudTrail delivers into the current day's folder).
        /// Files copied into such old folders later are not read by nightly: use `scan` for a backfill.
        #[arg(long, value_name = "DURATION", default_value = "7d")]
        relist: String,
        /// The most compressed log one pass reads, which bounds memory (a million records, ~135 MB
        /// compressed, take ~400 MB). A backlog larger than this (a first run over months of logs) is read in
        /// passes of whole trail days, oldest first, each committed as a run; one day is never split.
        #[arg(long, value_name = "SIZE", default_value = "512MB")]
        batch_size: String,
    },
}

/// Which sessions a report or query sees. Applied before any SQL runs: these values never become SQL text.
#[derive(Debug, Args, Default, Clone)]
pub struct FilterArgs {
    /// Only sessions of roles matching this name, ARN or glob.
    #[arg(long)]
    pub role: Option<String>,
    /// Only sessions whose source or origin principal matches this ARN, name or glob.
    #[arg(long)]
    pub principal: Option<String>,
}

/// Where to read and which events to keep.
#[derive(Debug, Args, Default)]
pub struct InputArgs {
    /// A CloudTrail file or folder (read recursively), or s3://bucket[/prefix]. Repeatable. Without it, the
    /// `source` list of trailscan.toml is used.
    #[arg(long, short = 's', global = true, value_name = "PATH|S3URL")]
    pub source: Vec<String>,

    /// Only this account (repeatable): trail folders of other accounts are not read, and `sessions` shows
    /// only sessions whose role or caller is in one of these accounts.
    #[arg(long, global = true, value_name = "ID")]
    pub account: Vec<String>,

    /// Only this region (repeatable): trail folders of other regions are not read. Include us-east-1, where
    /// IAM, global STS and sign-in events are logged.
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Vec<String>,

    /// The AWS profile for S3 (default: the standard chain: environment, profiles, SSO, web identity, IMDS).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Also read the CloudTrail LookupEvents API (management events of the last 90 days) in each --region
    /// (default: the configured region): the assumptions, then each issued key's activity. Paced to the
    /// service limit of 2 calls per second per region.
    #[arg(long, global = true)]
    pub lookup_events: bool,

    /// An S3-compatible endpoint such as http://127.0.0.1:9000 (path-style addressing is used there).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Only events at or after this time: RFC 3339 (2026-11-20T10:00:00Z), a date, or a duration before now (7d, 12h).
    #[arg(long, global = true, value_name = "TIME")]
    pub since: Option<String>,

    /// Only events before this time: RFC 3339, a date, or a duration before now.
    #[arg(long, global = true, value_name = "TIME")]
    pub until: Option<String>,

    /// The configuration file [default: ./trailscan.toml when it exists].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Exit with status 2 if any input file could not be read.
    #[arg(long, global = true)]
    pub strict: bool,

    /// Worker threads for reading and decoding [default: one per core]. Output does not depend on it.
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
}

/// How to write results.
#[derive(Debug, Args, Default)]
pub struct OutputArgs {
    /// Output format [default: table on a terminal, csv otherwise]. Parquet needs --output FILE or a
    /// redirected standard output.
    #[arg(long, short = 'f', global = true, value_enum)]
    pub format: Option<FormatArg>,

    /// Write results to FILE instead of standard output.
    #[arg(long, short = 'o', global = true, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Csv,
    Json,
    Ndjson,
    Parquet,
}

/// Detections: on every command.
#[derive(Debug, Args, Default)]
pub struct DetectArgs {
    /// Exit with status 3 when a finding of this severity or higher exists (after suppressions).
    #[arg(long, global = true, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<SeverityArg>,

    /// Assumptions before TIME train the first-seen-assumption baseline, and no finding whose evidence
    /// starts before TIME is reported. RFC 3339, a date, or a duration before now (7d).
    #[arg(long, global = true, value_name = "TIME")]
    pub baseline_until: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Low,
    Medium,
    High,
}
