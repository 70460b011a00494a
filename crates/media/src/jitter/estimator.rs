//! Network delay estimate: how late packets arrive relative to the fastest recent one, and the
//! quantile of that lateness the buffer must absorb.
//!
//! For each packet, `transit = arrival - timestamp` (both in µs; the sender's clock offset is an
//! unknown constant that cancels out). The fastest packet of the last `window` sets the baseline;
//! a packet's *relative delay* is its transit above that baseline. Relative delays go into a
//! histogram whose old samples fade by `forget` per new sample, and the buffer's jitter margin is
//! the `quantile` of that histogram (NetEQ's design, simplified).
//!
//! Both structures are O(1) amortised per packet and allocate only at construction:
//! * the baseline is a monotonic deque (arrival, transit) with increasing transits, so its front
//!   is the window minimum;
//! * the histogram does not decay every bucket on every sample: it grows the weight of new
//!   samples by `1/forget` instead, renormalising rarely, and keeps the quantile bucket and the
//!   mass below it up to date incrementally.

use std::collections::VecDeque;

/// Baseline candidates kept at most. The deque only holds strictly increasing transits, so in
/// practice it is short; the cap bounds memory against pathological input.
const WINDOW_SLOTS: usize = 512;

/// Renormalise the histogram when the sample weight grows past this (long before f64 overflows).
const RENORMALISE_AT: f64 = 1e100;

/// Sliding-window baseline plus quantile histogram.
#[derive(Clone, Debug)]
pub(crate) struct DelayEstimator {
    window_us: i64,
    /// (arrival µs, transit µs), arrivals and transits both increasing: front is the minimum.
    baseline: VecDeque<(i64, i64)>,
    quantile: Quantile,
    observed: u64,
}

impl DelayEstimator {
    pub(crate) fn new(window_us: i64, bucket_shift: u32, max_us: i64, p: f64, forget: f64) -> Self {
        Self {
            window_us,
            baseline: VecDeque::with_capacity(WINDOW_SLOTS),
            quantile: Quantile::new(bucket_shift, max_us, p, forget),
            observed: 0,
        }
    }

    /// Records one packet; returns its relative delay (µs, >= 0).
    pub(crate) fn observe(&mut self, arrival_us: i64, ts_us: i64) -> i64 {
        let transit = arrival_us - ts_us;
        let oldest = arrival_us - self.window_us;
        while self.baseline.front().is_some_and(|&(a, _)| a < oldest) {
            self.baseline.pop_front();
        }
        while self.baseline.back().is_some_and(|&(_, t)| t >= transit) {
            self.baseline.pop_back();
        }
        if self.baseline.len() >= WINDOW_SLOTS {
            self.baseline.pop_front();
        }
        self.baseline.push_back((arrival_us, transit));
        let min = self.baseline.front().map_or(transit, |&(_, t)| t);
        let relative = transit - min;
        self.quantile.add(relative);
        self.observed += 1;
        relative
    }

    /// The fastest transit in the window (µs), if any packet was seen since the last reset.
    pub(crate) fn min_transit(&self) -> Option<i64> {
        self.baseline.front().map(|&(_, t)| t)
    }

    /// The jitter margin: the configured quantile of relative delay (µs, bucket upper edge).
    pub(crate) fn margin_us(&self) -> i64 {
        self.quantile.value_us()
    }

    /// Packets observed since construction (resets keep the histogram and this count).
    pub(crate) fn observed(&self) -> u64 {
        self.observed
    }

    /// Forgets the baseline (new sender: its timestamps have another origin). The histogram,
    /// which describes the network path rather than the sender, is kept.
    pub(crate) fn reset_baseline(&mut self) {
        self.baseline.clear();
    }
}

/// Exponentially forgetting histogram with an incrementally maintained quantile.
#[derive(Clone, Debug)]
pub(crate) struct Quantile {
    buckets: Box<[f64]>,
    /// Buckets are `1 << bucket_shift` µs wide: a shift, not a division, per sample.
    bucket_shift: u32,
    p: f64,
    inv_forget: f64,
    /// Weight of the next sample; grows by `1/forget` per sample.
    weight: f64,
    total: f64,
    /// Smallest bucket whose cumulative mass reaches `p * total`.
    idx: usize,
    /// Mass in buckets below `idx`.
    below: f64,
}

impl Quantile {
    /// Buckets of `2^bucket_shift` µs covering `0..=max_us` (the last one also takes everything
    /// above).
    pub(crate) fn new(bucket_shift: u32, max_us: i64, p: f64, forget: f64) -> Self {
        let bucket_shift = bucket_shift.min(40);
        let n = (max_us.max(0) >> bucket_shift) as usize + 1;
        Self {
            buckets: vec![0.0; n].into_boxed_slice(),
            bucket_shift,
            p,
            inv_forget: 1.0 / forget,
            weight: 1.0,
            total: 0.0,
            idx: 0,
            below: 0.0,
        }
    }

    pub(crate) fn add(&mut self, value_us: i64) {
        let last = self.buckets.len() - 1;
        let b = usize::try_from(value_us.max(0) >> self.bucket_shift).map_or(last, |b| b.min(last));
        self.buckets[b] += self.weight;
        self.total += self.weight;
        if b < self.idx {
            self.below += self.weight;
        }
        self.weight *= self.inv_forget;
        if self.weight > RENORMALISE_AT {
            self.renormalise();
        }
        let goal = self.p * self.total;
        while self.idx < last && self.below + self.buckets[self.idx] < goal {
            self.below += self.buckets[self.idx];
            self.idx += 1;
        }
        while self.idx > 0 && self.below >= goal {
            self.idx -= 1;
            self.below = (self.below - self.buckets[self.idx]).max(0.0);
        }
    }

