//! Activity: the calls made with one set of credentials ([`ActivityKey`]), as a thread reads them, with
//! what it takes to undo the file being read (a file that turns out unreadable contributes nothing) and to
//! keep the answer the same whatever order files are read in (identity fields that settle, the earliest
//! call from each address).

use super::{ActivityKey, EventIds, Mark};
use crate::intern::{Action, Text};
use serde::{Deserialize, Serialize};

/// Calls by the credentials they were made with. Boxed: a hash table keeps about twice as many slots as
/// entries, and an activity in each slot made the tables a fifth of the memory held at the end of reading.
pub type ActivityMap = hashbrown::HashMap<ActivityKey, Box<Activity>>;

/// The calls made with one [`ActivityKey`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Activity {
    /// The distinct source addresses of the calls, each with the earliest of its calls so far (see
    /// [`CallOrder`]). A call from a new address, or earlier than every other call from its address, keeps
    /// its event id: findings cite the first call from an address, and that must not depend on which file
    /// was read first. Not saved: [`Activity::rebuild_addresses`] derives it from the marks.
    #[serde(skip)]
    pub ips: Vec<(Text, CallOrder)>,
    pub marks: Vec<Mark>,
    /// Event ids of notable calls, found by [`Mark::id`].
    pub event_ids: EventIds,
    /// What the records say about the identity, for sessions whose assumption is not in the input:
    /// `userIdentity.type` and `sessionContext.sessionIssuer.arn`. Should records of one key disagree,
    /// the smallest value is kept ([`settle`]), so the answer does not depend on which was read first.
    /// Interned: a handful of types, and a role's ARN repeats in every session of the role.
    pub identity_type: Option<Text>,
    pub issuer_arn: Option<Text>,
    /// Some call carried `sessionContext.ec2RoleDelivery`: EC2 instance-metadata credentials.
    pub instance_credentials: bool,
    /// How this activity stood before the file being read first touched it, to undo that file. Only
    /// meaningful while a file is being read: never saved.
    #[serde(skip)]
    undo: Undo,
}

/// Where a call stands among the calls from one address, in the order a session's calls are listed (time,
/// action, event id hash: `correlate::finish_activity`).
pub type CallOrder = (i64, Action, u64);

/// An [`Activity`]'s `identity_type` and `issuer_arn`.
type IdentityFields = (Option<Text>, Option<Text>);

/// An [`Activity`]'s state when a file first touched it (see `Facts::begin_file`).
#[derive(Debug, Clone, Default)]
struct Undo {
    /// The file (its [`Facts::epoch`]) this snapshot belongs to; 0: none.
    epoch: u32,
    /// The file created the activity: undoing it removes the activity.
    created: bool,
    marks: u32,
    event_ids: u32,
    /// `identity_type` and `issuer_arn` before the file changed them; `None` while it has not.
    identity: Option<Box<IdentityFields>>,
    instance_credentials: bool,
}

/// Keeps, of what an identity field already holds and another reading of it, the one chosen whatever order
/// the readings come in: a value over none, then the smallest. `seen` is a record's text, or another share's
/// interned value (then not interned again).
fn settle<S: std::ops::Deref<Target = str> + Into<Text>>(kept: &mut Option<Text>, seen: Option<S>) {
    if replaces(kept.as_deref(), seen.as_deref()) {
        *kept = seen.map(Into::into);
    }
}

/// Whether [`settle`] would replace `kept` with `seen`.
fn replaces(kept: Option<&str>, seen: Option<&str>) -> bool {
    match (kept, seen) {
        (None, Some(_)) => true,
        (Some(old), Some(new)) => new < old,
        _ => false,
    }
}

/// Pushes onto one of an activity's lists, growing it in smaller steps than `Vec::push` does. Most lists
/// stay short (a session's one address, a handful of calls), and doubling, from a first capacity of four,
/// left a third of the calls' memory unused at the end of reading, when memory peaks. Capacity goes 1, 2,
/// 4, 8, then up by a quarter to an eighth at a time (10, 12, 14, 16, 20, …): for the 16- and 32-byte
/// items here, mimalloc's own size classes, so what is asked for is what is used. On a million records
/// the peak fell by a tenth; the extra copying did not show in whole-run timings.
pub(super) fn push_snug<T>(list: &mut Vec<T>, item: T) {
    if list.len() == list.capacity() {
        list.reserve_exact(snug_step(list.len()));
    }
    list.push(item);
}

/// How much [`push_snug`] grows a full list of `len`.
fn snug_step(len: usize) -> usize {
    match len {
        0 => 1,
        1..8 => len,
        _ => 1 << (len.ilog2() - 2),
    }
}

