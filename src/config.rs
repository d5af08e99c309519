//! Config: what the user typed plus `trailscan.toml`, resolved once into plain values before any work.
//! This is the only module that reads clap types; everything downstream sees [`Config`].

use crate::cli::{Cli, Command, FormatArg, SeverityArg};
use crate::detect::{self, BurstLimits, Severity};
use crate::extract::TimeWindow;
use crate::net::{AwsRanges, Cidr, Granularity};
use crate::pattern::Pattern;
use crate::source::layout::Scope;
use crate::source::s3::S3Options;
use crate::source::SourceSpec;
use crate::timefmt;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file read from the working directory when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "trailscan.toml";

/// `trailscan.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Default sources: paths relative to the config file's folder, or `s3://bucket/prefix`.
    #[serde(default)]
    pub source: Vec<String>,
    /// Rule settings; read by the detections.
    #[serde(default)]
    pub detect: Option<DetectFile>,
    /// A folder of NAME.sql reports for `trailscan report`, relative to the config file's folder.
    #[serde(default)]
    pub queries: Option<PathBuf>,
}

/// `[detect]` of `trailscan.toml`, as written. Resolved into [`detect::Settings`] by [`resolve_detect`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectFile {
    /// Accounts outside the organisation allowed to assume its roles.
    #[serde(default)]
    pub trusted_accounts: Vec<String>,
    /// Role names, ARNs or globs; replaces the default list.
    pub sensitive_roles: Option<Vec<String>>,
    pub max_chain_depth: Option<u32>,
    /// Networks whose use of any credentials is never `credentials-used-elsewhere`.
    #[serde(default)]
    pub allow_cidrs: Vec<String>,
    /// A copy of AWS's `ip-ranges.json`, relative to the config file.
    pub aws_ip_ranges: Option<PathBuf>,
    #[serde(default, rename = "credentials-used-elsewhere")]
    pub credentials_used_elsewhere: ElsewhereFile,
    #[serde(default, rename = "role-enumeration")]
    pub role_enumeration: RoleEnumerationFile,
    #[serde(default, rename = "access-denied-burst")]
    pub access_denied_burst: DeniedBurstFile,
    #[serde(default)]
    pub suppress: Vec<SuppressFile>,
}

/// `[detect.credentials-used-elsewhere]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElsewhereFile {
    /// Prefix length at which two IPv4 addresses are one network (default 24).
    pub ipv4_prefix: Option<u8>,
    /// Prefix length at which two IPv6 addresses are one network (default 48).
    pub ipv6_prefix: Option<u8>,
}

/// `[detect.role-enumeration]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleEnumerationFile {
    pub failures: Option<usize>,
    pub roles: Option<usize>,
    pub window: Option<String>,
}

/// `[detect.access-denied-burst]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeniedBurstFile {
    pub errors: Option<usize>,
    pub window: Option<String>,
}

/// One `[[detect.suppress]]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressFile {
    /// A rule id, or `*` for every rule.
    pub rule: String,
    pub role: Option<String>,
    pub principal: Option<String>,
    pub cidr: Option<String>,
    /// Why: for the people who read the file later. Not used by trailscan.
    pub reason: Option<String>,
}

/// Output format, resolved (the terminal default applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
    Parquet,
}

/// Everything a run needs, resolved and validated.
#[derive(Debug)]
pub struct Config {
    pub command: Command,
    pub sources: Vec<SourceSpec>,
    pub window: TimeWindow,
    /// Accounts, regions and time window, for pruning trail layouts.
    pub scope: Scope,
    pub aws: S3Options,
    /// Read the LookupEvents API in these regions (empty: the configured region).
    pub lookup_events: Option<Vec<String>>,
    pub strict: bool,
    pub threads: Option<usize>,
    pub format: Format,
    pub output: Option<PathBuf>,
    /// The folder of extra reports: `report --queries`, else `queries` in the config file.
    pub queries: Option<PathBuf>,
    /// The command line as typed, for the bundle's summary.json.
    pub command_line: Vec<String>,
    pub file: FileConfig,
    /// The detections' settings (`[detect]` and `--baseline-until`).
    pub detect: detect::Settings,
    /// `--fail-on`: exit with [`crate::exit::EXIT_FINDINGS`] when a finding at or above it exists.
    pub fail_on: Option<Severity>,
    /// `nightly`'s settings.
    pub nightly: Option<Nightly>,
    /// `--history OUT` of `query`, `sessions`, `who-assumed` and `who-became-what`: a folder or an S3 prefix.
    pub history: Option<SourceSpec>,
}

