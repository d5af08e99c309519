//! Correlate: the run's [`Facts`] → [`Sessions`]. This is where the records of one session, scattered over
//! files, days, regions and accounts, are put back together (see `cloudtrail-sts.md` §4):
//!
//! 1. Assumption records are de-duplicated by `eventID`, and the two copies of a cross-account assumption
//!    (same `sharedEventID`, one in each account's trail) become one session whose caller is taken from the
//!    caller-account copy. With only the role owner's copy, the caller is the outside account and principal id.
//! 2. A console role switch (an AssumeRole made by `AWS Internal` plus the `signin` `SwitchRole` event in the
//!    role's account, same session ARN and second) becomes one session, with the browser's address.
//! 3. Activity is linked by issued access key *and* session creation time (key ids are recycled, so two
//!    sessions sharing a key are two sessions), with the session ARN as tie-breaker; where the key used is
//!    not the one issued (console sessions, AWS Config) or there is none, by session ARN + creation time;
//!    where a record has no creation time, by key or ARN within the credentials' lifetime.
//! 4. An assumption made with a session's credentials is that session's child: depth and origin follow.
//!
//! Linking happens only after every file is read, so it does not matter which file, day or account folder a
//! record was delivered in, or whether a session's first use was delivered before its AssumeRole.

use crate::extract::{
    merge_shares, Activity, ActivityKey, ActivityMap, AssumeKind, Assumption, Caller, ConsoleSwitch, EventIds, Facts,
    Mark,
};
use crate::intern::Text;
use rayon::prelude::*;
use std::collections::HashMap;

mod link;
use link::Linker;

/// A reconstructed session: one assumption attempt and everything done with the credentials it issued.
#[derive(Debug, Clone)]
pub struct Session {
    /// The assumption record (the caller-account copy when there are two); boxed, so that sorting and
    /// regrouping sessions moves pointers rather than the large record.
    pub assumption: Box<Assumption>,
    /// How many copies of the assumption were merged (2 for a cross-account assumption seen from both sides).
    pub copies: u32,
    /// The accounts whose trails hold a copy, sorted.
    pub seen_in_accounts: Vec<String>,
    /// The console `SwitchRole` event, for console role switches (boxed: most sessions have none).
    pub switch: Option<Box<ConsoleSwitch>>,
    /// Index of the session whose credentials made this assumption.
    pub parent: Option<usize>,
    /// 1 when assumed by a principal that is not itself a session; parent's depth + 1 otherwise.
    pub chain_depth: u32,
    /// Who made the assumption, in one string (user or role-session ARN, service, SAML/OIDC subject, account).
    pub source_principal: String,
    /// The identity at the head of the chain.
    pub origin_principal: String,
    /// Calls made with the session, de-duplicated and in time order.
    pub activity: SessionActivity,
    /// The activity keys that were linked to this session (for finding its events again).
    pub linked_keys: Vec<ActivityKey>,
    /// No assumption record: the session was inferred from calls made with its credentials.
    pub inferred: bool,
}

impl Session {
    /// What nightly runs know the session by from one run to the next: the `sharedEventID` of a
    /// cross-account assumption, which its copies share, and its event id otherwise. (The event id the session
    /// shows is its caller's copy's, once that copy is read: a run that read only the role owner's copy shows
    /// the owner's.)
    pub fn run_key(&self) -> &str {
        let a = &self.assumption;
        a.shared_event_id.as_deref().unwrap_or(&a.event_id)
    }

    /// The session's name for the `event_name` column: `SwitchRole` for console switches.
    pub fn event_name(&self) -> &'static str {
        if self.inferred {
            "inferred"
        } else if self.switch.is_some() {
            "SwitchRole"
        } else {
            self.assumption.kind.event_name()
        }
    }

    /// The caller's `userIdentity.type`, as logged.
    pub fn source_type(&self) -> &str {
        self.assumption.caller.kind.as_deref().unwrap_or("Unknown")
    }

    pub fn source_ip(&self) -> Option<&str> {
        self.switch.as_ref().and_then(|s| s.source_ip.as_deref()).or(self.assumption.source_ip.as_deref())
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.switch.as_ref().and_then(|s| s.user_agent.as_deref()).or(self.assumption.user_agent.as_deref())
    }

    /// The caller's account. Services, SAML and OIDC subjects have none of their own: they act through the
    /// identity provider of the role's account (or, for services, in the role's account), so that is theirs.
    pub fn caller_account(&self) -> Option<&str> {
        let c = &self.assumption.caller;
        if matches!(c.kind.as_deref(), Some("AWSService") | Some("SAMLUser") | Some("WebIdentityUser")) {
            return self
                .assumption
                .provider
                .as_deref()
                .and_then(crate::extract::account_of)
                .or_else(|| self.role_account());
        }
        c.account_id
            .as_deref()
            .or_else(|| c.arn.as_deref().and_then(crate::extract::account_of))
            .or_else(|| self.switch.as_ref()?.switch_from.as_deref().and_then(crate::extract::account_of))
    }

    pub fn role_account(&self) -> Option<&str> {
        let a = &self.assumption;
        a.role_arn.as_deref().or(a.session_arn.as_deref()).and_then(crate::extract::account_of)
    }

    pub fn cross_account(&self) -> bool {
        matches!((self.caller_account(), self.role_account()), (Some(c), Some(r)) if c != r)
    }

    /// When the credentials stop working, as logged or as long as they could possibly last.
    pub fn expires_at(&self) -> i64 {
        let a = &self.assumption;
        a.expires_at.unwrap_or(a.at + a.kind.max_lifetime())
    }

    /// Whether the session is done by `horizon` (its credentials expired by then): nothing a later record
    /// says can change it any more. Nightly writes it as final; until then it is open.
    pub fn is_final(&self, horizon: i64) -> bool {
        self.expires_at() <= horizon
    }
}

/// The calls made with one session.
#[derive(Debug, Clone, Default)]
pub struct SessionActivity {
    /// Event ids of notable calls, found by `Mark::id`.
    pub event_ids: EventIds,
    /// Sorted by time then event id hash; no two share an id.
    pub marks: Vec<Mark>,
    /// Some call carried `sessionContext.ec2RoleDelivery`: the credentials came from EC2 instance metadata.
    pub instance_credentials: bool,
}

impl SessionActivity {
    /// The event id of a call, when it was notable enough to keep.
    pub fn event_id(&self, m: &Mark) -> Option<&str> {
        self.event_ids.get(m.id)
    }

    pub fn action(&self, m: &Mark) -> (&'static str, &'static str) {
        m.action.get()
    }

