//! Integration tests: the real binary on small inputs built per test, on sample-logs, and on the shared
//! real-world data when it is present.

mod util;

/// Each linking rule of the correlator.
mod linking;
/// Input shapes, bad input, determinism, configuration.
mod inputs;
/// Hostile field values in every output format.
mod hostile;
/// The README's walkthrough on sample-logs.
mod sample_logs;
/// Real third-party CloudTrail data from ../shared/data/real.
mod real_data;
