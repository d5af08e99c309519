//! Integration tests: the real binary on small inputs built per test, on sample-logs, and on the shared
//! real-world data when it is present.

mod util;

/// The detections: `flags`, the flags column, --fail-on, --baseline-until, [detect] settings.
mod detect;
/// Hostile field values in every output format.
mod hostile;
/// Input shapes, bad input, determinism, configuration.
mod inputs;
/// Each linking rule of the correlator.
mod linking;
/// Real third-party CloudTrail data from ../shared/data/real.
mod real_data;
/// The README's walkthrough on sample-logs.
mod sample_logs;
