//! A log-linear latency histogram: constant memory however long the run,
//! O(1) to record, and within 1% of the true value at every percentile.

/// Sub-buckets per power of two, as a number of bits: 2^7 = 128 sub-buckets
/// bound the relative error of a recorded value by 1/128.
const SUB_BITS: u32 = 7;
const SUB_COUNT: u64 = 1 << SUB_BITS;
const BUCKETS: usize = (65 - SUB_BITS as usize) << SUB_BITS;

/// Counts of nanosecond durations in log-linear buckets.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

/// Values below `SUB_COUNT` get a bucket each; above, each power of two is
/// split into `SUB_COUNT` equal buckets.
fn index(value: u64) -> usize {
    if value < SUB_COUNT {
        return value as usize;
    }
    let shift = 63 - value.leading_zeros() - SUB_BITS;
    (((u64::from(shift) + 1) << SUB_BITS) + (value >> shift) - SUB_COUNT) as usize
}

/// The midpoint of the values that fall into bucket `index`.
fn midpoint(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB_COUNT {
        return index;
    }
    let shift = (index >> SUB_BITS) - 1;
    let low = ((index & (SUB_COUNT - 1)) + SUB_COUNT) << shift;
    low + (1 << shift) / 2
}

impl Histogram {
    /// Records one duration in nanoseconds.
    pub fn record(&mut self, nanos: u64) {
        self.counts[index(nanos)] += 1;
        self.total += 1;
        self.max = self.max.max(nanos);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest recorded value, exactly.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.5 for the median), or 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return midpoint(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_precise() {
        let mut last = 0;
        for v in (0..300_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let i = index(v);
            assert!(i == last || i == last + 1 || v > 300_000, "gap at {v}");
            last = i;
            let mid = midpoint(i);
            let err = mid.abs_diff(v) as f64 / v.max(1) as f64;
            assert!(err <= 1.0 / SUB_COUNT as f64, "{v} -> {mid}");
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        assert_eq!(h.count(), 1000);
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.01, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.01, "{p99}");
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert_eq!(h.max(), 1_000_000);
    }
}
