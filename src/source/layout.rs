//! The CloudTrail trail layout, `…/AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>` (and
//! the same under `CloudTrail-Digest/` and the other products' folders), and which date folders a time window
//! can need.
//!
//! Date folders are *delivery* dates: a file delivered on a day holds events from that day or earlier.
//! So for `--since S` no folder dated before S's day can hold a wanted event, while for `--until U` events
//! just before U can arrive in later folders. CloudTrail delivers within about 5 minutes on average with no
//! guarantee, so trailscan reads [`LATE_DELIVERY_DAYS`] more days of folders after U's day.

use crate::extract::TimeWindow;
use crate::timefmt;

/// Days of folders read after `--until`'s day, for late deliveries.
pub const LATE_DELIVERY_DAYS: i64 = 1;

/// Where a path sits in the trail layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailPath<'a> {
    pub account: &'a str,
    pub region: Option<&'a str>,
    /// The delivery date folder, when the path reaches that deep.
    pub date: Option<(i64, u32, u32)>,
}

/// The account of a path or key below `…/AWSLogs/[o-orgid/]`, and the parts of the path after it.
fn account_and_rest(path: &str) -> Option<(&str, impl Iterator<Item = &str>)> {
    let mut parts = path.split('/').skip_while(|p| *p != "AWSLogs").skip(1).peekable();
    if parts.peek().is_some_and(|p| p.starts_with("o-")) {
        parts.next();
    }
    let account = parts.next().filter(|a| !a.is_empty())?;
    Some((account, parts))
}

/// Parses the layout part of a path or key (`/` separated). `None` when the path is not in a trail layout.
pub fn parse(path: &str) -> Option<TrailPath<'_>> {
    let (account, mut parts) = account_and_rest(path)?;
    // The API-event logs, or one of the products that share their layout (digests, Insights, …): their
    // folders are dated alike, so a window or a nightly pass prunes them alike.
    let product = parts.next()?;
    if product != "CloudTrail" && !super::NOT_EVENT_LOGS.iter().any(|(folder, _)| product == *folder) {
        return None;
    }
    let region = parts.next().filter(|r| !r.is_empty());
    let date = (|| {
        let y = parts.next()?.parse().ok()?;
        let m = parts.next()?.parse().ok()?;
        let d = parts.next()?.parse().ok()?;
        Some((y, m, d))
    })();
    Some(TrailPath { account, region, date })
}

/// The account whose own folder a path or key names (`…/AWSLogs/[o-orgid/]<account>/`), when it is one.
pub fn account_folder(path: &str) -> Option<&str> {
    let (account, mut rest) = account_and_rest(path)?;
    (rest.next() == Some("") && rest.next().is_none()).then_some(account)
}

/// A path or key up to its region folder, without the slash (`…/AWSLogs/<account>/CloudTrail/<region>`), when
/// it follows the layout that deep: where a region's date folders are, whatever folder below it the path names.
pub fn region_folder(path: &str) -> Option<&str> {
    let region = parse(path)?.region?;
    // `region` is a piece of `path`: it ends where the region folder's name does.
    let end = region.as_ptr() as usize - path.as_ptr() as usize + region.len();
    path.get(..end)
}

/// The day (midnight UTC) of the trail date folder a path or key lies in, when it follows the layout.
pub fn folder_day(path: &str) -> Option<i64> {
    let (y, m, d) = parse(path)?.date?;
    timefmt::date_start(y, m, d)
}

/// What of a trail to read: accounts, regions and the event-time window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub window: TimeWindow,
    /// Exactly the delivery-day folders from the first to the last of these midnights, whatever the window
    /// would need: a nightly pass lists its own days.
    pub days: Option<(i64, i64)>,
}

