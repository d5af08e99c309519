//! Link: which session a set of credentials belongs to. The [`Linker`] indexes sessions by the access key
//! they issued and by their session ARN, and picks among the candidates by creation time, lifetime and ARN
//! (`cloudtrail-sts.md` §4). It only reads the sessions, so correlation asks it from many threads at once.

use super::Session;
use crate::extract::ActivityKey;

/// Adds the successful sessions to `by`, under the text `of` gives (an issued key, a session ARN), with
/// their indexes counted from `first`.
fn index<'a>(
    by: &mut hashbrown::HashMap<&'a str, Candidates>,
    sessions: &'a [Session],
    first: usize,
    of: impl Fn(&'a crate::extract::Assumption) -> Option<&'a str>,
) {
    for (i, s) in sessions.iter().enumerate() {
        if let Some(text) = of(&s.assumption).filter(|_| s.assumption.success()) {
            by.entry(text).and_modify(|c| c.push(first + i)).or_insert(Candidates::One(first + i));
        }
    }
}

fn issued_key(a: &crate::extract::Assumption) -> Option<&str> {
    a.issued_key.as_deref()
}

fn session_arn(a: &crate::extract::Assumption) -> Option<&str> {
    a.session_arn.as_deref()
}

/// (start, expiry, session ARN) of a session.
fn span(s: &Session) -> (i64, i64, Option<&str>) {
    let a = &s.assumption;
    (a.at, s.expires_at().max(a.at + 900), a.session_arn.as_deref())
}

/// Finds the session a set of credentials belongs to. Borrows the sessions' keys and ARNs.
pub struct Linker<'a> {
    by_key: hashbrown::HashMap<&'a str, Candidates>,
    by_arn: hashbrown::HashMap<&'a str, Candidates>,
    /// (start, expiry, session ARN) per session.
    spans: Vec<(i64, i64, Option<&'a str>)>,
    /// Each session's place in the order sessions are listed (see [`Linker::place`]); empty: their index.
    places: Vec<u32>,
}

impl<'a> Linker<'a> {
    pub fn new(sessions: &'a [Session]) -> Self {
        // Correlation waits for this on one core: the three indexes are built side by side.
        let new_index = |of: fn(&crate::extract::Assumption) -> Option<&str>| {
            let mut by = hashbrown::HashMap::with_capacity(sessions.len());
            index(&mut by, sessions, 0, of);
            by
        };
        let (by_key, (by_arn, spans)) = rayon::join(
            || new_index(issued_key),
            || rayon::join(|| new_index(session_arn), || sessions.iter().map(span).collect()),
        );
        Linker { by_key, by_arn, spans, places: Vec::new() }
    }

    /// Indexes `more` sessions after those already indexed (their indexes follow on), and learns the order
    /// sessions are listed in (`listing`: every index, each once): of equally good candidates, the first
    /// in that order is chosen.
    pub fn add(&mut self, more: &'a [Session], listing: &[u32]) {
        let first = self.spans.len();
        index(&mut self.by_key, more, first, issued_key);
        index(&mut self.by_arn, more, first, session_arn);
        self.spans.extend(more.iter().map(span));
        debug_assert_eq!(listing.len(), self.spans.len());
        self.places = vec![0; listing.len()];
        for (place, &i) in listing.iter().enumerate() {
            self.places[i as usize] = place as u32;
        }
    }

    /// Where session `i` is listed: its place given to [`Linker::add`], or its index before that.
    pub fn place(&self, i: usize) -> usize {
        self.places.get(i).map_or(i, |&p| p as usize)
    }

    /// The session `key` belongs to, and whether another fitted equally well. `first_use` is the earliest
    /// call seen with the key, for records that carry no creation time.
    pub fn link(&self, key: &ActivityKey, first_use: i64) -> Option<(usize, bool)> {
        // Long-term user keys (AKIA…) are never issued by STS: such calls belong to no session.
        if key.key.as_deref().is_some_and(|k| k.starts_with("AKIA")) {
            return None;
        }
        let arn = key.arn.as_deref();
        let arn_matches = |i: usize| arn.is_none() || self.spans[i].2.is_none_or(|s| Some(s) == arn);
        if let Some(k) = key.key.as_deref() {
            if let Some(cands) = self.by_key.get(k).map(Candidates::as_slice) {
                let hit = match key.created {
                    // Same key and same start: the session (ARN only breaks ties, e.g. derived ARNs).
                    Some(created) => {
                        self.pick(cands.iter().copied().filter(|&i| self.spans[i].0 == created), arn_matches)
                    }
                    // No creation time: the session whose lifetime covers the first use, latest start first.
                    None => {
                        self.pick_latest(cands.iter().copied().filter(|&i| self.in_span(i, first_use)), arn_matches)
                    }
                };
                if hit.is_some() {
                    return hit;
                }
            }
        }
        let cands = self.by_arn.get(arn?)?.as_slice();
        match key.created {
            Some(created) => {
                self.pick(cands.iter().copied().filter(|&i| self.spans[i].0 == created), |_| true).or_else(|| {
                    // Creation time a second or two off the AssumeRole's eventTime.
                    self.pick(cands.iter().copied().filter(|&i| (self.spans[i].0 - created).abs() <= 2), |_| true)
                })
            }
            // Neither creation time nor key: the session of that ARN whose lifetime covers the call. A call
            // with a key that no assumption issued and no creation time is not linked on the ARN alone.
            None if key.key.is_none() => {
                self.pick_latest(cands.iter().copied().filter(|&i| self.in_span(i, first_use)), |_| true)
            }
            None => None,
        }
    }