    pub fn ip(&self, m: &Mark) -> &'static str {
        m.ip.as_str()
    }

    pub fn error_count(&self) -> usize {
        self.marks.iter().filter(|m| m.failure() != crate::extract::Failure::None).count()
    }

    pub fn distinct_actions(&self) -> usize {
        // A session uses few distinct actions, however many calls it makes.
        let mut seen: Vec<crate::extract::Action> = Vec::new();
        for m in &self.marks {
            if !seen.contains(&m.action) {
                seen.push(m.action);
            }
        }
        seen.len()
    }

    /// Source addresses in the order they were first used.
    pub fn source_ips(&self) -> Vec<&str> {
        let mut seen: Vec<crate::extract::Text> = Vec::new();
        for m in &self.marks {
            if !seen.contains(&m.ip) {
                seen.push(m.ip);
            }
        }
        seen.into_iter().map(|ip| ip.as_str()).filter(|ip| !ip.is_empty()).collect()
    }

    pub fn first_at(&self) -> Option<i64> {
        self.marks.first().map(|m| m.at())
    }

    pub fn last_at(&self) -> Option<i64> {
        self.marks.last().map(|m| m.at())
    }
}

/// Counts that tell the user how much of the input was linked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkStats {
    /// Unique records (by `eventID`; for calls, among the calls made with the same credentials, since a
    /// second delivery of a record is the same call: a call that reuses the id of another's is counted).
    pub records: u64,
    pub duplicates: u64,
    /// Records that are assumptions or console switches.
    pub assumption_records: u64,
    /// Cross-account copies merged into the session of the other copy.
    pub merged_copies: u64,
    /// Calls made with a session's credentials that were linked to it.
    pub linked_events: u64,
    /// Sessions inferred from calls whose assumption is not in the input.
    pub inferred_sessions: u64,
    /// Calls (other than assumptions) that belong to no session: long-term keys, IAM-user console logins,
    /// services acting as themselves, and session activity whose assumption is not in the input.
    pub unlinked_events: u64,
    /// Links where more than one session fitted equally well (the earliest was chosen).
    pub ambiguous_links: u64,
}

/// Where an IAM user or root called from with credentials that belong to no session (long-term keys,
/// console sign-ins). The detections use it to tell a person's address from a workload's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAddress {
    pub address: Box<str>,
    /// The user's (or root's) ARN.
    pub principal: Box<str>,
    /// The hours (Unix seconds / 3600) in which calls came from the address, sorted.
    pub hours: Vec<i64>,
    /// The id of the earliest such call whose id was kept.
    pub event_id: Option<Box<str>>,
}

/// The result of correlation: sessions ordered by assumption time then event id.
#[derive(Debug, Default)]
pub struct Sessions {
    pub sessions: Vec<Session>,
    pub stats: LinkStats,
    /// The accounts whose logs were read (`recipientAccountId`), sorted.
    pub accounts: Vec<String>,
    /// Sorted by address, then principal.
    pub user_addresses: Vec<UserAddress>,
    /// Calls by an attack tool ([`Mark::attack_tool`](crate::extract::Mark::attack_tool)) made with an IAM
    /// user's or root's own keys, which no session claims. Sorted by principal, then time and event id hash,
    /// without duplicates.
    pub user_tool_calls: Vec<UserToolCall>,
}

impl Sessions {
    /// Whether `account` is one whose logs were read.
    pub fn reads_logs_of(&self, account: &str) -> bool {
        self.accounts.binary_search_by(|a| a.as_str().cmp(account)).is_ok()
    }
}

/// A call by an attack tool made with a user's own keys (see [`Sessions::user_tool_calls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserToolCall {
    /// The user's (or root's) ARN.
    pub principal: Box<str>,
    pub at: i64,
    /// The event id hash ([`Mark::id`](crate::extract::Mark::id)).
    pub id: u64,
    pub action: crate::intern::Action,
    pub event_id: Option<Box<str>>,
}

/// The IAM user or root whose own keys made an activity no session claims, by its ARN.
fn user_principal<'a>(key: &'a ActivityKey, act: &Activity) -> Option<&'a str> {
    match (act.identity_type.as_deref(), key.arn.as_deref()) {
        (Some("IAMUser" | "Root"), Some(arn)) => Some(arn),
        _ => None,
    }
}

/// The calls by an attack tool among a user's activity that no session claims.
fn user_tool_calls<'a>(key: &'a ActivityKey, act: &'a Activity) -> impl Iterator<Item = UserToolCall> + 'a {
    user_principal(key, act).into_iter().flat_map(move |principal| {
        act.marks.iter().filter(|m| m.attack_tool()).map(move |m| UserToolCall {
            principal: principal.into(),
            at: m.at(),
            id: m.id,
            action: m.action,
            event_id: act.event_ids.get(m.id).map(Into::into),
        })
    })
}

