//! A streaming quantile sketch for latencies, with bounded memory and a bounded
//! relative error.
//!
//! Values are counted in logarithmic buckets `(γ^(i-1), γ^i]` with
//! `γ = (1 + α) / (1 - α)` and `α = 1%`, and a quantile is answered with the middle of
//! its bucket, `2γ^i / (γ + 1)`, which is within `α` of every value in the bucket. So
//! every reported p50/p95/p99 is within 1% (relative) of a true sample at that rank,
//! whatever the distribution. The bucket range of all of `u64` is about 2,200 buckets
//! (about 17 KiB), however many values are added; the exact minimum and maximum are kept
//! too, and estimates are clamped to them.

/// Relative accuracy of every quantile estimate.
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// Counts of values (nanoseconds) in logarithmic buckets.
#[derive(Debug, Clone)]
pub struct Sketch {
    ln_gamma: f64,
    zeros: u64,
    first_index: i32,
    counts: Vec<u64>,
    count: u64,
    min: u64,
    max: u64,
}

impl Default for Sketch {
    fn default() -> Self {
        let gamma = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);
        Self {
            ln_gamma: gamma.ln(),
            zeros: 0,
            first_index: 0,
            counts: Vec::new(),
            count: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

impl Sketch {
    /// Adds one value.
    pub fn add(&mut self, value: u64) {
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value == 0 {
            self.zeros += 1;
            return;
        }
        let index = ((value as f64).ln() / self.ln_gamma).ceil() as i32;
        if self.counts.is_empty() {
            self.first_index = index;
        }
        if index < self.first_index {
            let grow = (self.first_index - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.first_index = index;
        }
        let slot = (index - self.first_index) as usize;
        if slot >= self.counts.len() {
            self.counts.resize(slot + 1, 0);
        }
        self.counts[slot] += 1;
    }

    /// The value at quantile `q` (0.0 to 1.0), within [`RELATIVE_ACCURACY`]; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        if q >= 1.0 {
            return Some(self.max);
        }
        // Nearest rank: the smallest value with at least q of all values at or below it.
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).clamp(1, self.count) - 1;
        if rank < self.zeros {
            return Some(0);
        }
        let mut seen = self.zeros;
        for (slot, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen > rank {
                let index = f64::from(self.first_index + slot as i32);
                let gamma = self.ln_gamma.exp();
                let estimate = 2.0 * (index * self.ln_gamma).exp() / (gamma + 1.0);
                return Some((estimate.round() as u64).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_the_relative_accuracy() {
        let mut sketch = Sketch::default();
        for value in 1..=100_000u64 {
            sketch.add(value * 1_000);
        }
        for (q, exact) in [(0.5, 50_000_000.0), (0.95, 95_000_000.0), (0.99, 99_000_000.0)] {
            let estimate = sketch.quantile(q).unwrap_or_default() as f64;
            assert!(
                (estimate - exact).abs() / exact <= RELATIVE_ACCURACY + 1e-4,
                "{q}: {estimate}"
            );
        }
    }

    #[test]
    fn memory_stays_bounded_over_the_whole_range() {
        let mut sketch = Sketch::default();
        for shift in 0..64 {
            sketch.add(1u64 << shift);
        }
        sketch.add(u64::MAX);
        sketch.add(0);
        assert!(sketch.counts.len() < 2_300, "{}", sketch.counts.len());
        assert_eq!(sketch.quantile(0.0), Some(0));
        assert_eq!(sketch.quantile(1.0), Some(u64::MAX));
    }
}
