//! STATE: what one nightly run hands the next, in `STATE/state.json.gz`.
//!
//! * every input already read (location and size), so each file is read once, late ones included;
//! * the extracted facts that can still change a session ([`Carried`]): sessions still open at the cut-off
//!   (their credentials have not expired `--late` ago), their ancestors (so a chained session keeps its depth
//!   and origin), and recent activity that no session claimed yet (a use delivered before its AssumeRole, and
//!   the addresses IAM users called from, which `credentials-used-elsewhere` compares with);
//! * the detection baseline and the findings already reported, so a finding is reported once;
//! * the sessions already written to the history as final, and the history files of the open sessions,
//!   which the next run replaces.
//!
//! The file is written through a temporary name and renamed: it is the run's commit, done last.

use crate::correlate::{by_content, Session, Sessions};
use crate::extract::{merge_shares, Activity, ActivityKey, Assumption, ConsoleSwitch, Facts};
use crate::source::layout::folder_day;
use crate::write;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Read;
use std::path::Path;

/// The state file inside STATE.
pub const FILE: &str = "state.json.gz";

/// The format of [`State`]; a STATE written by another format is refused rather than misread.
const VERSION: u32 = 2;

/// How far before the horizon unclaimed activity is kept: the longest credentials live (GetSessionToken,
/// 36 hours), so a use delivered before its assumption still finds it.
const UNCLAIMED_KEEP: i64 = 36 * 3600;

/// How long the ids of final sessions and reported findings are remembered after they leave the carried
/// facts: a duplicate delivery of an old record within this time is not written or reported again.
const REMEMBER: i64 = 7 * 86_400;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Runs committed so far; run N writes history parts named `…-N.parquet`.
    pub runs: u64,
    /// The cut-off of the last committed run.
    pub last_cutoff: Option<i64>,
    /// Every input read ([`input_key`]: absolute path or `s3://bucket/key`) → size in bytes.
    pub read: BTreeMap<String, u64>,
    /// Inputs whose content could not be decoded (truncated gzip, invalid JSON, …) → their size then. They
    /// are reported by the run that met them and tried again only when their size changes (a file caught
    /// mid-write grows); a file that could not be fetched or opened is not here, and is tried every run.
    #[serde(default)]
    pub undecodable: BTreeMap<String, u64>,
    /// The start of the oldest trail date folder whose files `read` and `undecodable` still name, or of
    /// `--since`'s day: older folders are never listed again, whatever `--relist` says, so their files cannot
    /// be read twice.
    #[serde(default)]
    pub forgotten_before: Option<i64>,
    pub carried: Carried,
    /// `first-seen-assumption`'s (assumer, role) pairs.
    pub baseline: BTreeSet<(String, String)>,
    /// Findings already reported ([`finding_key`]) → when their evidence happened.
    pub reported: BTreeMap<String, i64>,
    /// The rules that flagged each carried session in any run so far (its `flags` column in the history),
    /// by [`Session::run_key`]: a rule that fired while the session was open still names it once it is final.
    pub flagged: BTreeMap<String, BTreeSet<String>>,
    /// Sessions already written to the history as final: [`Session::run_key`] → assumption time.
    pub finalized: BTreeMap<String, i64>,
    /// The history files (relative to OUT) holding the open sessions of the last run.
    pub open_parts: Vec<String>,
}

/// Facts carried from one run to the next (see the module doc).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Carried {
    pub assumptions: Vec<Box<Assumption>>,
    pub switches: Vec<ConsoleSwitch>,
    /// A key read by several threads comes once per thread, each with its share of the calls.
    pub activity: Vec<(ActivityKey, Activity)>,
    pub accounts: BTreeSet<String>,
}

impl Carried {
    /// The carried facts as a run's starting facts.
    pub fn into_facts(self) -> Facts {
        // As reading lists them (`Facts::ids`): the records that are not a call of some activity, which
        // counts its own. A chained assumption is both, and counted as the call.
        let calls: HashSet<u64> = self
            .activity
            .iter()
            .flat_map(|(_, a)| a.marks.iter().filter(|m| m.is_assumption()).map(|m| m.id))
            .collect();
        let mut ids: Vec<u64> = self.assumptions.iter().map(|a| a.hash).filter(|h| !calls.contains(h)).collect();
        ids.extend(self.switches.iter().map(|s| s.hash));
        let mut facts = Facts::default();
        facts.assumptions = self.assumptions;
        facts.switches = self.switches;
        // A key read by several threads was saved once per thread (see `copy`): its shares merge here.
        for (key, mut act) in self.activity {
            act.rebuild_addresses();
            match facts.activity.entry(key) {
                hashbrown::hash_map::Entry::Occupied(mut same) => same.get_mut().absorb(act),
                hashbrown::hash_map::Entry::Vacant(new) => {
                    new.insert(Box::new(act));
                }
            }
        }
        facts.ids = ids;
        facts.accounts = self.accounts;
        facts
    }
}

