//! Config: what the user typed plus `trailscan.toml`, resolved once into plain values before any work.
//! This is the only module that reads clap types; everything downstream sees [`Config`].

use crate::cli::{Cli, Command, FormatArg};
use crate::extract::TimeWindow;
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
    pub detect: Option<toml::Table>,
}

/// Output format, resolved (the terminal default applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
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
    pub file: FileConfig,
}

impl Config {
    /// Resolves the command line and the config file. `stdout_is_terminal` picks the default format.
    pub fn resolve(cli: Cli, stdout_is_terminal: bool) -> Result<Config> {
        let (file, config_dir) = load_file(cli.input.config.as_deref())?;
        let sources: Vec<SourceSpec> = if cli.input.lookup_events && cli.input.source.is_empty() {
            // The API alone is a source: trailscan.toml's default sources are not added to it.
            Vec::new()
        } else if !cli.input.source.is_empty() {
            cli.input.source.iter().map(|s| SourceSpec::parse(s)).collect::<Result<_>>()?
        } else if !file.source.is_empty() {
            let dir = config_dir.unwrap_or_default();
            file.source
                .iter()
                .map(|s| {
                    Ok(match SourceSpec::parse(s)? {
                        SourceSpec::Disk(p) if p.is_relative() => SourceSpec::Disk(dir.join(p)),
                        other => other,
                    })
                })
                .collect::<Result<_>>()?
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
        if cli.input.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        let format = match cli.output.format {
            Some(FormatArg::Table) => Format::Table,
            Some(FormatArg::Csv) => Format::Csv,
            Some(FormatArg::Json) => Format::Json,
            Some(FormatArg::Ndjson) => Format::Ndjson,
            None if stdout_is_terminal && cli.output.output.is_none() => Format::Table,
            None => Format::Csv,
        };
        let window = TimeWindow { since, until };
        Ok(Config {
            command: cli.command,
            sources,
            window,
            lookup_events: cli.input.lookup_events.then(|| cli.input.region.clone()),
            scope: Scope { accounts: cli.input.account, regions: cli.input.region.clone(), window },
            aws: S3Options {
                profile: cli.input.profile,
                region: cli.input.region.first().cloned(),
                endpoint_url: cli.input.endpoint_url,
            },
            strict: cli.input.strict,
            threads: cli.input.threads,
            format,
            output: cli.output.output,
            file,
        })
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
