//! Passes: a backlog read a few trail days at a time, so that memory stays bounded. A first run over months
//! of logs would otherwise hold every session of those months at once (about 120 MB per million records),
//! and the name of every file (a year of a large organisation's trail is millions of files).
//!
//! The sources are surveyed once ([`survey`]). While the files not yet read add up to no more than
//! `--batch-size` of compressed log, the survey keeps their names and they are one pass. Past that, it keeps
//! only each trail date folder's size, and the backlog is planned ([`plan`]) into passes of whole days, each
//! up to that size (a day larger than it is a pass of its own); each pass lists its own days again when it
//! starts ([`Pass::files`]). Each pass is correlated, written and committed as a run of its own, with its
//! cut-off at the end of its last day: what a nightly run at that midnight would have done, except that a
//! pass before the last writes only the sessions it finishes (`nightly::PassAt`) and leaves
//! `first-seen-assumption` for pairs of open sessions to the next (`detect::Baseline::horizon`).
//! Sessions still open are carried to the next pass as from one night to the next, so the history is the
//! one a single pass over everything would write, and a backfill that stops halfway resumes where it
//! stopped. Files outside the trail layout (no date folder) and the files set aside by name outside it join
//! the last pass, whose cut-off is the run's.

use crate::nightly::state::State;
use crate::source::s3::{S3Options, S3};
use crate::source::{self, layout, FileReport, Listing, ObjectRef, SourceSpec};
use anyhow::Result;
use std::collections::BTreeMap;

/// The files a nightly run has still to read: delivered before its cut-off (`--until`, on modification
/// time), and not read by an earlier run.
pub struct Unread<'a> {
    pub state: &'a State,
    pub cutoff: i64,
}

impl Unread<'_> {
    /// Delivered after the cut-off: left for a later run.
    fn waits(&self, delivered: Option<i64>) -> bool {
        delivered.is_some_and(|m| m >= self.cutoff)
    }

    /// Whether the run reads the input shown as `shown`, of `size` bytes (0 for a file set aside).
    fn wants(&self, shown: &str, size: u64, delivered: Option<i64>) -> bool {
        !self.waits(delivered) && !self.state.has_read(shown, size)
    }
}

/// What the survey of the sources found.
#[derive(Default)]
pub struct Survey {
    /// The files to read, while they fit in the budget: then the whole backlog. Past the budget, the files
    /// outside the trail layout only, and those set aside outside it.
    listing: Listing,
    /// Compressed bytes to read in each trail date folder, by its day (a day of set-aside files only is 0).
    days: BTreeMap<i64, u64>,
    /// The survey found more than the budget: the names of dated files were dropped.
    over: bool,
    /// Files delivered after the cut-off, left for the next run.
    pub waiting: usize,
    /// The S3 client the survey connected, for the passes to list and fetch with ([`Pass::files`]).
    pub client: Option<S3>,
}

impl Survey {
    /// Nothing to read.
    pub fn is_empty(&self) -> bool {
        self.listing.objects.is_empty() && self.listing.set_aside.is_empty() && self.days.is_empty()
    }

    /// The compressed size of everything to read.
    pub fn bytes(&self) -> u64 {
        // Past the budget the listing holds only the undated files, and the days the rest.
        self.days.values().sum::<u64>() + self.listing.objects.iter().map(|o| o.size).sum::<u64>()
    }

    /// Counts an input to read of `size` bytes in its trail day, if it has one; whether its name is kept
    /// (see `listing`).
    fn count(&mut self, day: Option<i64>, size: u64) -> bool {
        match day {
            Some(day) => {
                *self.days.entry(day).or_default() += size;
                !self.over
            }
            None => true,
        }
    }