/// A copy of the facts that matter for carrying (correlation consumes the originals).
pub fn copy(f: &Facts) -> Carried {
    Carried {
        assumptions: f.assumptions.clone(),
        switches: f.switches.clone(),
        activity: f.activity_entries().map(|(k, a)| (k.clone(), a.clone())).collect(),
        accounts: f.accounts.clone(),
    }
}

/// The facts the next run needs: those of the sessions at `keep` (open ones and their ancestors), and
/// activity no session claimed that is recent enough to be claimed yet or to matter to the detections.
pub fn carry(all: Carried, sessions: &Sessions, keep: &[usize], horizon: i64) -> Carried {
    let mut event_ids: HashSet<&str> = HashSet::new();
    let mut shared: HashSet<&str> = HashSet::new();
    let mut keys: HashSet<&ActivityKey> = HashSet::new();
    for &i in keep {
        let s = &sessions.sessions[i];
        event_ids.insert(&s.assumption.event_id);
        if let Some(sh) = &s.assumption.shared_event_id {
            shared.insert(sh);
        }
        if let Some(sw) = &s.switch {
            event_ids.insert(&sw.event_id);
        }
        keys.extend(s.linked_keys.iter());
    }
    let claimed: HashSet<&ActivityKey> = sessions.sessions.iter().flat_map(|s| s.linked_keys.iter()).collect();
    let mut assumptions: Vec<Box<Assumption>> = all
        .assumptions
        .into_iter()
        .filter(|a| {
            event_ids.contains(a.event_id.as_str()) || a.shared_event_id.as_deref().is_some_and(|s| shared.contains(s))
        })
        .collect();
    let mut switches: Vec<ConsoleSwitch> =
        all.switches.into_iter().filter(|s| event_ids.contains(s.event_id.as_str())).collect();
    // The activity of kept sessions, and recent activity no session claims. A key read by several threads
    // was copied once per thread: its shares merge first, so that trimming and the identity fields see all of
    // its calls, as when one thread read them all.
    let mut activity: Vec<(ActivityKey, Activity)> =
        all.activity.into_iter().filter(|(k, _)| keys.contains(k) || !claimed.contains(k)).collect();
    merge_shares(&mut activity);
    let activity = activity
        .into_iter()
        .filter_map(
            |(k, a)| if keys.contains(&k) { Some((k, a)) } else { trim(a, horizon - UNCLAIMED_KEEP).map(|a| (k, a)) },
        )
        .map(|(k, mut a)| {
            a.marks.sort_unstable();
            a.event_ids.settle();
            (k, a)
        })
        .collect();
    // In an order of their own, not the threads': the same input gives the same STATE.
    assumptions.sort_by(|a, b| (a.at, &a.event_id).cmp(&(b.at, &b.event_id)).then_with(|| by_content(a, b)));
    switches.sort_by(|a, b| (a.at, &a.event_id).cmp(&(b.at, &b.event_id)).then_with(|| by_content(a, b)));
    Carried { assumptions, switches, activity, accounts: all.accounts }
}

/// The calls of an activity at or after `since`, or `None` when there are none.
fn trim(mut a: Activity, since: i64) -> Option<Activity> {
    if a.marks.iter().all(|m| m.at() >= since) {
        return Some(a);
    }
    if a.marks.iter().all(|m| m.at() < since) {
        return None;
    }
    a.marks.retain(|m| m.at() >= since);
    // Keep only the addresses and event ids the remaining calls use.
    let mut kept: Vec<u64> = a.marks.iter().map(|m| m.id).collect();
    kept.sort_unstable();
    a.event_ids.retain_for(&kept);
    a.rebuild_addresses();
    Some(a)
}