impl Config {
    /// The inputs as the user named them, for reports: paths, `s3://` locations, and
    /// `lookup-events:REGIONS` when the API is read.
    pub fn input_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.sources.iter().map(|s| s.to_string()).collect();
        if let Some(regions) = &self.lookup_events {
            let regions = if regions.is_empty() { "default-region".to_owned() } else { regions.join(",") };
            names.push(format!("lookup-events:{regions}"));
        }
        names
    }

    /// Resolves the command line and the config file. `stdout_is_terminal` picks the default format.
    pub fn resolve(cli: Cli, stdout_is_terminal: bool) -> Result<Config> {
        let (file, config_dir) = load_file(cli.input.config.as_deref())?;
        let sources: Vec<SourceSpec> = if cli.input.lookup_events && cli.input.source.is_empty() {
            // The API alone is a source: trailscan.toml's default sources are not added to it.
            Vec::new()
        } else if !cli.input.source.is_empty() {
            cli.input.source.iter().map(|s| SourceSpec::parse(s)).collect::<Result<_>>()?
        } else if !file.source.is_empty() {
            let dir = config_dir.clone().unwrap_or_default();
            file.source
                .iter()
                .map(|s| {
                    Ok(match SourceSpec::parse(s)? {
                        SourceSpec::Disk(p) if p.is_relative() => SourceSpec::Disk(dir.join(p)),
                        other => other,
                    })
                })
                .collect::<Result<_>>()?
        } else if matches!(cli.command, Command::Report { list: true, .. }) || history_of(&cli.command).is_some() {
            // Listing the reports reads no logs, and neither does a question to the history.
            Vec::new()
        } else {
            bail!(
                "no input: give --source PATH (a CloudTrail file or folder, repeatable), or list sources in \
                 {DEFAULT_CONFIG} (source = [\"path/to/AWSLogs\"]) or in a file named with --config"
            );
        };
        let now = timefmt::now();
        let since = cli
            .input
            .since
            .as_deref()
            .map(|s| timefmt::parse_bound(s, now))
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--since")?;
        let until = cli
            .input
            .until
            .as_deref()
            .map(|s| timefmt::parse_bound(s, now))
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--until")?;
        if let (Some(s), Some(u)) = (since, until) {
            if s >= u {
                bail!(
                    "--since ({}) is not before --until ({}): nothing could match",
                    timefmt::format_rfc3339(s),
                    timefmt::format_rfc3339(u)
                );
            }
        }
        let baseline_until = cli
            .detect
            .baseline_until
            .as_deref()
            .map(|s| timefmt::parse_bound(s, now))
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--baseline-until")?;
        if let (Some(s), Some(b)) = (since, baseline_until) {
            if b <= s {
                bail!(
                    "--baseline-until ({}) is not after --since ({}): no assumption would train the baseline",
                    timefmt::format_rfc3339(b),
                    timefmt::format_rfc3339(s)
                );
            }
        }
        let mut file = file;
        // `aws_ip_ranges` is relative to the config file, like `source`.
        let config_path = cli.input.config.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        let detect = resolve_detect(file.detect.take().unwrap_or_default(), config_path.parent(), baseline_until)
            .with_context(|| format!("[detect] in {}", config_path.display()))?;
        let fail_on = cli.detect.fail_on.map(|s| match s {
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
        });
        if cli.input.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        if let Command::Scan { .. } | Command::Nightly { .. } = cli.command {
            if cli.output.format.is_some() || cli.output.output.is_some() {
                bail!(
                    "scan and nightly write their tables as CSV and Parquet into --out DIR; --format and --output do not apply \
                     to them (use them with sessions, report or query)"
                );
            }
        }
        let format = match cli.output.format {
            Some(FormatArg::Table) => Format::Table,
            Some(FormatArg::Csv) => Format::Csv,
            Some(FormatArg::Json) => Format::Json,
            Some(FormatArg::Ndjson) => Format::Ndjson,
            Some(FormatArg::Parquet) => Format::Parquet,
            None if stdout_is_terminal && cli.output.output.is_none() => Format::Table,
            None => Format::Csv,
        };
        let nightly = match &cli.command {
            Command::Nightly { state, out, late, lock_expiry, relist, batch_size } => {
                if cli.input.lookup_events {
                    bail!(
                        "nightly reads log files, each once: --lookup-events does not apply (the API has no \
                         delivery times to cut off on); point --source at the trail's bucket or folder"
                    );
                }
                let duration = |flag: &str, v: &str| {
                    timefmt::parse_duration(v)
                        .filter(|d| *d >= 0)
                        .ok_or_else(|| anyhow::anyhow!("{flag} {v:?}: give a duration such as 1d, 12h or 30m"))
                };
                Some(Nightly {
                    state: place("--state", state)?,
                    out: place("--out", out)?,
                    cutoff: until.unwrap_or(now),
                    start: since,
                    late: duration("--late", late)?,
                    lock_expiry: duration("--lock-expiry", lock_expiry)?,
                    relist: duration("--relist", relist)?,
                    batch_size: parse_size(batch_size).filter(|b| *b > 0).ok_or_else(|| {
                        anyhow::anyhow!("--batch-size {batch_size:?}: give a size such as 256MB or 2GB")
                    })?,
                })
            }
            _ => None,
        };
        // For nightly, --until is the cut-off on delivery, not a filter on event time.
        let window = if nightly.is_some() { TimeWindow::default() } else { TimeWindow { since, until } };
        if format == Format::Parquet && cli.output.output.is_none() && stdout_is_terminal {
            bail!(
                "--format parquet writes binary data: give --output FILE.parquet, or redirect standard output \
                 to a file"
            );
        }
        let queries = match &cli.command {
            Command::Report { queries: Some(dir), .. } => Some(dir.clone()),
            _ => file.queries.as_ref().map(|q| {
                if q.is_absolute() {
                    q.clone()
                } else {
                    config_dir.clone().unwrap_or_default().join(q)
                }
            }),
        };
        let history = history_of(&cli.command).map(|p| place("--history", p)).transpose()?;
        Ok(Config {
            command: cli.command,
            sources,
            window,
            lookup_events: cli.input.lookup_events.then(|| cli.input.region.clone()),
            scope: Scope { accounts: cli.input.account, regions: cli.input.region.clone(), window, days: None },
            aws: S3Options {
                profile: cli.input.profile,
                region: cli.input.region.first().cloned(),
                endpoint_url: cli.input.endpoint_url,
            },
            strict: cli.input.strict,
            threads: cli.input.threads,
            format,
            output: cli.output.output,
            queries,
            command_line: std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect(),
            file,
            detect,
            fail_on,
            nightly,
            history,
        })
    }
}

