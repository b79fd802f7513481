//! Named counters that an edge (the socket) bumps and the snapshot reads:
//! atomics, so neither side ever waits for the other.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct Counters {
    names: Vec<&'static str>,
    values: Vec<AtomicU64>,
}

impl Counters {
    pub fn new(names: &[&'static str]) -> Counters {
        Counters {
            names: names.to_vec(),
            values: names.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Adds one to `name`; names not declared at creation are ignored.
    pub fn bump(&self, name: &str) {
        if let Some(i) = self.names.iter().position(|n| *n == name) {
            self.values[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn read(&self) -> BTreeMap<String, u64> {
        self.names
            .iter()
            .zip(&self.values)
            .map(|(name, value)| (name.to_string(), value.load(Ordering::Relaxed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_known_names_only() {
        let c = Counters::new(&["a", "b"]);
        c.bump("a");
        c.bump("a");
        c.bump("zzz");
        assert_eq!(
            c.read(),
            BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 0)])
        );
    }
}