/// The key a finding is reported under: its rule and session ([`Session::run_key`]), or its rule, principal
/// and time (the day, for [`DAILY_PRINCIPAL_RULES`](crate::detect::DAILY_PRINCIPAL_RULES)).
pub fn finding_key(f: &crate::detect::Finding, sessions: &Sessions) -> String {
    match f.session.and_then(|i| sessions.sessions.get(i)) {
        Some(s) => session_finding_key(f.rule, s.run_key()),
        None if crate::detect::DAILY_PRINCIPAL_RULES.contains(&f.rule) => {
            format!("{}|{}|day {}", f.rule, f.principal, f.detected_at.div_euclid(86_400))
        }
        None => format!("{}|{}|{}", f.rule, f.principal, f.detected_at),
    }
}

/// The key of a finding on the session known as `session_key`.
fn session_finding_key(rule: &str, session_key: &str) -> String {
    format!("{rule}|{session_key}")
}

/// What STATE may know `s` by: its [`Session::run_key`], then, when that differs, its event id, as a STATE
/// written before run keys knew it.
fn state_keys(s: &Session) -> impl Iterator<Item = &str> {
    let legacy = Some(&*s.assumption.event_id).filter(|&id| id != s.run_key());
    std::iter::once(s.run_key()).chain(legacy)
}

/// How STATE names an input: `s3://bucket/key`, or a local file's absolute path, so a run started from
/// another folder, or given the source as an absolute path, still knows the files.
pub fn input_key(display: &str) -> String {
    if display.starts_with("s3://") {
        return display.to_owned();
    }
    std::path::absolute(display).map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| display.to_owned())
}

impl State {
    /// Whether an earlier run read this input (by its display name) at this size, or found it undecodable.
    pub fn has_read(&self, display: &str, size: u64) -> bool {
        let key = input_key(display);
        self.read.get(&key) == Some(&size) || self.undecodable.get(&key) == Some(&size)
    }

    /// Whether an earlier run reported this finding.
    pub fn has_reported(&self, f: &crate::detect::Finding, sessions: &Sessions) -> bool {
        match f.session.and_then(|i| sessions.sessions.get(i)) {
            Some(s) => state_keys(s).any(|k| self.reported.contains_key(&session_finding_key(f.rule, k))),
            None => self.reported.contains_key(&finding_key(f, sessions)),
        }
    }

    /// The rules that flagged `s` in earlier runs.
    pub fn flagged_before(&self, s: &Session) -> Option<&BTreeSet<String>> {
        state_keys(s).find_map(|k| self.flagged.get(k))
    }

    /// Whether an earlier run wrote `s` to the history as final.
    pub fn has_finalized(&self, s: &Session) -> bool {
        state_keys(s).any(|k| self.finalized.contains_key(k))
    }

    /// Forgets the inputs of trail date folders dated more than `relist` before the newest folder read: the
    /// next runs list only later folders ([`State::forgotten_before`]). Never goes back to folders already
    /// forgotten, so no file is read twice.
    pub fn forget_old_folders(&mut self, relist: i64) {
        // Each key's folder date, parsed once; `retain` visits the keys in the same (sorted) order.
        let days: Vec<Option<i64>> = self.read.keys().map(|k| folder_day(k)).collect();
        let Some(newest) = days.iter().flatten().max() else { return };
        let from = crate::timefmt::midnight(newest - relist);
        let from = self.forgotten_before.map_or(from, |f| from.max(f));
        let mut day = days.into_iter();
        self.read.retain(|_, _| day.next().flatten().is_none_or(|day| day >= from));
        self.undecodable.retain(|k, _| folder_day(k).is_none_or(|day| day >= from));
        self.forgotten_before = Some(from);
    }

    /// Forgets final sessions and reported findings old enough that no record of theirs can come again.
    pub fn prune(&mut self, horizon: i64) {
        let cut = horizon - REMEMBER;
        self.finalized.retain(|_, at| *at >= cut);
        self.reported.retain(|_, at| *at >= cut);
    }
}

/// Reads STATE, or an empty state for a folder that has none yet.
pub fn load(dir: &Path) -> Result<State> {
    let path = dir.join(FILE);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(State { version: VERSION, ..State::default() })
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot read {}", path.display()))),
    };
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).with_context(|| {
        format!("{} is damaged (not gzip, or truncated): restore it from a backup, or start over with an empty STATE folder", path.display())
    })?;
    let state: State = serde_json::from_str(&text).with_context(|| {
        format!("{} is not a trailscan nightly state (or was written by another version)", path.display())
    })?;
    if state.version != VERSION {
        bail!(
            "{} has format {} but this trailscan reads format {VERSION}: use the trailscan that wrote it",
            path.display(),
            state.version
        );
    }
    Ok(state)
}