/// Reconstructs sessions from everything extracted in a run.
pub fn correlate(facts: Facts) -> Sessions {
    let Facts { assumptions, switches, activity, more_activity, ids, more_ids, accounts, .. } = facts;
    let mut stats = LinkStats::default();
    // Three independent starts, side by side: the records that are no call counted, assumptions made into
    // sessions, and activity sorted by key (so that ambiguity counts and merge order are reproducible).
    let ((other_records, other_duplicates), ((assumption_records, merged_copies, mut sessions), mut keyed)) =
        rayon::join(
            || count_unique(std::iter::once(ids).chain(more_ids).collect()),
            || {
                rayon::join(
                    || {
                        let hashes =
                            assumptions.iter().map(|a| a.hash).chain(switches.iter().map(|s| s.hash)).collect();
                        let (merged, merged_copies) = merge_copies(assumptions);
                        (count_unique(vec![hashes]).0, merged_copies, attach_switches(merged, switches))
                    },
                    || sorted_activity(activity, more_activity),
                )
            },
        );
    // Records that are calls are counted by their marks, once copies are dropped (below).
    let calls: u64 = keyed.iter().map(|(_, act)| act.marks.len() as u64).sum();
    (stats.assumption_records, stats.merged_copies) = (assumption_records, merged_copies);

    // Calls made with role-session credentials whose assumption is not in the input (made before --since,
    // or logged in a trail that was not read) still form sessions: infer one per session ARN and start.
    // (Whether a key links at all does not depend on the order of the sessions, so this pass needs no sort.)
    // Declared before the linker, which comes to borrow it, so as to outlive it (clippy misses the borrow).
    #[allow(clippy::needless_late_init)]
    let inferred: Vec<Session>;
    let mut linker = Linker::new(&sessions);
    inferred = infer_sessions(&keyed, &linker);
    // Sessions are listed by start (unique with the event id, so the order is the same whatever order the
    // files were read in), and the linker prefers the earliest of equal candidates: it learns each
    // session's place in that order and indexes the inferred ones too, rather than being built again.
    // Indexes from here to the rearrangement count `sessions`, then `inferred`.
    let all: Vec<&Session> = sessions.iter().chain(&inferred).collect();
    let listing = start_order(&all);
    linker.add(&inferred, &listing);
    let parents = find_parents(&all, &linker);
    drop(all);

    // Finding each key's session only reads the linker, so it runs in parallel; gathering stays in key order.
    let links: Vec<Option<(usize, bool)>> = keyed
        .par_iter()
        .map(|(key, act)| linker.link(key, act.first_use().unwrap_or(0)).map(|(i, amb)| (linker.place(i), amb)))
        .collect();
    let parents: Vec<Option<usize>> = {
        let mut in_order = vec![None; parents.len()];
        for (i, parent) in parents.into_iter().enumerate() {
            in_order[linker.place(i)] = parent.map(|p| linker.place(p));
        }
        in_order
    };
    drop(linker);
    sessions.reserve_exact(inferred.len());
    sessions.extend(inferred);
    permute(&mut sessions, &listing);
    // Gather each session's keys, in key order (the order its activities are absorbed in, so that the
    // merge is reproducible), as runs of one session. The entries are put in that order where they
    // are, keys that link nowhere (maybe an IAM user's) last: a second list of them would be the run's
    // peak of memory, at the moment every call is held.
    let mut order: Vec<(u32, u32)> = Vec::with_capacity(keyed.len());
    for (pos, link) in links.iter().enumerate() {
        if let Some((idx, ambiguous)) = *link {
            stats.ambiguous_links += ambiguous as u64;
            order.push((idx as u32, pos as u32));
        }
    }
    order.par_sort_unstable();
    let linked = order.len();
    let mut placement: Vec<u32> = order.iter().map(|&(_, pos)| pos).collect();
    placement.extend(links.iter().enumerate().filter(|(_, link)| link.is_none()).map(|(pos, _)| pos as u32));
    drop(links);
    permute(&mut keyed, &placement);
    drop(placement);
    let (linked_entries, unlinked_entries) = keyed.split_at_mut(linked);
    // Each session's run of entries, at the session's index.
    let mut runs: Vec<&mut [(ActivityKey, Box<Activity>)]> = Vec::with_capacity(sessions.len());
    runs.resize_with(sessions.len(), Default::default);
    let mut rest = linked_entries;
    for run in order.chunk_by(|a, b| a.0 == b.0) {
        let (this, after) = std::mem::take(&mut rest).split_at_mut(run.len());
        runs[run[0].0 as usize] = this;
        rest = after;
    }
    drop(order);
    // Side by side: the calls no session claims gathered by user, and each session's calls gathered into it
    // (after its parent and chain depth are set, which need nothing gathered).
    let ((user_addresses, user_tool_calls, unlinked_repeats), (linked_non_assumption, linked_repeats)) = rayon::join(
        || {
            let mut user_addresses = UserAddresses::default();
            let mut tool_calls = Vec::new();
            let mut repeats = 0;
            for (key, act) in unlinked_entries.iter() {
                user_addresses.add(key, act);
                tool_calls.extend(user_tool_calls(key, act));
                repeats += repeated_ids(&act.marks);
            }
            tool_calls
                .sort_unstable_by(|a: &UserToolCall, b| (&a.principal, a.at, a.id).cmp(&(&b.principal, b.at, b.id)));
            tool_calls.dedup_by(|a, b| (&a.principal, a.id) == (&b.principal, b.id));
            (user_addresses, tool_calls, repeats)
        },
        || {
            set_parents(&mut sessions, &parents);
            sessions
                .par_iter_mut()
                .zip(runs.par_iter_mut())
                .filter(|(_, run)| !run.is_empty())
                .map(|(session, run)| {
                    let mut act = Activity::default();
                    let mut keys = Vec::with_capacity(run.len());
                    for (key, activity) in run.iter_mut() {
                        keys.push(std::mem::take(key));
                        act.absorb(std::mem::take(&mut **activity));
                    }
                    let repeats;
                    (session.activity, repeats) = finish_activity(act);
                    session.linked_keys = keys;
                    (session.activity.marks.iter().filter(|m| !m.is_assumption()).count() as u64, repeats)
                })
                .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        },
    );
    let repeats = unlinked_repeats + linked_repeats;
    stats.records = other_records + calls - repeats;
    stats.duplicates = other_duplicates + repeats;
    drop(runs);
    drop(keyed);
    stats.linked_events = sessions.iter().map(|s| s.activity.marks.len() as u64).sum();
    stats.inferred_sessions = sessions.iter().filter(|s| s.inferred).count() as u64;
    stats.unlinked_events =
        stats.records.saturating_sub(stats.assumption_records).saturating_sub(linked_non_assumption);
    Sessions {
        sessions,
        stats,
        accounts: accounts.into_iter().collect(),
        user_addresses: user_addresses.finish(),
        user_tool_calls,
    }
}

/// Every activity entry, sorted by key, the shares of a key read by several threads (see
/// [`Facts::more_activity`]) merged into one ([`merge_shares`]); marks are put in order by
/// [`finish_activity`], event ids are found by hash (settled here).
fn sorted_activity(activity: ActivityMap, more: Vec<ActivityMap>) -> Vec<(ActivityKey, Box<Activity>)> {
    let mut keyed: Vec<(ActivityKey, Box<Activity>)> =
        Vec::with_capacity(activity.len() + more.iter().map(|m| m.len()).sum::<usize>());
    keyed.extend(activity);
    for map in more {
        keyed.extend(map);
    }
    merge_shares(&mut keyed);
    keyed.par_iter_mut().for_each(|(_, act)| act.event_ids.settle());
    keyed
}

/// How many distinct values there are in all the lists, and how many repeats.
fn count_unique(lists: Vec<Vec<u64>>) -> (u64, u64) {
    let all: u64 = lists.iter().map(|l| l.len() as u64).sum();
    let lists: Vec<Vec<u64>> = lists
        .into_par_iter()
        .map(|mut l| {
            l.par_sort_unstable();
            l.dedup();
            l
        })
        .collect();
    let unique = distinct_in_sorted(&lists);
    (unique, all - unique)
}

/// How many distinct values sorted lists without repeats hold between them: a merge of the lists (one per
/// thread, so few), counting each value once.
fn distinct_in_sorted(lists: &[Vec<u64>]) -> u64 {
    let mut heads: Vec<&[u64]> = lists.iter().map(Vec::as_slice).filter(|l| !l.is_empty()).collect();
    if heads.len() == 1 {
        return heads[0].len() as u64;
    }
    let mut distinct = 0;
    while let Some(&least) = heads.iter().map(|l| &l[0]).min() {
        distinct += 1;
        for l in &mut heads {
            if l[0] == least {
                *l = &l[1..];
            }
        }
        heads.retain(|l| !l.is_empty());
    }
    distinct
}

/// Collects [`UserAddress`]es from activity that belongs to no session.
#[derive(Default)]
struct UserAddresses {
    /// Principal → address → what was seen. Addresses are interned, so a call costs a lookup, not an
    /// allocation.
    by: hashbrown::HashMap<Box<str>, hashbrown::HashMap<Text, AddressUse>>,
}

/// The hours in which calls came from one address, and the earliest call whose id was kept.
#[derive(Default)]
struct AddressUse {
    hours: Vec<i64>,
    first: Option<(i64, Box<str>)>,
}

