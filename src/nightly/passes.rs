//! Passes: a backlog read a few trail days at a time, so that memory stays bounded. A first run over months
//! of logs would otherwise hold every session of those months at once (about 115 MB per million records).
//!
//! When the files not yet read add up to more than `--batch-size` of compressed log, they are grouped by
//! their trail date folder into passes of whole days, each up to that size (a day larger than it is a pass
//! of its own). Each pass is correlated, written and committed as a run of its own, with its cut-off at the
//! end of its last day: what a nightly run at that midnight would have done, except that a pass before the
//! last writes only the sessions it finishes (`nightly::PassAt`) and leaves `first-seen-assumption` for pairs
//! of open sessions to the next (`detect::Baseline::undecided_after`). Sessions still open are carried to the
//! next pass as from one night to the next, so the history is the one a single pass over everything would
//! write, and a backfill that stops halfway resumes where it stopped. Files outside the trail layout (no date
//! folder) and the files set aside by name join the last pass, whose cut-off is the run's.

use crate::source::{layout, Listing, ObjectRef};
use std::collections::BTreeMap;

/// One pass: the files it reads and its cut-off.
pub struct Pass {
    pub listing: Listing,
    pub cutoff: i64,
}

/// Splits `listing` into passes of at most `budget` compressed bytes of whole trail days, in day order. A
/// listing within the budget is one pass with the run's `cutoff`, as is one with no dated files.
pub fn plan(listing: Listing, budget: u64, cutoff: i64) -> Vec<Pass> {
    let total: u64 = listing.objects.iter().map(|o| o.size).sum();
    if total <= budget {
        return vec![Pass { listing, cutoff }];
    }
    let Listing { objects, set_aside, s3, fetched } = listing;
    let mut by_day: BTreeMap<i64, Vec<ObjectRef>> = BTreeMap::new();
    let mut undated = Vec::new();
    for o in objects {
        match layout::folder_day(&o.display()) {
            Some(day) => by_day.entry(day).or_default().push(o),
            None => undated.push(o),
        }
    }
    // Whole days, in order, while they fit.
    let mut groups: Vec<(i64, Vec<ObjectRef>)> = Vec::new();
    let mut size = 0;
    for (day, files) in by_day {
        let day_size: u64 = files.iter().map(|o| o.size).sum();
        match groups.last_mut() {
            Some((last, group)) if size + day_size <= budget => {
                *last = day;
                group.extend(files);
                size += day_size;
            }
            _ => {
                groups.push((day, files));
                size = day_size;
            }
        }
    }
    let mut passes: Vec<Pass> = groups
        .into_iter()
        .map(|(last, objects)| Pass {
            listing: Listing { objects, set_aside: Vec::new(), s3: s3.clone(), fetched: Vec::new() },
            cutoff: (last + 86_400).min(cutoff),
        })
        .collect();
    // The last pass takes what has no day, with the run's own cut-off.
    match passes.last_mut() {
        Some(last) => {
            last.listing.objects.extend(undated);
            last.listing.objects.sort();
            last.listing.set_aside = set_aside;
            last.listing.fetched = fetched;
            last.cutoff = cutoff;
        }
        None => passes.push(Pass { listing: Listing { objects: undated, set_aside, s3, fetched }, cutoff }),
    }
    passes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Location;
    use crate::timefmt;

    fn file(path: &str, size: u64) -> ObjectRef {
        ObjectRef { location: Location::Disk(path.into()), size, modified: None }
    }

    fn day(y: i64, m: u32, d: u32) -> i64 {
        timefmt::date_start(y, m, d).unwrap()
    }

    fn listing(objects: Vec<ObjectRef>) -> Listing {
        Listing { objects, set_aside: Vec::new(), s3: None, fetched: Vec::new() }
    }

    fn names(p: &Pass) -> Vec<&str> {
        fn path(o: &ObjectRef) -> &str {
            match &o.location {
                Location::Disk(path) => path.to_str().expect("the tests' paths are text"),
                other => panic!("a test file on disk, not {other:?}"),
            }
        }
        p.listing.objects.iter().map(path).collect()
    }

    const A: &str = "AWSLogs/111122223333/CloudTrail/us-east-1";
    const B: &str = "AWSLogs/o-abc/444455556666/CloudTrail/eu-west-1";

    #[test]
    fn a_listing_within_the_budget_is_one_pass_with_the_run_cutoff() {
        let l = listing(vec![file(&format!("{A}/2026/11/01/a.json.gz"), 10), file("loose.json", 5)]);
        let passes = plan(l, 15, 99);
        assert_eq!(passes.len(), 1);
        assert_eq!(passes[0].cutoff, 99);
        assert_eq!(passes[0].listing.objects.len(), 2);
    }

    #[test]
    fn a_backlog_is_split_into_whole_days_in_order_with_every_account_of_a_day_together() {
        let run_cutoff = day(2026, 12, 1);
        let l = listing(vec![
            file(&format!("{A}/2026/11/01/a1.json.gz"), 40),
            file(&format!("{B}/2026/11/01/b1.json.gz"), 40),
            file(&format!("{A}/2026/11/02/a2.json.gz"), 15),
            file(&format!("{A}/2026/11/03/a3.json.gz"), 30),
            file(&format!("{A}/2026/11/05/a5.json.gz"), 150),
            file("exports/loose.json", 1),
        ]);
        let passes = plan(l, 100, run_cutoff);
        let got: Vec<(Vec<&str>, i64)> = passes.iter().map(|p| (names(p), p.cutoff)).collect();
        assert_eq!(
            got,
            [
                // Day 1 is 80; day 2 fits beside it, day 3 does not.
                (
                    vec![
                        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/a1.json.gz",
                        "AWSLogs/o-abc/444455556666/CloudTrail/eu-west-1/2026/11/01/b1.json.gz",
                        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02/a2.json.gz",
                    ],
                    day(2026, 11, 3)
                ),
                (vec!["AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/a3.json.gz"], day(2026, 11, 4)),
                // A day over the budget is a pass of its own; the last pass takes the undated file and the
                // run's cut-off.
                (
                    vec!["AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/05/a5.json.gz", "exports/loose.json"],
                    run_cutoff
                ),
            ]
        );
    }

    #[test]
    fn a_pass_cutoff_never_passes_the_run_cutoff() {
        let l = listing(vec![
            file(&format!("{A}/2026/11/01/a.json.gz"), 10),
            file(&format!("{A}/2026/11/02/b.json.gz"), 10),
        ]);
        let early = day(2026, 11, 1) + 3600;
        let passes = plan(l, 10, early);
        assert_eq!(passes.iter().map(|p| p.cutoff).collect::<Vec<_>>(), [early, early]);
    }

    #[test]
    fn undated_files_alone_are_one_pass() {
        let l = listing(vec![file("a.json", 10), file("b.json", 10)]);
        let passes = plan(l, 5, 7);
        assert_eq!(passes.len(), 1);
        assert_eq!(names(&passes[0]), ["a.json", "b.json"]);
    }
}
