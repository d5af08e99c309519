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

pub mod bundle;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod correlate;
pub mod decode;
pub mod delivery;
pub mod detect;
pub mod exit;
pub mod extract;
pub mod filter;
pub mod inflate;
pub mod intern;
pub mod json_cursor;
pub mod messages;
pub mod net;
pub mod nightly;
pub mod pattern;
pub mod pipeline;
pub mod record;
pub mod report;
pub mod source;
pub mod sql;
pub mod tables;
pub mod timefmt;
pub mod write;