impl UserAddresses {
    fn add(&mut self, key: &ActivityKey, act: &Activity) {
        let Some(principal) = user_principal(key, act) else { return };
        let mut calls = act.marks.iter().filter(|m| !m.by_aws() && !m.ip.as_str().is_empty()).peekable();
        if calls.peek().is_none() {
            return;
        }
        let by_address = self.by.entry_ref(principal).or_default();
        for m in calls {
            let seen = by_address.entry(m.ip).or_default();
            let hour = m.at().div_euclid(3600);
            // Calls cluster in time, so most repeats are caught here; `finish` removes the rest.
            if seen.hours.last() != Some(&hour) {
                seen.hours.push(hour);
            }
            if let Some(id) = act.event_ids.get(m.id) {
                // The earliest call with a kept id, whatever order files were read in.
                if seen.first.as_ref().is_none_or(|(at, fid)| (m.at(), id) < (*at, &**fid)) {
                    seen.first = Some((m.at(), id.into()));
                }
            }
        }
    }

    /// Sorted by address, then principal.
    fn finish(self) -> Vec<UserAddress> {
        let mut out: Vec<UserAddress> = self
            .by
            .into_iter()
            .flat_map(|(principal, by_address)| {
                by_address.into_iter().map(move |(address, mut seen)| {
                    seen.hours.sort_unstable();
                    seen.hours.dedup();
                    UserAddress {
                        address: address.as_str().into(),
                        principal: principal.clone(),
                        hours: seen.hours,
                        event_id: seen.first.map(|(_, id)| id),
                    }
                })
            })
            .collect();
        out.sort_unstable_by(|a, b| (&a.address, &a.principal).cmp(&(&b.address, &b.principal)));
        out
    }
}

/// The indexes of `sessions` ordered by start, then event id. The keys are compared from a compact copy
/// (start time and the id's first sixteen bytes) and the full id is read only on a tie: comparing through
/// each session's boxed assumption missed the cache twice per comparison, which made this sort a tenth of
/// correlation.
fn start_order(sessions: &[&Session]) -> Vec<u32> {
    let mut order: Vec<(i64, u128, u32)> = sessions
        .iter()
        .enumerate()
        .map(|(i, s)| (s.assumption.at, id_prefix(&s.assumption.event_id), i as u32))
        .collect();
    let full_id = |i: u32| &sessions[i as usize].assumption.event_id;
    order.par_sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| full_id(a.2).cmp(full_id(b.2))));
    order.into_iter().map(|(_, _, i)| i).collect()
}

/// Puts `items` in `order`: afterwards the item at `j` is the one that was at `order[j]` (`order` holds each
/// index once). Each item is moved along its cycle of the permutation where it lies, without a second list.
fn permute<T>(items: &mut [T], order: &[u32]) {
    debug_assert_eq!(items.len(), order.len());
    let mut placed = vec![false; items.len()];
    for start in 0..items.len() {
        let mut j = start;
        while !placed[j] {
            placed[j] = true;
            let from = order[j] as usize;
            if from == start {
                break;
            }
            items.swap(j, from);
            j = from;
        }
    }
}

/// The first sixteen bytes of an id, zero-padded, as a number that orders as the bytes do. Zero is the
/// smallest byte, so two ids whose prefixes differ order as the ids do; equal prefixes need the full ids.
fn id_prefix(id: &str) -> u128 {
    let mut bytes = [0u8; 16];
    let n = id.len().min(16);
    bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
    u128::from_be_bytes(bytes)
}

/// Orders two records of one `eventID` by their whole content. Copies of a record delivered twice are
/// equal; records that only share an id (a forged or broken log: CloudTrail's ids are unique) are kept or
/// dropped the same way whichever file or thread read them first. Only ties come here, so the cost of
/// serialising both is paid nearly never.
pub(crate) fn by_content<T: serde::Serialize>(a: &T, b: &T) -> std::cmp::Ordering {
    let text = |v: &T| serde_json::to_vec(v).unwrap_or_default();
    text(a).cmp(&text(b))
}

/// De-duplicates assumption records by `eventID` and merges cross-account copies (same `sharedEventID`).
fn merge_copies(assumptions: Vec<Box<Assumption>>) -> (Vec<Session>, u64) {
    // Sorted by the id hash each carries inline, so sorting rarely follows a pointer (sorting by the id
    // text missed the cache on both sides of every comparison). Equal ids have equal hashes and so end
    // up adjacent; nothing after this depends on the order of sessions (they are sorted once all are made).
    let mut assumptions: Vec<(u64, Box<Assumption>)> = assumptions.into_iter().map(|a| (a.hash, a)).collect();
    assumptions.par_sort_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| a.1.event_id.cmp(&b.1.event_id)).then_with(|| by_content(&a.1, &b.1))
    });
    assumptions.dedup_by(|a, b| a.0 == b.0 && a.1.event_id == b.1.event_id);

    let (shared, single): (Vec<_>, Vec<_>) =
        assumptions.into_iter().map(|(_, a)| a).partition(|a| a.shared_event_id.is_some());
    let mut sessions: Vec<Session> = single.into_par_iter().map(|a| new_session(a, 1)).collect();
    // Copies of one assumption share its `sharedEventID` (and kind): sorted by that id's hash, held
    // inline for the same reason as above, they are adjacent.
    let mut shared: Vec<(u64, AssumeKind, Box<Assumption>)> = shared
        .into_iter()
        .map(|a| (crate::extract::id_hash(a.shared_event_id.as_deref().unwrap_or_default()), a.kind, a))
        .collect();
    shared.par_sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| a.2.shared_event_id.cmp(&b.2.shared_event_id)));
    let mut groups: Vec<Vec<Box<Assumption>>> = Vec::new();
    for (_, _, a) in shared {
        match groups.last_mut() {
            Some(copies) if copies[0].kind == a.kind && copies[0].shared_event_id == a.shared_event_id => {
                copies.push(a)
            }
            _ => groups.push(vec![a]),
        }
    }
    let merged = groups.iter().map(|copies| copies.len() as u64 - 1).sum();
    sessions.par_extend(groups.into_par_iter().map(merge_group));
    (sessions, merged)
}

/// One session from every copy of one cross-account assumption.
fn merge_group(mut copies: Vec<Box<Assumption>>) -> Session {
    // The caller-account copy names the caller; the role owner's copy shows only `AWSAccount`.
    let owner_copy = |a: &Assumption| a.caller.is("AWSAccount") || a.caller.kind.is_none();
    copies.sort_by(|a, b| (owner_copy(a), &a.event_id).cmp(&(owner_copy(b), &b.event_id)));
    let mut accounts: Vec<String> = copies.iter().filter_map(|a| a.recipient_account.map(|t| t.to_string())).collect();
    let n = copies.len() as u32;
    let mut it = copies.into_iter();
    let mut primary = it.next().expect("groups are never empty");
    for other in it {
        fill_from(&mut primary, other);
    }
    let mut s = new_session(primary, n);
    accounts.sort();
    accounts.dedup();
    s.seen_in_accounts = accounts;
    s
}