impl Activity {
    /// A new activity, created by the file being read (`epoch`), with its first record's identity fields.
    pub(super) fn created_by(epoch: u32, kind: Option<&str>, issuer_arn: Option<&str>) -> Box<Activity> {
        Box::new(Activity {
            identity_type: kind.map(Text::new),
            issuer_arn: issuer_arn.map(Text::new),
            undo: Undo { epoch, created: true, ..Undo::default() },
            ..Activity::default()
        })
    }

    /// Notes that the file being read (`epoch`) touches this activity: the first time, what it holds now is
    /// what undoing the file returns it to.
    pub(super) fn touch(&mut self, epoch: u32) {
        if self.undo.epoch != epoch {
            self.undo = Undo {
                epoch,
                created: false,
                marks: self.marks.len() as u32,
                event_ids: self.event_ids.len() as u32,
                identity: None,
                instance_credentials: self.instance_credentials,
            };
        }
    }

    /// Undoes what the file `epoch` added; false when the file created this activity (remove it).
    pub(super) fn undo_file(&mut self, epoch: u32) -> bool {
        if self.undo.epoch != epoch {
            return true;
        }
        let u = std::mem::take(&mut self.undo);
        if u.created {
            return false;
        }
        self.marks.truncate(u.marks as usize);
        self.rebuild_addresses();
        self.event_ids.truncate(u.event_ids as usize);
        if let Some(before) = u.identity {
            (self.identity_type, self.issuer_arn) = *before;
        }
        self.instance_credentials = u.instance_credentials;
        true
    }

    /// Notes a call's address; true when no call of this activity from that address comes before it.
    pub(super) fn note_ip(&mut self, ip: Text, order: CallOrder) -> bool {
        match self.ips.iter_mut().find(|(known, _)| *known == ip) {
            Some((_, first)) if order < *first => {
                *first = order;
                true
            }
            Some(_) => false,
            None => {
                push_snug(&mut self.ips, (ip, order));
                true
            }
        }
    }

    /// Derives the addresses and their earliest calls from the marks: after marks were removed (a file
    /// undone, old calls trimmed) or when the activity was loaded.
    pub fn rebuild_addresses(&mut self) {
        self.ips.clear();
        let marks = std::mem::take(&mut self.marks);
        for m in &marks {
            self.note_ip(m.ip, (m.at(), m.action, m.id));
        }
        self.marks = marks;
    }

    /// Settles the identity fields with one more record's reading of them, keeping what they were before
    /// the file being read changed them, to undo it.
    pub(super) fn settle_identity(&mut self, kind: Option<&str>, issuer_arn: Option<&str>) {
        // Nearly always the same readings again: nothing to change, nothing to copy.
        if !replaces(self.identity_type.as_deref(), kind) && !replaces(self.issuer_arn.as_deref(), issuer_arn) {
            return;
        }
        if self.undo.identity.is_none() && !self.undo.created {
            self.undo.identity = Some(Box::new((self.identity_type, self.issuer_arn)));
        }
        settle(&mut self.identity_type, kind);
        settle(&mut self.issuer_arn, issuer_arn);
    }

    /// The time of the earliest call.
    pub fn first_use(&self) -> Option<i64> {
        self.marks.iter().map(Mark::at).min()
    }

    /// Appends another activity's calls.
    pub fn absorb(&mut self, other: Activity) {
        settle(&mut self.identity_type, other.identity_type);
        settle(&mut self.issuer_arn, other.issuer_arn);
        self.instance_credentials |= other.instance_credentials;
        if self.marks.is_empty() && self.ips.is_empty() && self.event_ids.is_empty() {
            // Nothing to merge with (most sessions have one key): take the other's vectors as they are.
            (self.ips, self.marks, self.event_ids) = (other.ips, other.marks, other.event_ids);
            return;
        }
        for (ip, first) in other.ips {
            self.note_ip(ip, first);
        }
        self.event_ids.extend(other.event_ids);
        self.marks.extend(other.marks);
    }
}

/// Puts activity entries in key order and merges the shares of a key that several threads read (each with
/// its part of the calls, and identity fields settled over that part) into one, as if one thread had read
/// them all. The order the shares merge in shows nowhere: calls are put in order and event ids settled
/// after, and the identity fields settle on the same value in any order.
pub fn merge_shares<A: std::borrow::BorrowMut<Activity> + Send>(entries: &mut Vec<(ActivityKey, A)>) {
    use rayon::prelude::*;
    entries.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1.borrow_mut().absorb(std::mem::take(later.1.borrow_mut()));
        }
        same
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_lists_grow_in_small_steps() {
        let mut list: Vec<u32> = Vec::new();
        let mut capacities = vec![];
        for i in 0..100 {
            push_snug(&mut list, i);
            if capacities.last() != Some(&list.capacity()) {
                capacities.push(list.capacity());
            }
        }
        assert_eq!(capacities, [1, 2, 4, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112]);
        assert_eq!(list, (0..100).collect::<Vec<_>>());
    }
}
