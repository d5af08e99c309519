//! Rules over the chain an assumption sits in: how deep it runs (`long-role-chain`), and whether a role comes
//! back in it (`role-juggling`). Like the assumption rules, each looks only at successful assumptions read
//! in the input. Parents always come earlier in the session order, so walking up a chain ends.

use super::trust::assumed;
use super::{push_id, role_key, session_finding, short_role, Finding, Input, LONG_ROLE_CHAIN, ROLE_JUGGLING};
use crate::timefmt::format_rfc3339;

/// `long-role-chain`: a chain deeper than `max_chain_depth` hops. The summary walks the chain.
pub(super) fn long_role_chain(input: &Input) -> Vec<Finding> {
    let max = input.settings.max_chain_depth;
    let mut out = Vec::new();
    for (i, s) in input.all.iter().enumerate() {
        if !assumed(s) || s.chain_depth <= max {
            continue;
        }
        // Head first: the sessions of the chain that are in the input.
        let mut hops = vec![i];
        loop {
            let cur = *hops.last().expect("never empty");
            // Parents come earlier in the order; anything else would be a cycle.
            match input.all[cur].parent.filter(|&p| p < cur) {
                Some(p) => hops.push(p),
                None => break,
            }
        }
        hops.reverse();
        let head = &input.all[hops[0]];
        let mut path: Vec<String> = Vec::new();
        if head.chain_depth > 1 {
            path.push("…".into());
        }
        path.push(head.source_principal.clone());
        path.extend(hops.iter().map(|&h| short_role(input.all[h].assumption.role_arn.as_deref()).to_owned()));
        let summary = format!("a chain of {} hops, deeper than {max}: {}", s.chain_depth, path.join(" → "));
        let mut f = session_finding(input, LONG_ROLE_CHAIN, i, s.assumption.at, summary);
        f.event_ids.clear();
        for &h in &hops {
            push_id(&mut f.event_ids, Some(&input.all[h].assumption.event_id));
        }
        out.push(f);
    }
    out
}

/// How far `role-juggling` looks up a chain for an earlier session of the same role. Real chains are a few
/// hops; the bound keeps a chain thousands of hops long from costing its length squared.
const JUGGLING_LOOKBACK: usize = 64;

