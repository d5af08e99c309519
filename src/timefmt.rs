//! Timestamps: every time trailscan reads (CloudTrail's `eventTime`, `creationDate` in both ISO forms, the
//! Java-locale `expiration` strings, user `--since` values) becomes Unix seconds (`i64`, UTC), and every time
//! it prints is RFC 3339 UTC with a `Z` (`2026-11-20T10:00:00Z`). CloudTrail has one-second resolution, so
//! sub-second digits are dropped on purpose: sessions are linked on equal seconds.

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn to_epoch(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + (h * 3600 + mi * 60 + s.min(59)) as i64)
}

/// Formats Unix seconds as RFC 3339 UTC, e.g. `2026-11-20T10:00:00Z`.
pub fn format_rfc3339(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    if !(0..=9999).contains(&y) {
        return format_rfc3339_any_year(t);
    }
    // Four times per row of a sessions table: digits written in place, several times faster than format!.
    let mut out = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u32);
    put(5, 2, m);
    put(8, 2, d);
    let s = s as u32;
    put(11, 2, s / 3600);
    put(14, 2, s / 60 % 60);
    put(17, 2, s % 60);
    out.iter().map(|&b| b as char).collect()
}

/// [`format_rfc3339`] by `format!`, for years outside 0000-9999 (and, in the tests, as the reference).
fn format_rfc3339_any_year(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// The UTC calendar day of a time, as `(year, month, day)`.
pub fn utc_date(t: i64) -> (i64, u32, u32) {
    civil_from_days(t.div_euclid(86_400))
}

/// Midnight UTC of the day a time falls in.
pub fn midnight(t: i64) -> i64 {
    t.div_euclid(86_400) * 86_400
}

/// Midnight UTC of a calendar day.
pub fn date_start(y: i64, m: u32, d: u32) -> Option<i64> {
    to_epoch(y, m, d, 0, 0, 0)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    /// The value of `min` to `max` digits (at most nine, so that it fits).
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        debug_assert!(max <= 9, "ten digits can overflow a u32");
        Some(self.digit_run(min, max)?.iter().fold(0, |v, &d| v * 10 + (d - b'0') as u32))
    }

    /// Passes over `min` to `max` digits and returns them.
    fn digit_run(&mut self, min: usize, max: usize) -> Option<&[u8]> {
        let start = self.i;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        (self.i - start >= min).then_some(&self.b[start..self.i])
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// Parses the ISO 8601 forms CloudTrail and its exporters write: `2018-11-28T23:03:12Z`, with optional
/// fractional seconds, a numeric offset, a space instead of `T` (Panther), and the basic form
/// `20131102T010628Z` that the `creationDate` documentation shows. A missing zone means UTC.
pub fn parse_iso(s: &str) -> Option<i64> {
    match parse_canonical(s.as_bytes()) {
        Some(t) => t,
        None => parse_iso_general(s),
    }
}

/// `2018-11-28T23:03:12Z`, the form CloudTrail writes for every `eventTime` (a million records, a million
/// calls), read without the general parser: `Some` of what [`parse_iso_general`] gives when `b` has exactly
/// that shape, `None` when it has not.
fn parse_canonical(b: &[u8]) -> Option<Option<i64>> {
    let shape = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'Z')];
    if b.len() != 20 || shape.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let num = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |v, &c| c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0')))
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    Some(to_epoch(i64::from(y), mo, d, h, mi, sec))
}

