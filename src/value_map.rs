//! Hash maps keyed by values read from the data: foldhash, several times SipHash's speed on
//! short keys, seeded from the operating system's random source, so that values chosen to
//! collide cannot be chosen in advance.

use std::collections::HashMap;
use std::sync::OnceLock;

use foldhash::SharedSeed;
use foldhash::fast::SeedableRandomState;

/// A hash map keyed by values from the data.
pub type ValueMap<K, V> = HashMap<K, V, SeedableRandomState>;

/// An empty [`ValueMap`], its hasher seeded at random.
pub fn value_map<K, V>() -> ValueMap<K, V> {
    static SHARED: OnceLock<SharedSeed> = OnceLock::new();
    let shared = SHARED.get_or_init(|| SharedSeed::from_u64(random()));
    HashMap::with_hasher(SeedableRandomState::with_seed(random(), shared))
}

/// A random number, or where the system has none to give, foldhash's own (the stack's address
/// and the time): the maps stay correct, only less hard to flood.
fn random() -> u64 {
    getrandom::u64().unwrap_or_else(|_| std::hash::BuildHasher::hash_one(&SeedableRandomState::random(), 0u8))
}
