//! The seeded random source of every randomized test: the seed comes from
//! `HOSTILE_SEED`, or the clock, and is printed if a test fails.

use std::thread;

/// SplitMix64: small, seedable, good enough to pick test inputs.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 0..n
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// true with probability `percent`/100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Prints the seed if the test fails, wherever it fails.
pub(crate) struct SeedReport(pub(crate) u64);

impl Drop for SeedReport {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "hostile: failed with seed {0}; replay with HOSTILE_SEED={0}",
                self.0
            );
        }
    }
}

pub(crate) fn seed() -> u64 {
    match std::env::var("HOSTILE_SEED") {
        Ok(s) => s.parse().expect("HOSTILE_SEED must be an integer"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}
