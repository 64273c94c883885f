//! The producer's values: a uniform random sample *without replacement* from `min..=max`, drawn
//! lazily, so values are distinct within a run by construction rather than by luck.
//!
//! The algorithm is a partial Fisher–Yates shuffle over a *virtual* array `0..len`: only the
//! slots that have been swapped are stored, in a hash map, so drawing k values costs O(k) time
//! and O(k) memory whatever the size of the range.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::options::range_len;

pub struct Sample {
    rng: StdRng,
    min: i64,
    len: u64,
    remaining: u64,
    next: u64,
    /// Slots of the virtual array that no longer hold their own index.
    moved: HashMap<u64, u64>,
}

impl Sample {
    /// `count` distinct values from `min..=max`, reproducible from `seed`.
    /// The caller guarantees `count <= max - min + 1` (see `RunOptions::validate`).
    pub fn new(seed: u64, min: i64, max: i64, count: u64) -> Sample {
        let len = range_len(min, max);
        Sample {
            rng: StdRng::seed_from_u64(seed),
            min,
            len,
            remaining: count.min(len),
            next: 0,
            moved: HashMap::new(),
        }
    }
}

impl Iterator for Sample {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let i = self.next;
        self.next += 1;
        let j = self.rng.random_range(i..self.len);
        // Swap slots i and j of the virtual array, then slot i is never read again.
        let at_j = self.moved.get(&j).copied().unwrap_or(j);
        let at_i = self.moved.remove(&i).unwrap_or(i);
        if j != i {
            self.moved.insert(j, at_i);
        }
        Some((self.min as i128 + at_j as i128) as i64)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn values_are_distinct_and_in_range() {
        for seed in 0..200 {
            let values: Vec<i64> = Sample::new(seed, 1, 100, 12).collect();
            assert_eq!(values.len(), 12);
            assert!(values.iter().all(|v| (1..=100).contains(v)));
            assert_eq!(
                values.iter().collect::<HashSet<_>>().len(),
                12,
                "seed {seed}: {values:?}"
            );
        }
    }

    #[test]
    fn drawing_the_whole_range_is_a_permutation() {
        let mut values: Vec<i64> = Sample::new(7, 5, 14, 10).collect();
        values.sort();
        assert_eq!(values, (5..=14).collect::<Vec<_>>());
    }

    #[test]
    fn the_same_seed_gives_the_same_values() {
        let a: Vec<i64> = Sample::new(42, 1, 100, 12).collect();
        let b: Vec<i64> = Sample::new(42, 1, 100, 12).collect();
        let c: Vec<i64> = Sample::new(43, 1, 100, 12).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn huge_ranges_need_no_memory_per_range_element() {
        let values: Vec<i64> = Sample::new(1, 0, i64::MAX, 1000).collect();
        assert_eq!(values.iter().collect::<HashSet<_>>().len(), 1000);
    }

    /// Every value of 1..=10 should be first about equally often: a chi-square test over 20k
    /// seeded draws with a threshold (p ≈ 0.0001 for 9 degrees of freedom) that a correct
    /// sampler fails about once in ten thousand runs — and never, with these fixed seeds.
    #[test]
    fn first_value_is_uniform_over_the_range() {
        let draws = 20_000u64;
        let mut counts = [0u64; 10];
        for seed in 0..draws {
            let first = Sample::new(seed, 1, 10, 3).next().unwrap();
            counts[(first - 1) as usize] += 1;
        }
        let expected = draws as f64 / 10.0;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 33.7, "chi2 {chi2}, counts {counts:?}");
    }

    /// Each position of the sample is uniform too (the last of 3 draws from 1..=5).
    #[test]
    fn later_positions_are_uniform_as_well() {
        let draws = 20_000u64;
        let mut counts = [0u64; 5];
        for seed in 0..draws {
            let third = Sample::new(seed, 1, 5, 3).nth(2).unwrap();
            counts[(third - 1) as usize] += 1;
        }
        let expected = draws as f64 / 5.0;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 23.5, "chi2 {chi2}, counts {counts:?}");
    }
}