    /// Takes a part of the listing: what is unread is counted, and named while the unread `bytes` so far
    /// fit in `budget`.
    fn take(&mut self, found: Vec<ObjectRef>, aside: Vec<FileReport>, unread: &Unread, bytes: &mut u64, budget: u64) {
        for o in found {
            self.waiting += usize::from(unread.waits(o.modified));
            let shown = o.display();
            if !unread.wants(&shown, o.size, o.modified) {
                continue;
            }
            let keep = self.count(layout::folder_day(&shown), o.size);
            drop(shown);
            *bytes += o.size;
            if keep {
                self.listing.objects.push(o);
            }
            if !self.over && *bytes > budget {
                self.drop_dated_names();
            }
        }
        for f in aside {
            self.waiting += usize::from(unread.waits(f.delivered));
            if unread.wants(&f.path, 0, f.delivered) && self.count(layout::folder_day(&f.path), 0) {
                self.listing.set_aside.push(f);
            }
        }
    }

    /// Past the budget: the dated files' names are dropped; their passes list them again.
    fn drop_dated_names(&mut self) {
        self.over = true;
        self.listing.objects.retain(|o| layout::folder_day(&o.display()).is_none());
        self.listing.set_aside.retain(|f| layout::folder_day(&f.path).is_none());
    }
}

/// Lists the sources within `scope` once, keeping of what is unread the names while they add up to no more
/// than `budget`, and past it only each trail day's size.
pub fn survey(
    (sources, aws): (&[SourceSpec], &S3Options),
    scope: &layout::Scope,
    budget: u64,
    unread: &Unread,
) -> Result<Survey> {
    let mut s = Survey::default();
    let mut bytes = 0u64;
    let mut client = None;
    source::list_each_naming_empty(sources, scope, aws, &mut client, &mut |found, aside| {
        s.take(found, aside, unread, &mut bytes, budget);
    })?;
    if !s.over {
        s.days.clear();
    }
    s.client = client;
    s.listing.settle();
    Ok(s)
}

/// One pass: the files it reads and its cut-off.
pub struct Pass {
    /// Files already listed: the whole backlog when it is one pass; else, for the last pass, the files
    /// outside the trail layout and those set aside outside it.
    pub listing: Listing,
    /// The first and last trail days (midnight UTC) whose folders the pass lists when it starts.
    pub days: Option<(i64, i64)>,
    pub cutoff: i64,
}

impl Pass {
    /// The pass's files: its days' folders listed now (what is unread of them), with those listed before.
    /// `client` is the run's S3 client (connected here if the survey did not need one).
    pub fn files(
        self,
        (sources, aws): (&[SourceSpec], &S3Options),
        scope: &layout::Scope,
        unread: &Unread,
        client: &mut Option<S3>,
    ) -> Result<Listing> {
        let Pass { mut listing, days, .. } = self;
        if let Some((first, last)) = days {
            let scope = layout::Scope { days: Some((first, last)), ..scope.clone() };
            // Files outside the trail layout are listed again too; they are the survey's, in the last pass.
            let wanted = |shown: &str, size, delivered| {
                layout::folder_day(shown).is_some_and(|d| (first..=last).contains(&d))
                    && unread.wants(shown, size, delivered)
            };
            source::list_each(sources, &scope, aws, client, &mut |found, aside| {
                listing.objects.extend(found.into_iter().filter(|o| wanted(&o.display(), o.size, o.modified)));
                listing.set_aside.extend(aside.into_iter().filter(|f| wanted(&f.path, 0, f.delivered)));
            })?;
            listing.settle();
        }
        listing.s3 = client.clone().map(std::sync::Arc::new);
        Ok(listing)
    }
}

