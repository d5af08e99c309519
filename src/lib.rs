//! trailscan: who became what, from CloudTrail.
//!
//! # Layout
//!
//! Data flows one way; each module owns one stage and the types it produces:
//!
//! ```text
//! cli ─► config ─► source (list) ─► pipeline ─┬─ decode (bytes → Record)      ─► correlate ─► detect ─► report ─► write
//!                                             └─ extract (Record → Facts)         (Sessions)  (Findings)  (DataFrame)
//! ```
//!
//! * [`cli`]: clap types only. [`config`]: the one place CLI and `trailscan.toml` are resolved.
//! * [`source`]: lists inputs and sets aside non-event CloudTrail products by name.
//! * [`pipeline`]: reads and decodes inputs in parallel (rayon; detection and the sessions table also use
//!   its pool, bounded by `--threads`; nothing depends on which thread finishes first).
//! * [`decode`]: gzip and container shapes → borrowed [`record::Record`]s. [`inflate`]: gzip → text
//!   (libdeflate in one call, flate2 for anything unusual). [`delivery`]: the fast path for `{"Records":[…]}`,
//!   reading records with [`json_cursor`] and leaving whatever it is unsure of to serde_json.
//! * [`extract`]: one record → owned facts (assumptions, console switches, activity marks). [`intern`]: the
//!   process-wide table of strings that repeat across records (actions, addresses).
//! * [`correlate`]: all facts → sessions, chains, cross-account merges, console sessions.
//! * [`detect`]: sessions → findings of nine rules (stolen credentials, enumeration, untrusted accounts, …).
//!   [`net`] (networks, CIDRs, AWS's ranges) and [`pattern`] (role and principal globs) serve it and `cmd`;
//!   [`filter`] is `--role`/`--principal`/`--account` over sessions and history rows alike.
//! * [`report`]: sessions → Polars DataFrames. [`tables`]: the four named tables (sessions, actions, flags,
//!   files) that [`sql`] runs reports and queries over and [`bundle`] writes for auditors.
//! * [`write`]: DataFrames → table, CSV, JSON, NDJSON, Parquet; files written atomically.
//! * [`messages`]: all of stderr, and the sanitising of hostile strings. [`timefmt`]: every time parsed or printed.
//! * [`cmd`]: one function per subcommand, gluing the stages. [`exit`]: the exit statuses of every command.
//! * [`nightly`]: the incremental job: STATE between runs, the lock, the Parquet history and `--history`;
//!   STATE, OUT and `--history` may be S3 prefixes (`nightly::place`, `nightly::mirror`, through
//!   `source::s3::store`).
//!
//! The stages from bytes to sessions (`decode` … `correlate`) build without the default `cli` feature,
//! which brings everything else and its dependencies (Polars, the AWS SDK): `fuzz/` builds only them.

#[cfg(feature = "cli")]
pub mod bundle;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod cmd;
#[cfg(feature = "cli")]
pub mod config;
pub mod correlate;
pub mod decode;
pub mod delivery;
#[cfg(feature = "cli")]
pub mod detect;
#[cfg(feature = "cli")]
pub mod exit;
pub mod extract;
#[cfg(feature = "cli")]
pub mod filter;
pub mod inflate;
pub mod intern;
pub mod json_cursor;
#[cfg(feature = "cli")]
pub mod messages;
#[cfg(feature = "cli")]
pub mod net;
#[cfg(feature = "cli")]
pub mod nightly;
#[cfg(feature = "cli")]
pub mod pattern;
#[cfg(feature = "cli")]
pub mod pipeline;
pub mod record;
#[cfg(feature = "cli")]
pub mod report;
#[cfg(feature = "cli")]
pub mod source;
#[cfg(feature = "cli")]
pub mod sql;
#[cfg(feature = "cli")]
pub mod tables;
pub mod timefmt;
#[cfg(feature = "cli")]
pub mod write;