/// `--history OUT` of the commands that can answer from a nightly job's history.
pub fn history_of(command: &Command) -> Option<&Path> {
    match command {
        Command::WhoAssumed { history, .. }
        | Command::WhoBecameWhat { history, .. }
        | Command::Sessions { history, .. }
        | Command::Query { history, .. } => history.as_deref(),
        _ => None,
    }
}

/// A nightly folder as the user named it: a local path, or `s3://bucket/prefix` (checked here, so a
/// mistyped location fails before any work).
fn place(flag: &str, path: &Path) -> Result<SourceSpec> {
    SourceSpec::parse(&path.to_string_lossy()).with_context(|| flag.to_owned())
}

/// The nightly job's settings, resolved.
#[derive(Debug, Clone)]
pub struct Nightly {
    /// `--state`: a folder, or an S3 prefix (see `nightly::place`).
    pub state: SourceSpec,
    /// `--out`: a folder, or an S3 prefix.
    pub out: SourceSpec,
    /// `--until` (default: now): files delivered at or after it are left for the next run.
    pub cutoff: i64,
    /// `--since`: trail date folders dated before its day are never read, by this run or a later one.
    pub start: Option<i64>,
    /// `--late`, seconds: how long after its credentials expire a session stays open for late deliveries.
    pub late: i64,
    /// `--lock-expiry`, seconds.
    pub lock_expiry: i64,
    /// `--relist`, seconds: how far before the newest date folder read trail date folders are listed again.
    pub relist: i64,
    /// `--batch-size`, bytes of compressed log: the most one pass reads (see `nightly::passes`).
    pub batch_size: u64,
}