    /// [`pick`] by place in the listing.
    fn pick(&self, cands: impl Iterator<Item = usize>, arn_matches: impl Fn(usize) -> bool) -> Option<(usize, bool)> {
        pick(cands, arn_matches, |i| self.place(i))
    }

    fn pick_latest(
        &self,
        cands: impl Iterator<Item = usize>,
        arn_matches: impl Fn(usize) -> bool,
    ) -> Option<(usize, bool)> {
        pick_latest(cands, arn_matches, |i| self.place(i))
    }

    fn in_span(&self, i: usize, t: i64) -> bool {
        let (start, end, _) = self.spans[i];
        // CloudTrail's clock is per host: allow a minute before the recorded start.
        t >= start - 60 && t <= end
    }
}

/// The preferred candidate (ARN match first, then the lowest `place`, i.e. earliest), and whether the
/// choice was ambiguous.
fn pick(
    cands: impl Iterator<Item = usize>,
    arn_matches: impl Fn(usize) -> bool,
    place: impl Fn(usize) -> usize,
) -> Option<(usize, bool)> {
    // Candidates seen with and without an ARN match; the choice is ambiguous when its own kind has two.
    let (mut best, mut seen) = (None, [0u32; 2]);
    for i in cands {
        let matches = arn_matches(i);
        seen[matches as usize] += 1;
        if best.is_none_or(|(b, b_matches): (usize, bool)| (!matches, place(i)) < (!b_matches, place(b))) {
            best = Some((i, matches));
        }
    }
    best.map(|(i, matches)| (i, seen[matches as usize] > 1))
}

/// The candidate that starts last (ARN match first).
fn pick_latest(
    cands: impl Iterator<Item = usize>,
    arn_matches: impl Fn(usize) -> bool,
    place: impl Fn(usize) -> usize,
) -> Option<(usize, bool)> {
    cands.min_by_key(|&i| (!arn_matches(i), std::cmp::Reverse(place(i)))).map(|i| (i, false))
}

/// The sessions one issued key or session ARN names: nearly always one, so that one is held inline.
enum Candidates {
    One(usize),
    Many(Vec<usize>),
}

impl Candidates {
    fn push(&mut self, i: usize) {
        match self {
            Candidates::One(first) => *self = Candidates::Many(vec![*first, i]),
            Candidates::Many(all) => all.push(i),
        }
    }

    fn as_slice(&self) -> &[usize] {
        match self {
            Candidates::One(i) => std::slice::from_ref(i),
            Candidates::Many(all) => all,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_prefers_an_arn_match_then_the_earliest_and_says_when_it_was_a_toss_up() {
        // The rule as first written: sort by (no ARN match, index); ambiguous when the runner-up is of the
        // same kind as the winner.
        let by_sorting = |cands: &[usize], matches: &dyn Fn(usize) -> bool| {
            let mut all = cands.to_vec();
            all.sort_by_key(|&i| (!matches(i), i));
            let first = *all.first()?;
            Some((first, all.get(1).is_some_and(|&j| matches(j) == matches(first))))
        };
        let mut next = crate::decode::tests::xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..2000 {
            let r = next();
            let cands: Vec<usize> = (0..(r % 5) as usize).map(|k| ((r >> (8 * k + 8)) % 16) as usize).collect();
            let mask = (r >> 48) as u16;
            let matches = |i: usize| mask & (1 << i) != 0;
            let by_index = pick(cands.iter().copied(), matches, |i| i);
            assert_eq!(by_index, by_sorting(&cands, &matches), "{cands:?} {mask:b}");
        }
        assert_eq!(pick([3, 1, 2].into_iter(), |i| i == 2, |i| i), Some((2, false)));
        assert_eq!(pick([3, 1].into_iter(), |_| true, |i| i), Some((1, true)));
        assert_eq!(pick_latest([3, 1, 2].into_iter(), |i| i != 3, |i| i), Some((2, false)));
        // Earliest and latest are by place in the listing, not by index.
        let reversed = |i: usize| 10 - i;
        assert_eq!(pick([3, 1, 2].into_iter(), |_| true, reversed), Some((3, true)));
        assert_eq!(pick_latest([3, 1, 2].into_iter(), |_| true, reversed), Some((1, false)));
    }
}