/// Splits the survey into passes of at most `budget` compressed bytes of whole trail days, in day order. A
/// survey within the budget is one pass with the run's `cutoff`, as is one with no dated files.
pub fn plan(survey: Survey, budget: u64, cutoff: i64) -> Vec<Pass> {
    let Survey { listing, days, over, .. } = survey;
    if !over || days.is_empty() {
        return vec![Pass { listing, days: None, cutoff }];
    }
    // Whole days, in order, while they fit.
    let mut groups: Vec<(i64, i64)> = Vec::new();
    let mut size = 0;
    for (day, day_size) in days {
        match groups.last_mut() {
            Some((_, last)) if size + day_size <= budget => {
                *last = day;
                size += day_size;
            }
            _ => {
                groups.push((day, day));
                size = day_size;
            }
        }
    }
    let last = groups.len() - 1;
    let mut listing = Some(listing);
    groups
        .into_iter()
        .enumerate()
        .map(|(i, (first, last_day))| {
            // The last pass takes what has no day, with the run's own cut-off.
            let (listing, cutoff) = if i == last {
                (listing.take().expect("one last pass"), cutoff)
            } else {
                (Listing::default(), (last_day + 86_400).min(cutoff))
            };
            Pass { listing, days: Some((first, last_day)), cutoff }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Location, ObjectRef};
    use crate::timefmt;

    fn day(y: i64, m: u32, d: u32) -> i64 {
        timefmt::date_start(y, m, d).unwrap()
    }

    /// A folder holding files of these sizes at these paths.
    fn trail(files: &[(&str, usize)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, size) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, vec![b'x'; *size]).unwrap();
        }
        dir
    }

    fn survey_of(dir: &tempfile::TempDir, state: &State, budget: u64) -> Survey {
        let sources = [SourceSpec::Disk(dir.path().to_path_buf())];
        let unread = Unread { state, cutoff: i64::MAX };
        survey((&sources, &S3Options::default()), &layout::Scope::default(), budget, &unread).unwrap()
    }

    /// The paths of a listing's files, below `dir`.
    fn names(dir: &tempfile::TempDir, listing: &Listing) -> Vec<String> {
        let below = |o: &ObjectRef| match &o.location {
            Location::Disk(path) => path.strip_prefix(dir.path()).unwrap().to_str().unwrap().to_owned(),
            other => panic!("a test file on disk, not {other:?}"),
        };
        listing.objects.iter().map(below).collect()
    }

    const A: &str = "AWSLogs/111122223333/CloudTrail/us-east-1";
    const B: &str = "AWSLogs/o-abc/444455556666/CloudTrail/eu-west-1";

    #[test]
    fn a_backlog_within_the_budget_is_one_pass_of_the_files_surveyed() {
        let dir = trail(&[(&format!("{A}/2026/11/01/a.json.gz"), 10), ("loose.json", 5)]);
        let surveyed = survey_of(&dir, &State::default(), 15);
        assert_eq!(surveyed.bytes(), 15);
        let passes = plan(surveyed, 15, 99);
        assert_eq!(passes.len(), 1);
        assert_eq!((passes[0].cutoff, passes[0].days), (99, None));
        assert_eq!(names(&dir, &passes[0].listing), [format!("{A}/2026/11/01/a.json.gz").as_str(), "loose.json"]);
    }

    #[test]
    fn a_backlog_over_the_budget_is_planned_from_its_days_sizes_and_each_pass_lists_its_own_days() {
        let dir = trail(&[
            (&format!("{A}/2026/11/01/a1.json.gz"), 40),
            (&format!("{B}/2026/11/01/b1.json.gz"), 40),
            (&format!("{A}/2026/11/02/a2.json.gz"), 15),
            (&format!("{A}/2026/11/03/a3.json.gz"), 30),
            (&format!("{A}/2026/11/05/a5.json.gz"), 150),
            ("exports/loose.json", 1),
            ("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/03/d.json.gz", 2),
        ]);
        let state = State::default();
        let surveyed = survey_of(&dir, &state, 100);
        // The survey holds no dated file's name: only the files outside the trail layout.
        assert_eq!(names(&dir, &surveyed.listing), ["exports/loose.json"]);
        assert_eq!(surveyed.bytes(), 276);
        let run_cutoff = day(2026, 12, 1);
        let passes = plan(surveyed, 100, run_cutoff);
        let got: Vec<(Option<(i64, i64)>, i64)> = passes.iter().map(|p| (p.days, p.cutoff)).collect();
        assert_eq!(
            got,
            [
                // Day 1 is 80; day 2 fits beside it, day 3 does not.
                (Some((day(2026, 11, 1), day(2026, 11, 2))), day(2026, 11, 3)),
                (Some((day(2026, 11, 3), day(2026, 11, 3))), day(2026, 11, 4)),
                // A day over the budget is a pass of its own; the last has the run's cut-off.
                (Some((day(2026, 11, 5), day(2026, 11, 5))), run_cutoff),
            ]
        );
        let sources = [SourceSpec::Disk(dir.path().to_path_buf())];
        let unread = Unread { state: &state, cutoff: i64::MAX };
        let listed: Vec<(Vec<String>, Vec<String>)> = passes
            .into_iter()
            .map(|p| {
                let l =
                    p.files((&sources, &S3Options::default()), &layout::Scope::default(), &unread, &mut None).unwrap();
                let aside = l.set_aside.iter().map(|f| f.path.rsplit('/').next().unwrap().to_owned()).collect();
                (names(&dir, &l), aside)
            })
            .collect();
        assert_eq!(
            listed,
            [
                (
                    vec![
                        format!("{A}/2026/11/01/a1.json.gz"),
                        format!("{A}/2026/11/02/a2.json.gz"),
                        format!("{B}/2026/11/01/b1.json.gz")
                    ],
                    vec![]
                ),
                // The digest of day 3 is set aside by the pass of day 3.
                (vec![format!("{A}/2026/11/03/a3.json.gz")], vec!["d.json.gz".to_owned()]),
                // The last pass takes the file outside the layout.
                (vec![format!("{A}/2026/11/05/a5.json.gz"), "exports/loose.json".to_owned()], vec![]),
            ]
        );
    }

    #[test]
    fn files_already_read_or_delivered_after_the_cutoff_are_neither_surveyed_nor_listed() {
        let dir = trail(&[(&format!("{A}/2026/11/01/read.json.gz"), 40), (&format!("{A}/2026/11/02/new.json.gz"), 40)]);
        let mut state = State::default();
        let read = dir.path().join(format!("{A}/2026/11/01/read.json.gz"));
        state.read.insert(crate::nightly::state::input_key(read.to_str().unwrap()), 40);
        let surveyed = survey_of(&dir, &state, 10);
        assert_eq!(surveyed.bytes(), 40);
        let passes = plan(surveyed, 10, i64::MAX);
        assert_eq!(passes.iter().map(|p| p.days).collect::<Vec<_>>(), [Some((day(2026, 11, 2), day(2026, 11, 2)))]);
        // A cut-off before the files' delivery: nothing to read, two waiting.
        let sources = [SourceSpec::Disk(dir.path().to_path_buf())];
        let early = Unread { state: &state, cutoff: 0 };
        let s = survey((&sources, &S3Options::default()), &layout::Scope::default(), 10, &early).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.waiting, 2);
    }

    #[test]
    fn a_pass_cutoff_never_passes_the_run_cutoff() {
        let dir = trail(&[(&format!("{A}/2026/11/01/a.json.gz"), 10), (&format!("{A}/2026/11/02/b.json.gz"), 10)]);
        let early = day(2026, 11, 1) + 3600;
        let passes = plan(survey_of(&dir, &State::default(), 10), 10, early);
        assert_eq!(passes.iter().map(|p| p.cutoff).collect::<Vec<_>>(), [early, early]);
    }

    #[test]
    fn undated_files_alone_are_one_pass() {
        let dir = trail(&[("a.json", 10), ("b.json", 10)]);
        let passes = plan(survey_of(&dir, &State::default(), 5), 5, 7);
        assert_eq!(passes.len(), 1);
        assert_eq!(names(&dir, &passes[0].listing), ["a.json", "b.json"]);
    }
}
