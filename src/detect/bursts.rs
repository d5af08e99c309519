//! Runs of denials in a time window: `role-enumeration` (one principal denied AssumeRole against many roles:
//! someone probing which roles exist or trust them) and `access-denied-burst` (one session denied again and
//! again: stolen credentials being tried against everything). Only AccessDenied-type errors count
//! ([`Failure::Denied`]): throttling, validation and "no such configuration" errors are not probing. Calls AWS
//! made on a session's behalf do not count either (AWS Config's describe sweeps are AWS's business).

use super::{
    duration, push_id, session_finding, short_role, BurstLimits, Finding, Input, ACCESS_DENIED_BURST, ROLE_ENUMERATION,
};
use crate::extract::{AssumeKind, Failure};
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// The bursts among `items` (sorted by time): each item that lies in some window of `limits.window`
/// seconds holding at least `min_events` items and `min_distinct` distinct keys is part of a burst, and
/// such items less than a window apart form one burst. Returns item indices per burst, in time order.
fn bursts<K: Hash + Eq + Clone>(items: &[(i64, Option<K>)], limits: BurstLimits) -> Vec<Vec<usize>> {
    let mut marked = vec![false; items.len()];
    let mut counts: HashMap<K, usize> = HashMap::new();
    let (mut start, mut marked_to) = (0usize, 0usize);
    for end in 0..items.len() {
        if let Some(k) = &items[end].1 {
            *counts.entry(k.clone()).or_default() += 1;
        }
        while items[end].0 - items[start].0 > limits.window {
            if let Some(k) = &items[start].1 {
                if let Some(c) = counts.get_mut(k) {
                    *c -= 1;
                    if *c == 0 {
                        counts.remove(k);
                    }
                }
            }
            start += 1;
        }
        if end + 1 - start >= limits.min_events && counts.len() >= limits.min_distinct {
            // Everything in the widest qualifying window ending here; earlier ones are marked already.
            for m in &mut marked[start.max(marked_to)..=end] {
                *m = true;
            }
            marked_to = end + 1;
        }
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, _) in marked.iter().enumerate().filter(|(_, m)| **m) {
        match out.last_mut() {
            Some(b) if items[i].0 - items[*b.last().expect("bursts are never empty")].0 <= limits.window => b.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

/// `role-enumeration`: one principal denied AssumeRole (or …WithSAML, …WithWebIdentity) at least N times
/// against at least M distinct roles within W. A denied cross-account attempt is logged only in the
/// caller's account, so this sees probing *by* the organisation's principals, not probing of its roles.
pub(super) fn role_enumeration(input: &Input) -> Vec<Finding> {
    let limits = input.settings.role_enumeration;
    let mut by_principal: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in input.all.iter().enumerate() {
        let a = &s.assumption;
        let assume_role = matches!(
            a.kind,
            AssumeKind::AssumeRole | AssumeKind::AssumeRoleWithSaml | AssumeKind::AssumeRoleWithWebIdentity
        );
        if assume_role && !s.inferred && Failure::of(a.error_code.as_deref()) == Failure::Denied {
            by_principal.entry(&s.source_principal).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for (principal, attempts) in by_principal {
        // Sessions are in time order already.
        let items: Vec<(i64, Option<String>)> = attempts
            .iter()
            .map(|&i| {
                let role = input.all[i].assumption.role_arn.as_deref().map(|r| super::role_key(r).into_owned());
                (input.all[i].assumption.at, role)
            })
            .collect();
        for burst in bursts(&items, limits) {
            let idx: Vec<usize> = burst.iter().map(|&b| attempts[b]).collect();
            let first = &input.all[idx[0]];
            let last = &input.all[*idx.last().expect("bursts are never empty")];
            let mut roles: Vec<&str> = Vec::new();
            for &i in &idx {
                let r = short_role(input.all[i].assumption.role_arn.as_deref());
                if !roles.contains(&r) {
                    roles.push(r);
                }
            }
            let shown: Vec<&str> = roles.iter().copied().take(5).collect();
            let summary = format!(
                "{principal} was denied {} role assumptions against {} distinct roles within {} ({}{})",
                idx.len(),
                items_with_roles(&idx, input),
                duration(last.assumption.at - first.assumption.at),
                shown.join(", "),
                if roles.len() > shown.len() { ", …" } else { "" }
            );
            let mut f = Finding {
                session: None,
                session_arn: None,
                access_key_id: None,
                role_arn: None,
                related_sessions: idx.clone(),
                ..session_finding(input, ROLE_ENUMERATION, idx[0], first.assumption.at, summary)
            };
            for &i in &idx[1..] {
                push_id(&mut f.event_ids, Some(&input.all[i].assumption.event_id));
            }
            for &i in &idx {
                if let Some(ip) = input.all[i].assumption.source_ip.as_deref() {
                    f.note_address(ip);
                }
            }
            out.push(f);
        }
    }
    out
}

/// How many distinct roles (by [`role_key`](super::role_key)) the attempts name.
fn items_with_roles(idx: &[usize], input: &Input) -> usize {
    let mut keys: Vec<_> =
        idx.iter().filter_map(|&i| input.all[i].assumption.role_arn.as_deref().map(super::role_key)).collect();
    keys.sort();
    keys.dedup();
    keys.len()
}

/// `access-denied-burst`: at least N AccessDenied-type errors within W in one session.
pub(super) fn access_denied_burst(input: &Input) -> Vec<Finding> {
    let limits = BurstLimits { min_distinct: 0, ..input.settings.access_denied_burst };
    let mut out = Vec::new();
    for (i, s) in input.all.iter().enumerate() {
        let act = &s.activity;
        let denied: Vec<&crate::extract::Mark> =
            act.marks.iter().filter(|m| m.failure() == Failure::Denied && !m.by_aws()).collect();
        if denied.len() < limits.min_events {
            continue;
        }
        let items: Vec<(i64, Option<()>)> = denied.iter().map(|m| (m.at(), None)).collect();
        for burst in bursts(&items, limits) {
            let (first, last) = (denied[burst[0]], denied[*burst.last().expect("bursts are never empty")]);
            let mut actions: Vec<String> = Vec::new();
            for &b in &burst {
                let (src, name) = act.action(denied[b]);
                let label = super::action_label(src, name);
                if !actions.contains(&label) {
                    actions.push(label);
                }
            }
            let shown: Vec<&str> = actions.iter().map(String::as_str).take(5).collect();
            let summary = format!(
                "{} of role {} was denied {} calls within {} ({}{})",
                s.assumption.session_arn.as_deref().unwrap_or("a session"),
                short_role(s.assumption.role_arn.as_deref()),
                burst.len(),
                duration(last.at() - first.at()),
                shown.join(", "),
                if actions.len() > shown.len() { ", …" } else { "" }
            );
            let mut f = session_finding(input, ACCESS_DENIED_BURST, i, first.at(), summary);
            for &b in &burst {
                let m = denied[b];
                f.cite(act, m);
            }
            out.push(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::{detect, BurstLimits, Settings, ACCESS_DENIED_BURST, ROLE_ENUMERATION};
    use super::bursts;
    use crate::correlate::Session;

    #[test]
    fn burst_windows() {
        let l = |n, d, w| BurstLimits { min_events: n, min_distinct: d, window: w };
        let keyed = |v: &[(i64, u8)]| v.iter().map(|&(t, k)| (t, Some(k))).collect::<Vec<_>>();
        type Case<'a> = (&'a str, Vec<(i64, Option<u8>)>, BurstLimits, Vec<Vec<usize>>);
        let cases: Vec<Case> = vec![
            ("three in a minute", keyed(&[(0, 1), (10, 2), (20, 3)]), l(3, 1, 60), vec![vec![0, 1, 2]]),
            ("spread too thin", keyed(&[(0, 1), (100, 2), (200, 3)]), l(3, 1, 60), vec![]),
            ("enough events, too few keys", keyed(&[(0, 1), (1, 1), (2, 2)]), l(3, 3, 60), vec![]),
            (
                "stragglers stay out",
                keyed(&[(0, 1), (500, 2), (510, 3), (520, 4), (2000, 5)]),
                l(3, 1, 60),
                vec![vec![1, 2, 3]],
            ),
            (
                "two separate bursts",
                keyed(&[(0, 1), (1, 2), (2, 3), (1000, 1), (1001, 2), (1002, 3)]),
                l(3, 1, 60),
                vec![vec![0, 1, 2], vec![3, 4, 5]],
            ),
            (
                "a rolling burst stays one",
                (0..10).map(|i| (i * 40, Some(i as u8))).collect(),
                l(2, 1, 60),
                vec![(0..10).collect()],
            ),
            (
                "unkeyed items count towards the total only",
                vec![(0, None), (1, None), (2, Some(1))],
                l(3, 1, 60),
                vec![vec![0, 1, 2]],
            ),
        ];
        for (story, items, limits, want) in cases {
            assert_eq!(bursts(&items, limits), want, "{story}");
        }
    }

    fn denied_attempt(id: &str, at: i64, caller: &str, role: &str) -> Session {
        let mut s = session(assumption(id, at, user(caller), role, "probe"));
        s.assumption.error_code = Some("AccessDenied".into());
        s.assumption.issued_key = None;
        s
    }

    fn enumeration(caller: &str, n: usize, roles: usize, step: i64, code: &str) -> Vec<Session> {
        (0..n)
            .map(|i| {
                let mut s = denied_attempt(
                    &format!("{caller}-{i}"),
                    T0 + i as i64 * step,
                    caller,
                    &format!("arn:aws:iam::{OTHER_ACCT}:role/r{}", i % roles),
                );
                s.assumption.error_code = Some(code.into());
                s
            })
            .collect()
    }

    #[test]
    fn role_enumeration_cases() {
        const MALLORY: &str = "arn:aws:iam::111122223333:user/mallory";
        let cases: Vec<(&str, Vec<Session>, Settings, usize)> = vec![
            (
                "12 denials against 6 roles in 2 minutes",
                enumeration(MALLORY, 12, 6, 10, "AccessDenied"),
                Settings::default(),
                1,
            ),
            (
                "12 denials against 3 roles: a misconfigured job, not a probe",
                enumeration(MALLORY, 12, 3, 10, "AccessDenied"),
                Settings::default(),
                0,
            ),
            (
                "9 denials is below the threshold",
                enumeration(MALLORY, 9, 9, 10, "AccessDenied"),
                Settings::default(),
                0,
            ),
            ("12 denials over 2 hours", enumeration(MALLORY, 12, 12, 600, "AccessDenied"), Settings::default(), 0),
            ("throttling is not probing", enumeration(MALLORY, 12, 12, 10, "Throttling"), Settings::default(), 0),
            (
                "lower thresholds from the config",
                enumeration(MALLORY, 4, 4, 10, "AccessDenied"),
                Settings {
                    role_enumeration: BurstLimits { min_events: 3, min_distinct: 3, window: 60 },
                    ..Settings::default()
                },
                1,
            ),
            (
                "two principals each below the threshold",
                [enumeration(MALLORY, 6, 6, 10, "AccessDenied"), enumeration(ALICE, 6, 6, 11, "AccessDenied")].concat(),
                Settings::default(),
                0,
            ),
        ];
        for (story, mut sessions, settings, want) in cases {
            sessions.sort_by_key(|s| (s.assumption.at, s.assumption.event_id.clone()));
            let n = sessions.len();
            let d = detect(&sessions_of(sessions), &settings, None);
            let found: Vec<_> = d.findings.iter().filter(|f| f.rule == ROLE_ENUMERATION).collect();
            assert_eq!(found.len(), want, "{story}: {found:#?}");
            if let Some(f) = found.first() {
                assert_eq!(f.session, None, "{story}");
                assert_eq!(f.related_sessions.len(), n, "{story}");
                assert_eq!(f.event_ids.len(), n, "{story}");
                assert_eq!(f.principal, MALLORY);
                assert_eq!(f.detected_at, T0);
            }
        }
        let d = detect(&sessions_of(enumeration(MALLORY, 12, 6, 10, "AccessDenied")), &Settings::default(), None);
        assert_eq!(
            d.findings[0].summary,
            "arn:aws:iam::111122223333:user/mallory was denied 12 role assumptions against 6 distinct roles within \
             1m50s (r0, r1, r2, r3, r4, …)"
        );
    }

    #[test]
    fn access_denied_burst_cases() {
        let denied = |n: usize, step: i64| -> Vec<Call<'static>> {
            (0..n)
                .map(|i| {
                    let id: &'static str = Box::leak(format!("d{i}").into_boxed_str());
                    call(id, T0 + 60 + i as i64 * step, "198.51.100.7").named("iam.amazonaws.com", "ListUsers").denied()
                })
                .collect()
        };
        let cases: Vec<(&str, Vec<Call>, usize)> = vec![
            ("12 denials in 2 minutes", denied(12, 10), 1),
            ("9 denials", denied(9, 10), 0),
            ("12 denials over 2 hours", denied(12, 700), 0),
            ("other errors are not denials", denied(12, 10).into_iter().map(|c| c.failed()).collect(), 0),
            ("AWS's own calls on the session's behalf", denied(12, 10).into_iter().map(|c| c.by_aws()).collect(), 0),
        ];
        for (story, calls, want) in cases {
            let s = with_calls(user_session("a1", T0, ROLE_ADMIN), &calls);
            let d = detect(&sessions_of(vec![s]), &Settings::default(), None);
            let found: Vec<_> = d.findings.iter().filter(|f| f.rule == ACCESS_DENIED_BURST).collect();
            assert_eq!(found.len(), want, "{story}");
            if let Some(f) = found.first() {
                assert_eq!(f.event_ids.len(), 13, "the assumption and the 12 denials");
                assert_eq!(f.detected_at, T0 + 60);
                assert_eq!(f.source_ips, ["198.51.100.7"]);
                assert!(f.summary.contains("was denied 12 calls within 1m50s (iam:ListUsers)"), "{}", f.summary);
            }
        }
    }
}
