//! Exit statuses: what every command, the nightly job included, tells the shell or scheduler.

/// Success, with or without results.
pub const EXIT_OK: u8 = 0;
/// The lookup (`who-assumed`, `session`) found nothing.
pub const EXIT_NOTHING_FOUND: u8 = 1;
/// An error, or (with `--strict`) an input that could not be read.
pub const EXIT_ERROR: u8 = 2;
/// `--fail-on SEVERITY`: a finding at or above SEVERITY exists. An error (2) outranks it, and it outranks
/// "nothing found" (1), so a security gate is never masked by an empty lookup.
pub const EXIT_FINDINGS: u8 = 3;