impl Scope {
    pub fn wants_account(&self, account: &str) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|a| a == account)
    }

    pub fn wants_region(&self, region: &str) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|r| r == region)
    }

    /// The first and last delivery dates (midnight UTC) that can hold events in the window.
    pub fn date_range(&self) -> (Option<i64>, Option<i64>) {
        if let Some((first, last)) = self.days {
            return (Some(first), Some(last));
        }
        let first = self.window.since.map(timefmt::midnight);
        // `until` is exclusive: an event just before it may be delivered up to LATE_DELIVERY_DAYS later.
        // With only `since`, nothing can have been delivered after today.
        let last = self
            .window
            .until
            .or_else(|| self.window.since.map(|_| timefmt::now() + 1))
            .map(|u| timefmt::midnight(u - 1) + LATE_DELIVERY_DAYS * 86_400);
        (first, last)
    }

    pub fn wants_date(&self, (y, m, d): (i64, u32, u32)) -> bool {
        let Some(t) = timefmt::date_start(y, m, d) else { return true };
        let (first, last) = self.date_range();
        first.is_none_or(|f| t >= f) && last.is_none_or(|l| t <= l)
    }

    /// Whether a path in the trail layout can hold wanted events. Paths outside the layout are always read.
    pub fn wants_path(&self, path: &str) -> bool {
        match parse(path) {
            None => true,
            Some(tp) => {
                self.wants_account(tp.account)
                    && tp.region.is_none_or(|r| self.wants_region(r))
                    && tp.date.is_none_or(|d| self.wants_date(d))
            }
        }
    }

    /// The `YYYY/MM/DD/` folders of the window, when it is bounded on both sides and not absurdly long.
    pub fn day_folders(&self) -> Option<Vec<String>> {
        let (Some(first), Some(last)) = self.date_range() else { return None };
        if last < first || (last - first) / 86_400 > 3660 {
            return None;
        }
        Some(
            (0..=(last - first) / 86_400)
                .map(|i| {
                    let (y, m, d) = timefmt::utc_date(first + i * 86_400);
                    format!("{y:04}/{m:02}/{d:02}/")
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_org_and_plain_layouts() {
        let p = parse("b/AWSLogs/o-abc123def4/111122223333/CloudTrail/eu-west-1/2026/11/20/x.json.gz").unwrap();
        assert_eq!((p.account, p.region, p.date), ("111122223333", Some("eu-west-1"), Some((2026, 11, 20))));
        let p = parse("AWSLogs/111122223333/CloudTrail/us-east-1/").unwrap();
        assert_eq!((p.account, p.region, p.date), ("111122223333", Some("us-east-1"), None));
        // Digests and the other products are dated alike, so that a window prunes their folders too.
        let p = parse("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/x").unwrap();
        assert_eq!((p.region, p.date), (Some("us-east-1"), Some((2026, 11, 20))));
        assert_eq!(parse("AWSLogs/111122223333/CloudTrailish/us-east-1/2026/11/20/x"), None);
        assert_eq!(parse("logs/x.json.gz"), None);
    }

    #[test]
    fn an_account_folder_is_named_only_by_its_own_path() {
        assert_eq!(account_folder("b/AWSLogs/o-abc123def4/111122223333/"), Some("111122223333"));
        assert_eq!(account_folder("AWSLogs/111122223333/"), Some("111122223333"));
        assert_eq!(account_folder("AWSLogs/o-abc123def4/"), None);
        assert_eq!(account_folder("AWSLogs/111122223333/CloudTrail/"), None);
    }

    #[test]
    fn a_region_folder_is_found_from_any_folder_below_it() {
        let region = "b/AWSLogs/o-abc123def4/111122223333/CloudTrail/eu-west-1";
        for below in ["/", "/2026/", "/2026/11/", "/2026/11/20/x.json.gz"] {
            assert_eq!(region_folder(&format!("{region}{below}")), Some(region), "{below}");
        }
        assert_eq!(region_folder("AWSLogs/111122223333/CloudTrail/"), None);
        assert_eq!(region_folder("logs/x.json.gz"), None);
    }

    #[test]
    fn date_pruning_allows_late_delivery_after_until_only() {
        let s = Scope {
            window: TimeWindow {
                since: timefmt::parse_iso("2026-11-19T12:00:00Z"),
                until: timefmt::parse_iso("2026-11-20T00:00:00Z"),
            },
            ..Scope::default()
        };
        assert_eq!(s.day_folders().unwrap(), ["2026/11/19/", "2026/11/20/"]);
        assert!(!s.wants_path("AWSLogs/1/CloudTrail/r/2026/11/18/x.json.gz"));
        assert!(s.wants_path("AWSLogs/1/CloudTrail/r/2026/11/20/x.json.gz"));
        assert!(!s.wants_path("AWSLogs/1/CloudTrail/r/2026/11/21/x.json.gz"));
        assert!(s.wants_path("elsewhere/2026/11/21/x.json.gz"));
        let acct = Scope { accounts: vec!["2".into()], regions: vec!["eu-west-1".into()], ..Scope::default() };
        assert!(!acct.wants_path("AWSLogs/o-x/1/CloudTrail/eu-west-1/2026/11/18/x.json.gz"));
        assert!(!acct.wants_path("AWSLogs/2/CloudTrail/us-east-1/2026/11/18/x.json.gz"));
        assert!(acct.wants_path("AWSLogs/2/CloudTrail/eu-west-1/2026/11/18/x.json.gz"));
    }
}