/// Writes STATE atomically: the commit of a run. The JSON is compressed as it is written: whole, the carried
/// facts of a busy day made a text of hundreds of megabytes, the run's peak.
pub fn save(dir: &Path, state: &State) -> Result<()> {
    write::atomically(&dir.join(FILE), |w| {
        let gz = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
        let mut json = std::io::BufWriter::with_capacity(1 << 16, gz);
        serde_json::to_writer(&mut json, state)?;
        json.into_inner().map_err(|e| e.into_error())?.finish()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{id_hash, Action, EventIds, Failure, Mark, MarkFields, Text};

    /// A call whose event id is `event_id`.
    fn mark(event_id: &str, at: i64, action: &str, ip: &str) -> Mark {
        Mark::from(MarkFields {
            id: id_hash(event_id),
            at,
            action: Action::new("s3.amazonaws.com", action),
            ip: Text::new(ip),
            failure: Failure::None,
            is_assumption: false,
            privileged: false,
            by_aws: false,
            console_sign_in: false,
            attack_tool: false,
        })
    }

    #[test]
    fn a_key_saved_once_per_thread_is_one_activity_again() {
        let key = ActivityKey::new(Some("ASIAK1"), None, None).unwrap();
        let share = |at: i64, event_id: &str| {
            let mut act = Activity::default();
            act.marks = vec![mark(event_id, at, "ListBuckets", "198.51.100.1")];
            act.event_ids = EventIds::settled(&[event_id]);
            act.rebuild_addresses();
            act
        };
        let mut run = Facts::default();
        run.activity.insert(key.clone(), Box::new(share(1, "e1")));
        let mut other = Facts::default();
        other.activity.insert(key.clone(), Box::new(share(2, "e2")));
        run.absorb(other);
        let carried = copy(&run);
        assert_eq!(carried.activity.len(), 2, "saved as the threads held it");
        let facts = carried.into_facts();
        assert_eq!(facts.activity_entries().count(), 1);
        let mut act = facts.activity[&key].clone();
        act.event_ids.settle();
        let cited: Vec<(i64, Option<&str>)> = act.marks.iter().map(|m| (m.at(), act.event_ids.get(m.id))).collect();
        assert_eq!(cited, vec![(1, Some("e1")), (2, Some("e2"))], "each call still cites its own event id");
        assert!(facts.ids.is_empty(), "calls are counted by their marks, as when read");
    }

    #[test]
    fn a_key_read_by_two_threads_is_carried_as_one_thread_would_carry_it() {
        // The key's older call, which trimming drops, said the credentials were a role session's; its newer
        // call says otherwise. Read by one thread, the activity settles on the smaller value over both calls
        // and keeps it when the old call is trimmed; read by two, each share settled alone, and the old
        // share was dropped whole with what it knew.
        let key = ActivityKey::new(Some("ASIAK1"), None, None).unwrap();
        let since = 10_000;
        let share = |at: i64, event_id: &str, kind: &str| {
            let mut act = Activity::default();
            act.marks = vec![mark(event_id, at, "ListBuckets", "198.51.100.1")];
            act.event_ids = EventIds::settled(&[event_id]);
            act.identity_type = Some(kind.into());
            act.rebuild_addresses();
            act
        };
        let carried = |shares: Vec<Activity>| {
            let all =
                Carried { activity: shares.into_iter().map(|a| (key.clone(), a)).collect(), ..Carried::default() };
            let out = carry(all, &Sessions::default(), &[], since + UNCLAIMED_KEEP);
            out.activity.iter().map(|(_, a)| (a.identity_type.map(|t| t.as_str()), a.marks.len())).collect::<Vec<_>>()
        };
        let mut one_thread = share(since - 1, "old", "AssumedRole");
        one_thread.absorb(share(since + 1, "new", "IAMUser"));
        assert_eq!(carried(vec![one_thread]), [(Some("AssumedRole"), 1)]);
        let two_threads = vec![share(since - 1, "old", "AssumedRole"), share(since + 1, "new", "IAMUser")];
        assert_eq!(carried(two_threads), [(Some("AssumedRole"), 1)]);
    }

    #[test]
    fn trimming_keeps_recent_calls_and_their_tables() {
        let mut act = Activity::default();
        let (a1, a2) = ("198.51.100.1", "198.51.100.2");
        act.marks =
            vec![mark("e1", 10, "ListBuckets", a1), mark("e2", 20, "GetObject", a2), mark("e3", 30, "ListBuckets", a2)];
        act.rebuild_addresses();
        act.event_ids = EventIds::settled(&["e1", "e2"]);
        act.identity_type = Some("IAMUser".into());
        assert!(trim(act.clone(), 31).is_none(), "nothing recent: dropped");
        assert_eq!(trim(act.clone(), 10).unwrap().marks.len(), 3, "all recent: kept whole");
        let t = trim(act, 20).unwrap();
        let calls: Vec<(i64, &str, &str, Option<&str>)> =
            t.marks.iter().map(|m| (m.at(), m.action.get().1, m.ip.as_str(), t.event_ids.get(m.id))).collect();
        assert_eq!(calls, [(20, "GetObject", "198.51.100.2", Some("e2")), (30, "ListBuckets", "198.51.100.2", None)]);
        let first_from = (Text::new(a2), (20, Action::new("s3.amazonaws.com", "GetObject"), id_hash("e2")));
        assert_eq!((t.ips.as_slice(), t.event_ids.len()), ([first_from].as_slice(), 1), "only what the calls use");
        assert_eq!(t.identity_type.as_deref(), Some("IAMUser"));
    }

    #[test]
    fn a_cross_account_session_is_known_by_its_shared_event_id_and_by_its_event_id_before() {
        use crate::detect::fixture::{sessions_of, user_session, ROLE_ADMIN, T0};
        let mut s = user_session("owner-copy", T0, ROLE_ADMIN);
        s.assumption.shared_event_id = Some("shared-1".into());
        assert_eq!(s.run_key(), "shared-1");
        let sessions = sessions_of(vec![s]);
        let finding = crate::detect::Finding {
            rule: "privileged-action-in-session",
            severity: crate::detect::Severity::High,
            detected_at: T0,
            session: Some(0),
            session_arn: None,
            access_key_id: None,
            principal: String::new(),
            role_arn: None,
            summary: String::new(),
            event_ids: Vec::new(),
            related_sessions: Vec::new(),
            source_ips: Vec::new(),
        };
        assert_eq!(finding_key(&finding, &sessions), "privileged-action-in-session|shared-1");
        let s = &sessions.sessions[0];
        let mut now = State::default();
        now.reported.insert("privileged-action-in-session|shared-1".into(), T0);
        now.flagged.insert("shared-1".into(), BTreeSet::from(["privileged-action-in-session".to_owned()]));
        now.finalized.insert("shared-1".into(), T0);
        // A STATE written before run keys knew the session by the event id it showed.
        let mut before = State::default();
        before.reported.insert("privileged-action-in-session|owner-copy".into(), T0);
        before.flagged.insert("owner-copy".into(), BTreeSet::from(["privileged-action-in-session".to_owned()]));
        before.finalized.insert("owner-copy".into(), T0);
        for st in [&now, &before] {
            assert!(st.has_reported(&finding, &sessions));
            assert!(st.flagged_before(s).is_some_and(|rules| rules.contains("privileged-action-in-session")));
            assert!(st.has_finalized(s));
        }
        let empty = State::default();
        assert!(
            !empty.has_reported(&finding, &sessions) && empty.flagged_before(s).is_none() && !empty.has_finalized(s)
        );
    }

    #[test]
    fn state_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = load(dir.path()).unwrap();
        assert_eq!(st.runs, 0);
        st.runs = 4;
        st.read.insert(input_key("a.json.gz"), 12);
        st.baseline.insert(("alice".into(), "role/Admin".into()));
        save(dir.path(), &st).unwrap();
        let back = load(dir.path()).unwrap();
        assert_eq!((back.runs, back.has_read("a.json.gz", 12), back.has_read("a.json.gz", 13)), (4, true, false));
        assert_eq!(back.baseline, st.baseline);
        std::fs::write(dir.path().join(FILE), b"not gzip").unwrap();
        assert!(format!("{:#}", load(dir.path()).unwrap_err()).contains("damaged"));
    }
}