/// `role-juggling`: a role assumed again through its own chain (A → A, A → B → A), in a session that lasts
/// beyond the chain's earlier session of that role. Chained credentials last at most an hour; renewing
/// them this way keeps a role for as long as the juggling goes on, and past a revocation of the older
/// session (`aws:TokenIssueTime`). Fires once a chain, on its first renewal. A self-assumption that only
/// takes another session name, ending before the session it came from, does not count.
pub(super) fn role_juggling(input: &Input) -> Vec<Finding> {
    let all = input.all;
    // Parents come earlier in the order, so a session's chain is judged before its children are.
    let mut juggled = vec![false; all.len()];
    let mut out = Vec::new();
    for (i, s) in all.iter().enumerate() {
        let parent = s.parent.filter(|&p| p < i);
        if parent.is_some_and(|p| juggled[p]) {
            juggled[i] = true;
            continue;
        }
        let (Some(parent), Some(role)) = (parent, s.assumption.role_arn.as_deref().map(role_key)) else { continue };
        if !assumed(s) {
            continue;
        }
        // Up the chain to the earlier session of the same role, if there is one.
        let mut hops = vec![i];
        let mut at = Some(parent);
        let earlier = loop {
            let Some(p) = at.filter(|_| hops.len() <= JUGGLING_LOOKBACK) else { break None };
            hops.push(p);
            if all[p].assumption.role_arn.as_deref().map(role_key).as_deref() == Some(&*role) {
                break Some(p);
            }
            at = all[p].parent.filter(|&q| q < p);
        };
        let Some(e) = earlier.filter(|&e| s.expires_at() > all[e].expires_at()) else { continue };
        juggled[i] = true;
        hops.reverse();
        let path: Vec<&str> = hops.iter().map(|&h| short_role(all[h].assumption.role_arn.as_deref())).collect();
        let summary = format!(
            "{} was assumed again through its own chain ({}), {} after the chain's earlier session of it: its \
             credentials now last until {}, {} past the earlier session's",
            path[0],
            path.join(" → "),
            super::duration(s.assumption.at - all[e].assumption.at),
            format_rfc3339(s.expires_at()),
            super::duration(s.expires_at() - all[e].expires_at()),
        );
        let mut f = session_finding(input, ROLE_JUGGLING, i, s.assumption.at, summary);
        f.event_ids.clear();
        for &h in hops.iter().filter(|&&h| !all[h].inferred) {
            push_id(&mut f.event_ids, Some(&all[h].assumption.event_id));
        }
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::{detect, Settings, LONG_ROLE_CHAIN, ROLE_JUGGLING};
    use crate::correlate::Session;

    /// Alice assumes the first role at T0, then each session assumes the next role `offset` seconds after
    /// T0; every session lasts an hour.
    fn chain_through(hops: &[(&str, i64)]) -> Vec<Session> {
        let mut all: Vec<Session> = Vec::new();
        for (h, &(role, offset)) in hops.iter().enumerate() {
            let id = format!("j{h}");
            if h == 0 {
                all.push(user_session(&id, T0 + offset, role));
                continue;
            }
            let p = &all[h - 1];
            let mut c = role_session_caller(
                p.assumption.session_arn.as_deref().unwrap(),
                p.assumption.issued_key.as_deref().unwrap(),
            );
            c.issuer_arn = p.assumption.role_arn;
            all.push(session(assumption(&id, T0 + offset, c, role, &format!("hop{h}"))));
            chain(&mut all, h - 1, h);
        }
        all
    }

    #[test]
    fn role_juggling_cases() {
        let twelve_hour_head = {
            let mut all = chain_through(&[(ROLE_APP, 0), (ROLE_APP, 60)]);
            all[0].assumption.expires_at = Some(T0 + 12 * 3600);
            all
        };
        let denied_renewal = {
            let mut all = chain_through(&[(ROLE_APP, 0), (ROLE_ADMIN, 600), (ROLE_APP, 3000)]);
            all[2].assumption.error_code = Some("AccessDenied".into());
            all
        };
        type Case<'a> = (&'a str, Vec<Session>, Vec<(Option<usize>, i64)>);
        let cases: Vec<Case> = vec![
            (
                "App → Admin → App, renewing App",
                chain_through(&[(ROLE_APP, 0), (ROLE_ADMIN, 600), (ROLE_APP, 3000)]),
                vec![(Some(2), T0 + 3000)],
            ),
            ("App renews itself", chain_through(&[(ROLE_APP, 0), (ROLE_APP, 3000)]), vec![(Some(1), T0 + 3000)]),
            (
                "juggling on and on fires once, on the first renewal",
                chain_through(&[
                    (ROLE_APP, 0),
                    (ROLE_ADMIN, 600),
                    (ROLE_APP, 3000),
                    (ROLE_ADMIN, 6000),
                    (ROLE_APP, 9000),
                ]),
                vec![(Some(2), T0 + 3000)],
            ),
            ("a self-assumption for another session name, within the first session's life", twelve_hour_head, vec![]),
            ("no role recurs", chain_through(&[(ROLE_APP, 0), (ROLE_ADMIN, 600), (ROLE_BREAKGLASS, 1200)]), vec![]),
            ("a denied renewal issued nothing", denied_renewal, vec![]),
        ];
        for (story, sessions, want) in cases {
            assert_eq!(fired(ROLE_JUGGLING, sessions, &Settings::default(), None), want, "{story}");
        }
        let d = detect(
            &sessions_of(chain_through(&[(ROLE_APP, 0), (ROLE_ADMIN, 600), (ROLE_APP, 3000)])),
            &Settings::default(),
            None,
        );
        let f = d.findings.iter().find(|f| f.rule == ROLE_JUGGLING).unwrap();
        assert_eq!(
            f.summary,
            "App was assumed again through its own chain (App → Admin → App), 50m00s after the chain's earlier \
             session of it: its credentials now last until 2026-11-20T11:50:00Z, 50m00s past the earlier session's"
        );
        assert_eq!(f.event_ids, ["j0", "j1", "j2"]);
        assert_eq!(f.principal, ALICE);
    }

    #[test]
    fn long_role_chain_cases() {
        let deep = Settings { max_chain_depth: 3, ..Settings::default() };
        type Case<'a> = (&'a str, Vec<Session>, Settings, Vec<(Option<usize>, i64)>);
        let cases: Vec<Case> = vec![
            ("two hops is the default limit", chain_of(2), Settings::default(), vec![]),
            ("three hops", chain_of(3), Settings::default(), vec![(Some(2), T0 + 120)]),
            (
                "four hops: both deep sessions fire",
                chain_of(4),
                Settings::default(),
                vec![(Some(2), T0 + 120), (Some(3), T0 + 180)],
            ),
            ("four hops within a limit of three", chain_of(4), deep, vec![(Some(3), T0 + 180)]),
        ];
        for (story, sessions, settings, want) in cases {
            assert_eq!(fired(LONG_ROLE_CHAIN, sessions, &settings, None), want, "{story}");
        }
        let d = detect(&sessions_of(chain_of(3)), &Settings::default(), None);
        let f = d.findings.iter().find(|f| f.rule == LONG_ROLE_CHAIN).unwrap();
        assert_eq!(
            f.summary,
            "a chain of 3 hops, deeper than 2: arn:aws:iam::111122223333:user/alice → App → Admin → BreakGlass"
        );
        assert_eq!(f.event_ids, ["h0", "h1", "h2"]);
        assert_eq!(f.principal, ALICE);
    }
}