    fn renormalise(&mut self) {
        let scale = 1.0 / self.weight;
        for b in self.buckets.iter_mut() {
            *b *= scale;
        }
        self.weight = 1.0;
        self.total = self.buckets.iter().sum();
        self.below = self.buckets[..self.idx].iter().sum();
    }

    /// Upper edge of the quantile bucket, or 0 before any sample.
    pub(crate) fn value_us(&self) -> i64 {
        if self.total == 0.0 {
            return 0;
        }
        (self.idx as i64 + 1) << self.bucket_shift
    }
}

/// Minimum of the last `span`..`2 × span` samples in O(1): the current and the previous block.
///
/// The buffer feeds it each played packet's slack (how long it waited) and each late packet's
/// lateness (negative). Dropping a frame removes one frame of slack from every packet that
/// follows; if some recent packet had less than that, the drop would have made it late.
#[derive(Clone, Debug)]
pub(crate) struct RecentMin {
    span: u32,
    n: u32,
    current: i64,
    previous: i64,
}

impl RecentMin {
    pub(crate) fn new(span: u32) -> Self {
        Self {
            span: span.max(1),
            n: 0,
            current: i64::MAX,
            previous: i64::MAX,
        }
    }

    pub(crate) fn push(&mut self, v: i64) {
        self.current = self.current.min(v);
        self.n += 1;
        if self.n >= self.span {
            self.previous = self.current;
            self.current = i64::MAX;
            self.n = 0;
        }
    }

    /// The minimum, or `i64::MAX` when nothing was pushed.
    pub(crate) fn min(&self) -> i64 {
        self.current.min(self.previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact weighted quantile bucket, computed the slow way.
    fn reference(samples: &[i64], bucket: i64, n: usize, p: f64, forget: f64) -> i64 {
        let mut hist = vec![0.0f64; n];
        for &s in samples {
            for h in hist.iter_mut() {
                *h *= forget;
            }
            hist[((s / bucket) as usize).min(n - 1)] += 1.0;
        }
        let total: f64 = hist.iter().sum();
        let mut acc = 0.0;
        for (i, h) in hist.iter().enumerate() {
            acc += h;
            if acc >= p * total * (1.0 - 1e-12) {
                return (i as i64 + 1) * bucket;
            }
        }
        n as i64 * bucket
    }

    #[test]
    fn quantile_matches_reference() {
        let mut q = Quantile::new(10, 100_000, 0.95, 0.99);
        let mut samples = Vec::new();
        let mut x: u64 = 12345;
        for i in 0..3000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Regime change halfway: the quantile must follow both ways.
            let spread = if (1000..2000).contains(&i) {
                80_000
            } else {
                20_000
            };
            let s = ((x >> 33) % spread) as i64;
            samples.push(s);
            q.add(s);
            if i % 97 == 0 {
                let want = reference(&samples, 1024, 98, 0.95, 0.99);
                assert!(
                    (q.value_us() - want).abs() <= 1024,
                    "i={i} {} vs {want}",
                    q.value_us()
                );
            }
        }
    }

    #[test]
    fn quantile_survives_renormalisation() {
        // forget 0.5 doubles the weight each sample: renormalises every ~330 samples.
        let mut q = Quantile::new(10, 50_000, 0.5, 0.5);
        for i in 0..5000 {
            q.add(if i < 4990 { 3_500 } else { 40_000 });
        }
        // The last 10 samples dominate completely with forget 0.5: bucket 39 (39 936..40 960).
        assert_eq!(q.value_us(), 40 * 1024);
        assert!(q.total.is_finite() && q.weight <= RENORMALISE_AT);
    }

    #[test]
    fn empty_quantile_is_zero_and_overflow_goes_to_last_bucket() {
        // 2048 µs buckets over 0..=10 000 µs: 5 buckets (the last one open-ended).
        let mut q = Quantile::new(11, 10_000, 0.95, 0.999);
        assert_eq!(q.value_us(), 0);
        q.add(1_000_000);
        assert_eq!(q.value_us(), 5 * 2048);
        q.add(-5);
        q.add(-5);
        q.add(-5);
        q.add(-5);
        q.add(-5);
        // 5 of 6 samples in bucket 0: the 95th percentile is still the overflow bucket.
        assert_eq!(q.value_us(), 5 * 2048);
    }

    #[test]
    fn recent_min_forgets_after_two_spans() {
        let mut m = RecentMin::new(3);
        assert_eq!(m.min(), i64::MAX);
        m.push(5);
        m.push(1);
        m.push(7); // block [5, 1, 7] closes
        assert_eq!(m.min(), 1);
        m.push(9);
        m.push(9);
        assert_eq!(m.min(), 1);
        m.push(9); // block [9, 9, 9] closes: the 1 is gone
        assert_eq!(m.min(), 9);
    }

    #[test]
    fn baseline_is_the_window_minimum() {
        let mut e = DelayEstimator::new(2_000_000, 10, 500_000, 0.95, 0.999);
        // Packets 20 ms apart; transit 50 ms then one fast packet at 40 ms, then 60 ms.
        assert_eq!(e.observe(50_000, 0), 0);
        assert_eq!(e.observe(60_000, 20_000), 0);
        assert_eq!(e.observe(80_000, 40_000), 0);
        assert_eq!(e.min_transit(), Some(40_000));
        assert_eq!(e.observe(120_000, 60_000), 20_000);
        // 2 s later the fast packet has left the window: 60 ms is the new baseline.
        assert_eq!(e.observe(2_090_000, 2_030_000), 0);
        assert_eq!(e.min_transit(), Some(60_000));
        e.reset_baseline();
        assert_eq!(e.min_transit(), None);
        assert_eq!(e.observed(), 5);
    }
}