/// A size such as `256MB`, `2GB`, `512k` or `1048576` (bytes). K, M and G (with or without `B` or `iB`) count
/// in 1024s, as memory does.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    let bytes = number * scale as f64;
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Turns `[detect]` into the rules' settings: validates every value and says what is wrong and what to write.
/// `dir` is the config file's folder, which `aws_ip_ranges` is relative to.
pub fn resolve_detect(f: DetectFile, dir: Option<&Path>, baseline_until: Option<i64>) -> Result<detect::Settings> {
    let defaults = detect::Settings::default();
    for a in &f.trusted_accounts {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            bail!("trusted_accounts: {a:?} is not an AWS account id (12 digits, such as \"444455556666\")");
        }
    }
    let sensitive_roles = match &f.sensitive_roles {
        Some(list) => list.iter().map(|p| Pattern::new(p)).collect::<Result<_>>().context("sensitive_roles")?,
        None => defaults.sensitive_roles,
    };
    let max_chain_depth = f.max_chain_depth.unwrap_or(defaults.max_chain_depth);
    if max_chain_depth == 0 {
        bail!("max_chain_depth must be at least 1 (a direct assumption is one hop; the default is 2)");
    }
    let allow_cidrs = f
        .allow_cidrs
        .iter()
        .map(|c| Cidr::parse(c))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)
        .context("allow_cidrs")?;
    let e = &f.credentials_used_elsewhere;
    let networks = Granularity {
        ipv4: e.ipv4_prefix.unwrap_or(defaults.networks.ipv4),
        ipv6: e.ipv6_prefix.unwrap_or(defaults.networks.ipv6),
    };
    if !(8..=32).contains(&networks.ipv4) || !(16..=128).contains(&networks.ipv6) {
        bail!(
            "[detect.credentials-used-elsewhere]: ipv4_prefix must be 8 to 32 and ipv6_prefix 16 to 128 \
             (defaults 24 and 48)"
        );
    }
    let aws_ranges = match &f.aws_ip_ranges {
        Some(p) => {
            let path = if p.is_absolute() { p.clone() } else { dir.unwrap_or(Path::new("")).join(p) };
            let fix = "download it from https://ip-ranges.amazonaws.com/ip-ranges.json";
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("aws_ip_ranges: cannot read {} ({fix})", path.display()))?;
            Some(
                AwsRanges::parse(&text)
                    .map_err(|e| anyhow::anyhow!("aws_ip_ranges: {}: {e} ({fix})", path.display()))?,
            )
        }
        None => None,
    };
    let r = &f.role_enumeration;
    let role_enumeration = BurstLimits {
        min_events: positive(r.failures, defaults.role_enumeration.min_events, "[detect.role-enumeration] failures")?,
        min_distinct: positive(r.roles, defaults.role_enumeration.min_distinct, "[detect.role-enumeration] roles")?,
        window: window(r.window.as_deref(), defaults.role_enumeration.window, "[detect.role-enumeration] window")?,
    };
    let d = &f.access_denied_burst;
    let access_denied_burst = BurstLimits {
        min_events: positive(d.errors, defaults.access_denied_burst.min_events, "[detect.access-denied-burst] errors")?,
        window: window(
            d.window.as_deref(),
            defaults.access_denied_burst.window,
            "[detect.access-denied-burst] window",
        )?,
        ..defaults.access_denied_burst
    };
    let mut suppress = Vec::new();
    for (n, s) in f.suppress.iter().enumerate() {
        let what = format!("[[detect.suppress]] entry {}", n + 1);
        let rule = match s.rule.as_str() {
            "*" => None,
            r if detect::RULES.iter().any(|(id, _)| *id == r) => Some(r.to_owned()),
            r => {
                let ids: Vec<&str> = detect::RULES.iter().map(|(id, _)| *id).collect();
                bail!("{what}: rule {r:?} is not a rule id; use one of {} or \"*\"", ids.join(", "));
            }
        };
        suppress.push(detect::Suppression {
            rule,
            role: s.role.as_deref().map(Pattern::new).transpose().with_context(|| format!("{what}: role"))?,
            principal: s
                .principal
                .as_deref()
                .map(Pattern::new)
                .transpose()
                .with_context(|| format!("{what}: principal"))?,
            cidr: s
                .cidr
                .as_deref()
                .map(Cidr::parse)
                .transpose()
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("{what}: cidr"))?,
        });
    }
    Ok(detect::Settings {
        trusted_accounts: f.trusted_accounts.into_iter().collect(),
        sensitive_roles,
        max_chain_depth,
        allow_cidrs,
        networks,
        aws_ranges,
        role_enumeration,
        access_denied_burst,
        suppress,
        baseline_until,
    })
}

fn positive(v: Option<usize>, default: usize, what: &str) -> Result<usize> {
    match v {
        Some(0) => bail!("{what} must be at least 1 (the default is {default})"),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}

fn window(v: Option<&str>, default: i64, what: &str) -> Result<i64> {
    match v {
        None => Ok(default),
        Some(s) => match timefmt::parse_duration(s) {
            Some(d) if d > 0 => Ok(d),
            _ => bail!("{what}: {s:?} is not a duration; write it as \"90s\", \"15m\" or \"1h\""),
        },
    }
}

/// Reads `--config FILE`, or `./trailscan.toml` if present. Returns the folder relative sources resolve against.
fn load_file(explicit: Option<&Path>) -> Result<(FileConfig, Option<PathBuf>)> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let p = PathBuf::from(DEFAULT_CONFIG);
            if !p.is_file() {
                return Ok((FileConfig::default(), None));
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read config file {}", path.display()))?;
    let file: FileConfig =
        toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((file, Some(dir)))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("256MB"), Some(256 << 20));
        assert_eq!(parse_size("2GB"), Some(2 << 30));
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_size("512 KiB"), Some(512 << 10));
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        for bad in ["", "MB", "12 parsecs", "-1GB", "1e9"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }
}
