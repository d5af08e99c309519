//! Integration tests: the real binary on small inputs built per test, on sample-logs, and on the shared
//! real-world data when it is present.

mod util;

/// Hostile but well-formed values through every command: no panics, the same output at any thread count.
mod adversarial;
/// The benchmark corpus generator, smoke-run.
mod corpus;
/// The detections: `flags`, the flags column, --fail-on, --baseline-until, [detect] settings.
mod detect;
/// Hostile field values in every output format.
mod hostile;
/// Input shapes, bad input, determinism, configuration.
mod inputs;
/// Each linking rule of the correlator.
mod linking;
/// The LookupEvents API against a CloudTrail stand-in on 127.0.0.1.
mod lookup;
/// The nightly job: day by day equals batch, idempotence, crash safety, the lock, --history (issue 6).
mod nightly;
/// The nightly job with STATE and OUT on S3, and `--history s3://`, against the S3 test server.
mod nightly_s3;
/// Real third-party CloudTrail data from ../shared/data/real.
mod real_data;
/// Reports, SQL queries, Parquet output and the auditor bundle (issue 5).
mod reports;
/// S3 sources against a real S3-compatible server on 127.0.0.1.
mod s3;
/// The S3 test server (s3s-fs on 127.0.0.1) shared by the S3 tests.
mod s3_server;
/// The README's walkthrough on sample-logs.
mod sample_logs;