/// Every form [`parse_iso`] reads.
fn parse_iso_general(s: &str) -> Option<i64> {
    let s = s.trim();
    let mut c = Cursor { b: s.as_bytes(), i: 0 };
    let y = c.digits(4, 4)? as i64;
    let extended = c.eat(b'-');
    let mo = c.digits(2, 2)?;
    if extended && !c.eat(b'-') {
        return None;
    }
    let d = c.digits(2, 2)?;
    if c.done() {
        return to_epoch(y, mo, d, 0, 0, 0);
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return None;
    }
    let h = c.digits(2, 2)?;
    if extended && !c.eat(b':') {
        return None;
    }
    let mi = c.digits(2, 2)?;
    let sec = if extended {
        if c.eat(b':') {
            c.digits(2, 2)?
        } else {
            0
        }
    } else {
        c.digits(2, 2)?
    };
    if c.eat(b'.') || c.eat(b',') {
        // Fractions of a second are not kept: their digits are passed over (up to picoseconds).
        c.digit_run(1, 12)?;
    }
    let base = to_epoch(y, mo, d, h, mi, sec)?;
    match c.peek() {
        None => Some(base),
        Some(b'Z') | Some(b'z') => {
            c.i += 1;
            c.done().then_some(base)
        }
        Some(sign @ (b'+' | b'-')) => {
            c.i += 1;
            let oh = c.digits(2, 2)? as i64;
            c.eat(b':');
            let om = c.digits(2, 2).unwrap_or(0) as i64;
            if !c.done() {
                return None;
            }
            let off = oh * 3600 + om * 60;
            Some(if sign == b'+' { base - off } else { base + off })
        }
        _ => {
            // Trailing zone names such as " UTC".
            s[c.i..].trim().eq_ignore_ascii_case("UTC").then_some(base)
        }
    }
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// Parses STS `credentials.expiration`, which CloudTrail writes in a Java locale format in UTC:
/// `Nov 29, 2018 4:31:59 AM`, `Sep 14, 2020, 7:01:26 AM` (comma after the year), with 1–2 digit day and hour.
/// Falls back to ISO 8601 for exporters that normalise it.
pub fn parse_expiration(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.as_bytes().first().is_some_and(|b| b.is_ascii_digit()) {
        return parse_iso(s);
    }
    let mut parts = s.split([' ', ',', '\u{202f}']).filter(|p| !p.is_empty());
    let mon = parts.next()?.get(..3)?.to_ascii_lowercase();
    let mo = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
    let d: u32 = parts.next()?.parse().ok()?;
    let y: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let mut h: u32 = hms.next()?.parse().ok()?;
    let mi: u32 = hms.next()?.parse().ok()?;
    let sec: u32 = hms.next().map(|x| x.parse().ok()).unwrap_or(Some(0))?;
    match parts.next().map(|p| p.to_ascii_uppercase()).as_deref() {
        Some("AM" | "A.M.") if h == 12 => h = 0,
        Some("PM" | "P.M.") if h < 12 => h += 12,
        Some("AM" | "A.M." | "PM" | "P.M." | "UTC" | "GMT") | None => {}
        Some(_) => return None,
    }
    if h > 23 {
        return None;
    }
    to_epoch(y, mo, d, h, mi, sec)
}

/// Parses a user-supplied time bound: RFC 3339 (or a bare date), or a duration before `now` such as
/// `7d`, `12h`, `30m`, `2w`, `90s`.
pub fn parse_bound(s: &str, now: i64) -> Result<i64, String> {
    let t = s.trim();
    if let Some(v) = parse_iso(t) {
        return Ok(v);
    }
    parse_duration(t).map(|d| now - d).ok_or_else(|| bound_error(s))
}

/// Parses a duration such as `90s`, `15m`, `12h`, `7d` or `2w` into seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    Some(n.saturating_mul(mult))
}

