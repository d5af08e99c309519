//! Intern: one table per process of the strings that repeat across millions of records (API actions,
//! source addresses), so a call made with a session costs two `u32`s instead of owned strings, and the
//! same address seen in a thousand sessions is stored once.
//!
//! Interned strings live until the process exits. Symbol numbers depend on which thread saw a string
//! first, so nothing may depend on them beyond equality: [`Ord`], `Debug` and serde all go through the
//! text, which keeps output byte-identical whatever the thread count.

use std::hash::{BuildHasher, Hash};
use std::sync::{LazyLock, Mutex};

/// Lookups are spread over this many locks, so reader threads rarely wait for each other.
const SHARDS: usize = 32;

/// A table of interned values of type `K` (leaked `&'static` strings or pairs of them).
struct Table<K: 'static> {
    shards: Vec<Mutex<hashbrown::HashMap<K, u32, hashbrown::DefaultHashBuilder>>>,
    /// Values by symbol number; appending never moves earlier values, and reading takes no lock.
    values: boxcar::Vec<K>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl<K: Copy + Eq + Hash> Table<K> {
    fn new() -> Self {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let shards = (0..SHARDS).map(|_| Mutex::new(hashbrown::HashMap::with_hasher(hasher))).collect();
        Table { shards, values: boxcar::Vec::new(), hasher }
    }

    /// The symbol of the value that `probe` describes, interning `make()` when it is new. `probe` must hash
    /// exactly as the `K` it stands for.
    fn intern<Q>(&self, probe: &Q, make: impl FnOnce() -> K) -> u32
    where
        Q: Hash + hashbrown::Equivalent<K> + ?Sized,
    {
        let shard = self.hasher.hash_one(probe) as usize % SHARDS;
        // A poisoned shard only means another thread panicked mid-insert; the map itself is still sound.
        let mut map = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&sym) = map.get(probe) {
            return sym;
        }
        let value = make();
        let sym = u32::try_from(self.values.push(value)).expect("fewer than 4 billion distinct strings");
        map.insert(value, sym);
        sym
    }

    fn get(&self, sym: u32) -> K {
        self.values[sym as usize]
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.into())
}

static TEXTS: LazyLock<Table<&'static str>> = LazyLock::new(Table::new);
static ACTIONS: LazyLock<Table<(&'static str, &'static str)>> = LazyLock::new(Table::new);

/// An interned string (a source address, say).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Text(u32);

impl Text {
    pub fn new(s: &str) -> Text {
        Text(TEXTS.intern(s, || leak(s)))
    }

    pub fn as_str(self) -> &'static str {
        TEXTS.get(self.0)
    }
}

/// So that `Option<Text>` reads like `Option<String>`: `.as_deref()` gives the `&str`.
impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::new(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::new(&s)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An interned API action: `(eventSource, eventName)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Action(u32);

/// A borrowed `(source, name)` that hashes like the interned pair, to look one up without allocating.
#[derive(Hash)]
struct ActionRef<'a>(&'a str, &'a str);

impl hashbrown::Equivalent<(&'static str, &'static str)> for ActionRef<'_> {
    fn equivalent(&self, k: &(&'static str, &'static str)) -> bool {
        self.0 == k.0 && self.1 == k.1
    }
}

impl Action {
    pub fn new(source: &str, name: &str) -> Action {
        Action(ACTIONS.intern(&ActionRef(source, name), || (leak(source), leak(name))))
    }

    /// `(eventSource, eventName)`.
    pub fn get(self) -> (&'static str, &'static str) {
        ACTIONS.get(self.0)
    }
}

macro_rules! by_content {
    ($t:ty, $get:ident) => {
        impl Ord for $t {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                if self == other {
                    return std::cmp::Ordering::Equal;
                }
                self.$get().cmp(&other.$get())
            }
        }
        impl PartialOrd for $t {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.$get().fmt(f)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.$get().serialize(s)
            }
        }
    };
}

by_content!(Text, as_str);
by_content!(Action, get);

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
        Ok(Text::new(&s))
    }
}

impl<'de> serde::Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (source, name): (std::borrow::Cow<'de, str>, std::borrow::Cow<'de, str>) =
            serde::Deserialize::deserialize(d)?;
        Ok(Action::new(&source, &name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_text_is_one_symbol_and_order_follows_the_text() {
        let (b, a) = (Text::new("198.51.100.2"), Text::new("198.51.100.1"));
        assert_eq!(Text::new("198.51.100.2"), b);
        assert_ne!(a, b);
        assert_eq!(b.as_str(), "198.51.100.2");
        assert!(a < b, "ordered by text, not by which was interned first");
        let act = Action::new("s3.amazonaws.com", "GetObject");
        assert_eq!(act, Action::new("s3.amazonaws.com", "GetObject"));
        assert_ne!(act, Action::new("s3.amazonaws.co", "mGetObject"));
        assert_eq!(act.get(), ("s3.amazonaws.com", "GetObject"));
        assert_eq!(format!("{act:?}"), r#"("s3.amazonaws.com", "GetObject")"#);
    }

    #[test]
    fn serde_round_trips_through_the_text() {
        let v = (Text::new("203.0.113.9"), Action::new("iam.amazonaws.com", "CreateUser"));
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, r#"["203.0.113.9",["iam.amazonaws.com","CreateUser"]]"#);
        let back: (Text, Action) = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn threads_agree_on_symbols() {
        let syms: Vec<Vec<Text>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..500).map(|i| Text::new(&format!("10.0.{}.{}", i / 256, i % 256))).collect()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(syms.windows(2).all(|w| w[0] == w[1]));
    }
}