/// Fills what the primary copy lacks from another copy of the same assumption.
fn fill_from(p: &mut Assumption, o: Box<Assumption>) {
    macro_rules! fill {
        ($($f:ident),*) => { $( if p.$f.is_none() { p.$f = o.$f; } )* };
    }
    fill!(
        role_arn,
        session_name,
        session_arn,
        issued_key,
        expires_at,
        source_ip,
        user_agent,
        source_identity,
        subject,
        provider,
        region
    );
    p.mfa |= o.mfa;
    p.external_id |= o.external_id;
    p.session_policy |= o.session_policy;
    p.by_console |= o.by_console;
    p.implicit_trust |= o.implicit_trust;
}

fn new_session(assumption: Box<Assumption>, copies: u32) -> Session {
    let source_principal = principal_of(&assumption);
    Session {
        seen_in_accounts: assumption.recipient_account.iter().map(|t| t.to_string()).collect(),
        assumption,
        copies,
        switch: None,
        parent: None,
        chain_depth: 1,
        origin_principal: source_principal.clone(),
        source_principal,
        activity: SessionActivity::default(),
        linked_keys: Vec::new(),
        inferred: false,
    }
}

/// One key's calls, as [`infer_sessions`] groups them.
type Member<'a> = (&'a ActivityKey, &'a Activity);

/// Sessions for role-session and federated-user calls that no assumption in the input explains, one per
/// (session ARN, creation time). Their start is the calls' `creationDate`, their role the `sessionIssuer`.
fn infer_sessions(activity: &[(ActivityKey, Box<Activity>)], linker: &Linker) -> Vec<Session> {
    use std::collections::BTreeMap;
    // Which keys no session claims: a lookup per key, in parallel.
    let unclaimed: Vec<((&str, i64), Member)> = activity
        .par_iter()
        .filter_map(|(key, act)| {
            let (arn, created) = (key.arn.as_deref()?, key.created?);
            if !(arn.contains(":assumed-role/") || arn.contains(":federated-user/")) {
                return None;
            }
            linker.link(key, act.first_use().unwrap_or(created)).is_none().then_some(((arn, created), (key, &**act)))
        })
        .collect();
    let mut groups: BTreeMap<(&str, i64), Vec<Member>> = BTreeMap::new();
    for (session, member) in unclaimed {
        groups.entry(session).or_default().push(member);
    }
    groups
        .into_iter()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|((arn, created), mut members)| {
            members.sort_by(|a, b| a.0.cmp(b.0));
            let mut keys: Vec<&str> = members.iter().filter_map(|(k, _)| k.key.as_deref()).collect();
            keys.dedup();
            let act = members[0].1;
            let role_arn = act.issuer_arn.or_else(|| {
                let (head, rest) = arn.split_once(":assumed-role/")?;
                Some(format!("{}:role/{}", head.replacen(":sts:", ":iam:", 1), rest.split('/').next()?).into())
            });
            let session_name = arn.rsplit('/').next().map(Into::into);
            let kind =
                if arn.contains(":federated-user/") { AssumeKind::GetFederationToken } else { AssumeKind::AssumeRole };
            let event_id = format!("inferred:{arn}@{}", crate::timefmt::format_rfc3339(created));
            let assumption = Assumption {
                hash: crate::extract::id_hash(&event_id),
                event_id,
                at: created,
                kind,
                role_arn,
                session_name,
                session_arn: Some(arn.into()),
                issued_key: (keys.len() == 1).then(|| keys[0].into()),
                ..Assumption::default()
            };
            let mut s = new_session(Box::new(assumption), 0);
            s.seen_in_accounts.clear();
            s.inferred = true;
            // The furthest identity we can name is the session itself.
            s.source_principal = "unknown".to_owned();
            s.origin_principal = arn.to_owned();
            s
        })
        .collect()
}

/// Who made an assumption, as one string.
fn principal_of(a: &Assumption) -> String {
    let c = &a.caller;
    match c.kind.as_deref() {
        Some("AWSService") => c.invoked_by.as_deref().unwrap_or("AWS service").to_owned(),
        Some("SAMLUser") | Some("WebIdentityUser") => {
            let provider = a.provider.as_deref().or(c.identity_provider.as_deref()).unwrap_or("unknown-provider");
            let subject = a.subject.as_deref().or(c.user_name.as_deref()).unwrap_or("unknown-subject");
            format!("{provider}:{subject}")
        }
        Some("AWSAccount") => format!(
            "aws-account:{}/{}",
            c.account_id.as_deref().unwrap_or("unknown"),
            c.principal_id.as_deref().unwrap_or("unknown")
        ),
        _ => c
            .arn
            .map(|a| a.to_string())
            .or_else(|| c.principal_id.as_deref().map(str::to_owned))
            .or_else(|| c.account_id.map(|a| format!("aws-account:{a}")))
            .unwrap_or_else(|| "unknown".into()),
    }
}

/// Attaches each console `SwitchRole` to the AssumeRole of the same session ARN and second; a switch whose
/// AssumeRole is not in the input becomes a session of its own.
fn attach_switches(mut sessions: Vec<Session>, mut switches: Vec<ConsoleSwitch>) -> Vec<Session> {
    switches.sort_by(|a, b| (&a.event_id, a.at).cmp(&(&b.event_id, b.at)).then_with(|| by_content(a, b)));
    switches.dedup_by(|a, b| a.event_id == b.event_id);
    switches.sort_by(|a, b| (a.at, &a.event_id).cmp(&(b.at, &b.event_id)));
    if switches.is_empty() {
        return sessions;
    }
    // Only the session ARNs some switch names are indexed: switches are few, sessions many.
    let mut by_arn: HashMap<String, Vec<usize>> =
        switches.iter().filter_map(|sw| Some((sw.session_arn.clone()?, Vec::new()))).collect();
    for (i, s) in sessions.iter().enumerate() {
        if let (AssumeKind::AssumeRole, Some(arn)) = (s.assumption.kind, s.assumption.session_arn.as_deref()) {
            if let Some(cands) = by_arn.get_mut(arn) {
                cands.push(i);
            }
        }
    }
    let mut attach: Vec<(usize, ConsoleSwitch)> = Vec::new();
    let mut alone = Vec::new();
    let mut taken = vec![false; sessions.len()];
    for sw in switches {
        let best = sw.session_arn.as_deref().and_then(|arn| by_arn.get(arn)).and_then(|cands| {
            cands.iter().copied().filter(|&i| !taken[i] && (sessions[i].assumption.at - sw.at).abs() <= 5).min_by_key(
                |&i| {
                    let a = &sessions[i].assumption;
                    (!a.by_console, (a.at - sw.at).abs(), &a.event_id)
                },
            )
        });
        match best {
            Some(i) => {
                taken[i] = true;
                attach.push((i, sw));
            }
            None => alone.push(sw),
        }
    }
    for (i, sw) in attach {
        let s = &mut sessions[i];
        if s.assumption.caller.is("AWSAccount") || s.assumption.caller.kind.is_none() {
            // Only the role owner's copy: SwitchFrom names the user who switched.
            if let Some(from) = &sw.switch_from {
                s.source_principal = from.clone();
                s.origin_principal = from.clone();
            }
        }
        s.assumption.mfa |= sw.mfa_authenticated;
        s.switch = Some(Box::new(sw));
    }
    for sw in alone {
        sessions.push(session_from_switch(sw));
    }
    sessions
}