fn bound_error(s: &str) -> String {
    format!(
        "cannot read {s:?} as a time: give an RFC 3339 time such as 2026-11-20T10:00:00Z, a date such as \
         2026-11-20, or a duration before now such as 7d, 12h or 30m"
    )
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_fractions_of_a_second_are_passed_over() {
        // Up to twelve digits are read and dropped; ten or more used to overflow the digits' value (the
        // fuzzer found it: a panic in builds with overflow checks).
        let whole = parse_iso("2026-02-19T16:32:39Z");
        assert!(whole.is_some());
        for n in 1..=12 {
            let t = format!("2026-02-19T16:32:39.{}Z", "9".repeat(n));
            assert_eq!(parse_iso(&t), whole, "{t}");
            assert_eq!(parse_iso(&t.replace('.', ",")), whole, "{t}");
        }
        assert_eq!(parse_iso("2026-02-19T16:32:39.Z"), None, "a fraction needs a digit");
        assert_eq!(parse_iso("2026-02-19 16:32:39.0111122223333"), None, "thirteen digits");
    }

    #[test]
    fn the_canonical_shortcut_reads_as_the_general_parser() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let alphabet = b"0123456789-:TZtz +.";
        for base in ["2018-11-28T23:03:12Z", "2024-02-29T23:59:60Z", "2023-02-29T00:00:00Z", "0000-01-01T00:00:00Z"] {
            for _ in 0..20_000 {
                let mut b = base.as_bytes().to_vec();
                for _ in 0..next() % 3 {
                    let at = (next() % 20) as usize;
                    b[at] = alphabet[(next() % alphabet.len() as u64) as usize];
                }
                let s = std::str::from_utf8(&b).unwrap();
                assert_eq!(parse_iso(s), parse_iso_general(s), "{s}");
            }
        }
        assert!(parse_canonical(b"2018-11-28T23:03:12Z").is_some());
        assert!(parse_canonical(b"2018-11-28 23:03:12Z").is_none(), "other shapes go to the general parser");
    }

    #[test]
    fn fast_formatting_equals_format() {
        let reference = format_rfc3339_any_year;
        let mut t: i64 = -62_200_000_000; // before year 0: the slow path
        while t < 253_500_000_000 {
            // past 9999
            for dt in [0, 1, 59, 3599, 86_399] {
                assert_eq!(format_rfc3339(t + dt), reference(t + dt), "{}", t + dt);
            }
            t += 86_400 * 97 + 3_599;
        }
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_795_600_800), "2026-11-25T10:00:00Z");
    }

    #[test]
    fn iso_forms_agree() {
        let t = parse_iso("2018-11-28T23:03:12Z").unwrap();
        assert_eq!(format_rfc3339(t), "2018-11-28T23:03:12Z");
        for s in [
            "2018-11-28T23:03:12.123Z",
            "20181128T230312Z",
            "2018-11-28 23:03:12",
            "2018-11-29T00:03:12+01:00",
            "2018-11-28T23:03:12 UTC",
        ] {
            assert_eq!(parse_iso(s), Some(t), "{s}");
        }
        for bad in ["", "2018", "2018-13-01T00:00:00Z", "2018-02-30T00:00:00Z", "2018-11-28T23:03:12Zjunk", "xx"] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn java_locale_expirations() {
        let cases = [
            ("Nov 29, 2018 4:31:59 AM", "2018-11-29T04:31:59Z"),
            ("Sep 14, 2020, 7:01:26 AM", "2020-09-14T07:01:26Z"),
            ("Sep 17, 2020 8:04:10 PM", "2020-09-17T20:04:10Z"),
            ("Jan 22, 2021 12:46:28 AM", "2021-01-22T00:46:28Z"),
            ("Jul 18, 2023, 12:07:39 PM", "2023-07-18T12:07:39Z"),
            ("2023-07-18T12:07:39Z", "2023-07-18T12:07:39Z"),
        ];
        for (s, want) in cases {
            assert_eq!(parse_expiration(s).map(format_rfc3339).as_deref(), Some(want), "{s}");
        }
        assert_eq!(parse_expiration("Foo 18, 2023 1:00:00 PM"), None);
        assert_eq!(parse_expiration("Jul 18, 2023 13:00:00 PM"), Some(parse_iso("2023-07-18T13:00:00Z").unwrap()));
    }

    #[test]
    fn relative_bounds() {
        let now = parse_iso("2026-11-20T10:00:00Z").unwrap();
        assert_eq!(parse_bound("7d", now).map(format_rfc3339).unwrap(), "2026-11-13T10:00:00Z");
        assert_eq!(parse_bound("12h", now).map(format_rfc3339).unwrap(), "2026-11-19T22:00:00Z");
        assert_eq!(parse_bound("2026-11-01", now).map(format_rfc3339).unwrap(), "2026-11-01T00:00:00Z");
        assert!(parse_bound("yesterday", now).unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn calendar_round_trips() {
        for t in [-86_400 * 400, 0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_iso(&format_rfc3339(t)), Some(t));
        }
    }
}
