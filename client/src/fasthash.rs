//! The hash map of the I/O thread's per-message lookups (request ids, topic
//! names): foldhash, the same well-kept hasher the broker's engine uses,
//! several times faster than the std SipHash on such short keys.

use std::collections::HashMap;

/// `HashMap` with foldhash's fast, per-map randomly seeded hasher.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
