//! Fuzzes the whole per-file path: content sniffing, gunzip, every container shape, lenient records and
//! fact extraction. Any panic is a bug: bad input must come back as an error or as skipped records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailscan::decode::Decoder;
use trailscan::extract::{Facts, TimeWindow};

fuzz_target!(|data: &[u8]| {
    let mut facts = Facts::default();
    let _ = Decoder::default().decode(data, &mut |rec| facts.add(rec, TimeWindow::default()));
    let _ = trailscan::correlate::correlate(facts);
});