/// A console switch whose AssumeRole record is missing: the session is rebuilt from the SwitchRole event.
fn session_from_switch(sw: ConsoleSwitch) -> Session {
    let session_arn: Option<Box<str>> = sw.session_arn.as_deref().map(Into::into);
    let (role_arn, session_name) = match session_arn.as_deref().and_then(|a| a.split_once(":assumed-role/")) {
        Some((head, rest)) => {
            let (role, name) = rest.split_once('/').unwrap_or((rest, ""));
            (Some(format!("{}:role/{role}", head.replacen(":sts:", ":iam:", 1)).into()), Some(name.into()))
        }
        None => (None, None),
    };
    let caller = Caller {
        kind: sw.switch_from.as_ref().map(|from| if from.contains(":user/") { "IAMUser" } else { "Unknown" }.into()),
        arn: sw.switch_from.as_deref().map(Into::into),
        account_id: sw.switch_from.as_deref().and_then(crate::extract::account_of).map(Into::into),
        mfa_authenticated: sw.mfa_authenticated,
        ..Caller::default()
    };
    let assumption = Assumption {
        event_id: sw.event_id.clone(),
        hash: sw.hash,
        at: sw.at,
        kind: AssumeKind::AssumeRole,
        region: sw.region.as_deref().map(Into::into),
        recipient_account: sw.account.as_deref().map(Into::into),
        error_code: (!sw.success).then(|| "Failure".into()),
        caller,
        role_arn,
        session_name,
        session_arn,
        source_ip: sw.source_ip.as_deref().map(Into::into),
        user_agent: sw.user_agent.as_deref().map(Into::into),
        mfa: sw.mfa_authenticated,
        by_console: true,
        ..Assumption::default()
    };
    let mut s = new_session(Box::new(assumption), 1);
    if let Some(from) = &sw.switch_from {
        s.source_principal = from.clone();
        s.origin_principal = from.clone();
    }
    s.switch = Some(Box::new(sw));
    s
}

/// Callers that are sessions by their identity type, even when the session's assumption is not in the input.
fn caller_is_session(c: &Caller) -> bool {
    matches!(c.kind.as_deref(), Some("AssumedRole") | Some("FederatedUser"))
}

/// The session whose credentials made each session's assumption.
fn find_parents(sessions: &[&Session], linker: &Linker) -> Vec<Option<usize>> {
    sessions
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let key = s.assumption.caller.activity_key()?;
            let (p, _) = linker.link(&key, s.assumption.at)?;
            // A parent starts no later than its child (in the order sessions are listed: start, then event id).
            (linker.place(p) < linker.place(i)).then_some(p)
        })
        .collect()
}

/// Sets each session's parent, chain depth and origin principal.
fn set_parents(sessions: &mut [Session], parents: &[Option<usize>]) {
    for i in 0..sessions.len() {
        let (depth, origin) = match parents[i] {
            // Parents come earlier in the order, so they are final by now.
            Some(p) => (sessions[p].chain_depth + 1, sessions[p].origin_principal.clone()),
            None if caller_is_session(&sessions[i].assumption.caller) => {
                // Made from a session whose assumption is not in the input: at least two hops, and the
                // furthest identity we can name is the calling session itself.
                (2, sessions[i].source_principal.clone())
            }
            None => (1, sessions[i].origin_principal.clone()),
        };
        sessions[i].parent = parents[i];
        sessions[i].chain_depth = depth;
        sessions[i].origin_principal = origin;
    }
}

/// De-duplicates marks by event id and orders them by time, then action, address and id, so the result
/// does not depend on which file or thread saw a call first; with how many copies were dropped.
fn finish_activity(act: Activity) -> (SessionActivity, u64) {
    let Activity { mut marks, mut event_ids, instance_credentials, .. } = act;
    // A session with several keys holds the ids of each.
    event_ids.settle();
    // Interned values compare by their text (see `intern`): the order is the same in every run.
    let listed = |m: &Mark| (m.at(), m.action, m.ip, m.id);
    marks.sort_unstable_by_key(listed);
    let repeats = repeated_ids(&marks);
    if repeats > 0 {
        // Copies of one call (a duplicate delivery): sorted whole, they are adjacent, and the same one is
        // kept whatever order they came in.
        marks.sort_unstable();
        marks.dedup_by_key(|m| m.id);
        marks.sort_unstable_by_key(listed);
    }
    event_ids.retain_for(&cited_calls(&marks));
    (SessionActivity { event_ids, marks, instance_credentials }, repeats)
}

/// The id hashes, sorted, of the calls whose event ids are kept whatever order the files were read in: the
/// notable calls ([`Mark::is_notable`]) and the first call from each address. Reading keeps the id of every
/// call that was the first from its address when read, which depends on the order; findings that cite "the
/// first call from an address with an id" must not.
fn cited_calls(marks: &[Mark]) -> Vec<u64> {
    // Nearly every session calls from a handful of addresses: a list searched in order, until it is long.
    let mut few: Vec<Text> = Vec::new();
    let mut many: hashbrown::HashSet<Text> = hashbrown::HashSet::new();
    let mut first_from = |ip: Text| {
        if few.len() < 16 {
            let new = !few.contains(&ip);
            if new {
                few.push(ip);
            }
            return new;
        }
        if many.is_empty() {
            many.extend(few.iter().copied());
        }
        many.insert(ip)
    };
    let mut cited: Vec<u64> = Vec::new();
    for m in marks {
        if first_from(m.ip) || m.is_notable() {
            cited.push(m.id);
        }
    }
    cited.sort_unstable();
    cited
}

