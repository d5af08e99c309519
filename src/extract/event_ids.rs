//! Event ids kept for citing: the `eventID`s of an activity's notable calls (failures, the first call from
//! each address, privileged actions), found by the call's [`Mark::id`](super::Mark), the hash of its
//! `eventID`. Keeping every id would cost memory in proportion to the input; a mark holds no index into
//! this list, which keeps it to 24 bytes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The ids, each with its hash ([`super::id_hash`]). Pushed in reading order (so that undoing a file is a
/// truncation); [`EventIds::settle`] sorts them by hash before anything looks one up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventIds(Vec<(u64, Box<str>)>);

impl EventIds {
    /// Keeps `id`, whose hash is `hash`.
    pub fn push(&mut self, hash: u64, id: &str) {
        super::activity::push_snug(&mut self.0, (hash, id.into()));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Drops the ids pushed after the first `len`.
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// Adds another list's ids (unsettled until [`EventIds::settle`]).
    pub fn extend(&mut self, other: EventIds) {
        if self.0.is_empty() {
            self.0 = other.0;
        } else {
            self.0.extend(other.0);
        }
    }

    /// Sorts the ids by hash and drops repeats (the copies of a call delivered twice), for lookups.
    pub fn settle(&mut self) {
        if self.0.len() > 1 {
            self.0.sort_unstable();
            self.0.dedup_by_key(|(hash, _)| *hash);
        }
    }

    /// The id whose hash is `hash`, if it was kept. The list must be settled.
    pub fn get(&self, hash: u64) -> Option<&str> {
        debug_assert!(self.0.is_sorted_by_key(|(h, _)| *h), "look ids up only once settled");
        let at = self.0.binary_search_by_key(&hash, |(h, _)| *h).ok()?;
        Some(&self.0[at].1)
    }

    /// A settled list of `ids`, for tests.
    #[cfg(test)]
    pub fn settled(ids: &[&str]) -> EventIds {
        let mut list = EventIds::default();
        for id in ids {
            list.push(super::id_hash(id), id);
        }
        list.settle();
        list
    }

    /// Keeps only the ids of the calls whose hashes `wanted` holds (sorted).
    pub fn retain_for(&mut self, wanted: &[u64]) {
        self.0.retain(|(hash, _)| wanted.binary_search(hash).is_ok());
    }
}

/// Saved as the list of ids alone: each hash follows from its id.
impl Serialize for EventIds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(_, id)| id))
    }
}

impl<'de> Deserialize<'de> for EventIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ids = Vec::<Box<str>>::deserialize(d)?;
        let mut list = EventIds(ids.into_iter().map(|id| (super::id_hash(&id), id)).collect());
        list.settle();
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::id_hash;

    #[test]
    fn ids_are_found_by_their_hash_once_settled() {
        let l = EventIds::settled(&["c", "a", "b", "a"]);
        assert_eq!(l.len(), 3, "a call delivered twice keeps its id once");
        for id in ["a", "b", "c"] {
            assert_eq!(l.get(id_hash(id)), Some(id));
        }
        assert_eq!(l.get(id_hash("d")), None);
    }

    #[test]
    fn saved_as_the_ids_and_loaded_with_their_hashes() {
        let l = EventIds::settled(&["e2", "e1"]);
        let text = serde_json::to_string(&l).unwrap();
        assert_eq!(serde_json::from_str::<EventIds>(&text).unwrap(), l);
        // An unsorted list, as an older STATE saved it, loads settled.
        let loaded: EventIds = serde_json::from_str(r#"["e2","e1","e3"]"#).unwrap();
        assert_eq!(loaded.get(id_hash("e3")), Some("e3"));
    }
}