/// How many calls repeat the event id of an earlier one (nearly never more than none: only duplicate
/// deliveries do).
fn repeated_ids(marks: &[Mark]) -> u64 {
    if marks.len() < 2 {
        return 0;
    }
    let mut ids: Vec<u64> = marks.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    ids.windows(2).filter(|w| w[0] == w[1]).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::TimeWindow;

    #[test]
    fn records_are_counted_once_across_the_threads_lists() {
        let mut next = crate::decode::tests::xorshift(0x9e37_79b9_7f4a_7c15);
        for round in 0..200 {
            // Values drawn from a small range, so that repeats fall within a list and across lists.
            let lists: Vec<Vec<u64>> =
                (0..round % 4).map(|_| (0..next() % 40).map(|_| next() % 50).collect()).collect();
            let mut all: Vec<u64> = lists.concat();
            let n = all.len() as u64;
            all.sort_unstable();
            all.dedup();
            assert_eq!(count_unique(lists.clone()), (all.len() as u64, n - all.len() as u64), "{lists:?}");
        }
    }

    fn facts(records: &[String]) -> Facts {
        let mut f = Facts::default();
        for r in records {
            let rec: crate::record::Record = serde_json::from_str(r).unwrap();
            f.add(&rec, TimeWindow::default());
        }
        f
    }

    fn assume(id: &str, at: &str, caller: &str, session: &str, key: &str) -> String {
        format!(
            r#"{{"eventID":"{id}","eventTime":"{at}","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","userIdentity":{caller},
            "requestParameters":{{"roleArn":"arn:aws:iam::1:role/R","roleSessionName":"{session}"}},
            "responseElements":{{"credentials":{{"accessKeyId":"{key}"}},"assumedRoleUser":{{"arn":"arn:aws:sts::1:assumed-role/R/{session}"}}}}}}"#
        )
    }

    fn used(id: &str, at: &str, session: &str, key: &str, created: &str) -> String {
        format!(
            r#"{{"eventID":"{id}","eventTime":"{at}","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"1.1.1.1",
            "userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/{session}","accessKeyId":"{key}",
            "sessionContext":{{"attributes":{{"creationDate":"{created}"}}}}}}}}"#
        )
    }

    const SERVICE: &str = r#"{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}"#;
    const USER: &str = r#"{"type":"IAMUser","arn":"arn:aws:iam::1:user/u","accessKeyId":"AKIAU"}"#;

    fn counts(s: &Sessions) -> Vec<(String, usize)> {
        s.sessions.iter().map(|x| (x.assumption.event_id.clone(), x.activity.marks.len())).collect()
    }

    #[test]
    fn the_event_ids_kept_do_not_depend_on_the_order_calls_were_read() {
        // Two calls from one address: read later-first, the later one was the first from its address when
        // read, and reading kept its id too. Findings cite "the first call from an address whose id was
        // kept", so the kept ids must be the same either way: the earliest call's.
        let t0 = "2026-11-20T10:00:00Z";
        let early = used("early", "2026-11-20T10:01:00Z", "s", "ASIAK1", t0);
        let late = used("late", "2026-11-20T10:02:00Z", "s", "ASIAK1", t0);
        let kept = |records: &[String]| {
            let s = correlate(facts(records));
            let act = &s.sessions[0].activity;
            act.marks.iter().map(|m| act.event_id(m).map(str::to_owned)).collect::<Vec<_>>()
        };
        assert_eq!(kept(&[early.clone(), late.clone()]), [Some("early".to_owned()), None]);
        assert_eq!(kept(&[late, early]), [Some("early".to_owned()), None]);
    }

    #[test]
    fn the_first_call_from_each_of_many_addresses_is_cited() {
        use crate::extract::{Failure, MarkFields};
        let action = crate::intern::Action::new("s3.amazonaws.com", "GetObject");
        // 40 calls in time order from 20 addresses in turn (past the short list's 16), one of the later
        // ones denied.
        let marks: Vec<Mark> = (0..40u64)
            .map(|i| {
                let ip = Text::new(&format!("198.51.100.{}", i % 20));
                let failure = if i == 33 { Failure::Denied } else { Failure::None };
                let (is_assumption, privileged, by_aws, console_sign_in, attack_tool) =
                    (false, false, false, false, false);
                let at = i as i64;
                MarkFields {
                    id: i,
                    at,
                    action,
                    ip,
                    failure,
                    is_assumption,
                    privileged,
                    by_aws,
                    console_sign_in,
                    attack_tool,
                }
                .into()
            })
            .collect();
        let expected: Vec<u64> = (0..20).chain([33]).collect();
        assert_eq!(cited_calls(&marks), expected);
    }

    #[test]
    fn records_sharing_an_event_id_keep_the_same_one_whatever_the_order() {
        // Two assumptions and two console switches, each pair with one eventID and different contents (a
        // forged or broken log): the same one of each is kept, whichever was read first.
        let switch = |key: &str, at: &str| {
            format!(
                r#"{{"eventID":"sw","eventTime":"{at}","eventSource":"signin.amazonaws.com","eventName":"SwitchRole",
                "userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/{key}"}},
                "responseElements":{{"SwitchRole":"Success"}},"additionalEventData":{{"SwitchFrom":"arn:aws:iam::1:user/u"}}}}"#
            )
        };
        let records = [
            assume("dup", "2026-11-20T10:00:00Z", USER, "first", "ASIAK1"),
            assume("dup", "2026-11-20T10:00:00Z", USER, "second", "ASIAK2"),
            switch("x", "2026-11-20T11:00:00Z"),
            switch("y", "2026-11-20T11:30:00Z"),
        ];
        let kept = |order: &[usize]| {
            let s = correlate(facts(&order.iter().map(|&i| records[i].clone()).collect::<Vec<_>>()));
            s.sessions
                .iter()
                .map(|x| format!("{} {:?}", x.assumption.event_id, x.assumption.session_arn))
                .collect::<Vec<_>>()
        };
        let forward = kept(&[0, 1, 2, 3]);
        assert_eq!(forward.len(), 2, "one session per event id: {forward:?}");
        assert_eq!(kept(&[1, 0, 3, 2]), forward);
    }

    #[test]
    fn linking_rules() {
        // (name, records, expected (event id, event count) per session in order)
        let t0 = "2026-11-20T10:00:00Z";
        type Case<'a> = (&'a str, Vec<String>, Vec<(&'a str, usize)>);
        let cases: Vec<Case> = vec![
            (
                "three keys for one instance in one second: each call goes to its key's session",
                vec![
                    assume("a", t0, SERVICE, "i-1", "ASIAK1"),
                    assume("b", t0, SERVICE, "i-1", "ASIAK2"),
                    assume("c", t0, SERVICE, "i-1", "ASIAK3"),
                    used("u1", "2026-11-20T10:01:00Z", "i-1", "ASIAK2", t0),
                    used("u2", "2026-11-20T10:02:00Z", "i-1", "ASIAK2", t0),
                    used("u3", "2026-11-20T10:02:00Z", "i-1", "ASIAK3", t0),
                ],
                vec![("a", 0), ("b", 2), ("c", 1)],
            ),
            (
                "a recycled key: the creation time picks the session",
                vec![
                    assume("a", t0, USER, "s", "ASIASAME"),
                    assume("b", "2026-11-20T15:00:00Z", USER, "s", "ASIASAME"),
                    used("u1", "2026-11-20T15:01:00Z", "s", "ASIASAME", "2026-11-20T15:00:00Z"),
                ],
                vec![("a", 0), ("b", 1)],
            ),
            (
                "a key no assumption issued, with a session ARN and start that match: the console rule",
                vec![
                    assume("a", t0, USER, "s", "ASIAISSUED"),
                    used("u1", "2026-11-20T10:01:00Z", "s", "ASIACONSOLE", t0),
                ],
                vec![("a", 1)],
            ),
            (
                "duplicates count once",
                vec![
                    assume("a", t0, USER, "s", "ASIAD"),
                    used("u1", "2026-11-20T10:01:00Z", "s", "ASIAD", t0),
                    used("u1", "2026-11-20T10:01:00Z", "s", "ASIAD", t0),
                ],
                vec![("a", 1)],
            ),
        ];
        for (name, records, want) in cases {
            let got = counts(&correlate(facts(&records)));
            let want: Vec<(String, usize)> = want.into_iter().map(|(id, n)| (id.to_owned(), n)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn a_key_read_by_several_threads_is_one_activity() {
        // Each thread's facts keep their own map: the same key in three of them (one holding a duplicate
        // delivery of another's call) is merged by correlation into one activity of the right session.
        let t0 = "2026-11-20T10:00:00Z";
        let mut run = facts(&[assume("a", t0, SERVICE, "i-1", "ASIAK1"), used("u1", t0, "i-1", "ASIAK1", t0)]);
        let other = facts(&[used("u2", "2026-11-20T10:05:00Z", "i-1", "ASIAK1", t0)]);
        let third = facts(&[
            used("u2", "2026-11-20T10:05:00Z", "i-1", "ASIAK1", t0),
            assume("b", t0, SERVICE, "i-2", "ASIAK2"),
        ]);
        run.absorb(other);
        run.absorb(third);
        assert_eq!(run.activity_entries().count(), 3, "the threads' shares are kept apart until correlation");
        let s = correlate(run);
        assert_eq!(counts(&s), vec![("a".into(), 2), ("b".into(), 0)]);
        assert_eq!(s.stats.duplicates, 1);
        let a = &s.sessions[0];
        assert_eq!(a.linked_keys.len(), 1, "one key, not one per thread");
    }

    #[test]
    fn every_kind_of_record_is_counted_once() {
        // A call of a session, a call with an IAM user's long-term key (no session claims it), a service's
        // assumption (no call of any activity), and a chained assumption (both an assumption and a call of
        // its caller's session): each delivered twice, by two threads.
        let t0 = "2026-11-20T10:00:00Z";
        let user_call = format!(
            r#"{{"eventID":"k1","eventTime":"{t0}","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"1.1.1.1","userIdentity":{USER}}}"#
        );
        let chain_caller = r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/i-1","accessKeyId":"ASIAK1","sessionContext":{"attributes":{"creationDate":"2026-11-20T10:00:00Z"}}}"#;
        let records = [
            assume("a", t0, SERVICE, "i-1", "ASIAK1"),
            used("u1", t0, "i-1", "ASIAK1", t0),
            user_call,
            assume("c", "2026-11-20T10:01:00Z", chain_caller, "i-2", "ASIAK2"),
        ];
        let mut run = facts(&records);
        run.absorb(facts(&records));
        let s = correlate(run);
        assert_eq!((s.stats.records, s.stats.duplicates), (4, 4));
        assert_eq!((s.stats.assumption_records, s.stats.unlinked_events), (2, 1));
        assert_eq!(counts(&s), vec![("a".into(), 2), ("c".into(), 0)], "the chained assumption is a's call");
    }

    #[test]
    fn a_call_that_reuses_another_calls_event_id_is_not_counted_as_dropped() {
        // Same eventID, different credentials: not a second delivery of one record (which would be the same
        // call with the same key). Both stay calls of their own sessions, so neither is counted as a
        // duplicate dropped (which it never was), and the counts add up.
        let t0 = "2026-11-20T10:00:00Z";
        let s = correlate(facts(&[
            assume("a", t0, SERVICE, "i-1", "ASIAK1"),
            assume("b", t0, SERVICE, "i-2", "ASIAK2"),
            used("same", t0, "i-1", "ASIAK1", t0),
            used("same", t0, "i-2", "ASIAK2", t0),
        ]));
        assert_eq!(counts(&s), vec![("a".into(), 1), ("b".into(), 1)]);
        assert_eq!((s.stats.records, s.stats.duplicates, s.stats.unlinked_events), (4, 0, 0));
    }

    #[test]
    fn a_parent_must_start_before_its_child() {
        // The "parent" key is only issued after the child assumption: no link, and no cycle.
        let child_caller = r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/p","accessKeyId":"ASIAP",
            "sessionContext":{"attributes":{"creationDate":"2026-11-20T11:00:00Z"}}}"#;
        let s = correlate(facts(&[
            assume("child", "2026-11-20T10:00:00Z", child_caller, "c", "ASIAC"),
            assume("parent", "2026-11-20T11:00:00Z", USER, "p", "ASIAP"),
        ]));
        let child = s.sessions.iter().find(|x| x.assumption.event_id == "child").unwrap();
        assert_eq!(child.parent, None);
        assert_eq!(child.chain_depth, 2, "an AssumedRole caller is a session even when its own assumption is unseen");
    }

    #[test]
    fn start_order_is_time_then_full_event_id() {
        // Ids that share their first sixteen bytes, are shorter than sixteen, or end in NUL: the compact
        // prefix must never decide what only the full id can.
        let mut next = crate::decode::tests::xorshift(0x9e37_79b9_7f4a_7c15);
        let ids = ["", "a", "a\0", "a\0\0", "0123456789abcdef", "0123456789abcdefX", "0123456789abcdef\0", "b"];
        let sessions: Vec<Session> = (0..400)
            .map(|n| {
                let r = next();
                let id = format!(
                    "{}{}",
                    ids[(r % ids.len() as u64) as usize],
                    if r % 3 == 0 { n.to_string() } else { String::new() }
                );
                new_session(Box::new(Assumption { event_id: id, at: (r >> 8) as i64 % 3, ..Assumption::default() }), 1)
            })
            .collect();
        let mut want: Vec<(i64, String)> =
            sessions.iter().map(|s| (s.assumption.at, s.assumption.event_id.clone())).collect();
        want.sort();
        let order = start_order(&sessions.iter().collect::<Vec<_>>());
        let mut sessions = sessions;
        permute(&mut sessions, &order);
        let got: Vec<(i64, String)> =
            sessions.iter().map(|s| (s.assumption.at, s.assumption.event_id.clone())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn permute_puts_each_item_where_the_order_says() {
        let mut next = crate::decode::tests::xorshift(0x2545_f491_4f6c_dd1d);
        for n in 0..60usize {
            // A random order of 0..n (Fisher-Yates), applied to labelled items.
            let mut order: Vec<u32> = (0..n as u32).collect();
            for i in (1..n).rev() {
                order.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            let mut items: Vec<String> = (0..n).map(|i| format!("item {i}")).collect();
            let want: Vec<String> = order.iter().map(|&i| items[i as usize].clone()).collect();
            permute(&mut items, &order);
            assert_eq!(items, want, "order {order:?}");
        }
    }
}
