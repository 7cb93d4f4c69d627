//! A point-by-point detector that never looks ahead: each value is judged against what the
//! values before it lead to expect, then joins them. This is how a metric is watched batch after
//! batch, and how `eai.detect_anomalies(query)` reads a `(ts, value)` series.
//!
//! What to expect of the next value:
//! - **seasonal** when the past shows a daily or weekly cycle ([`super::seasonal::detect`],
//!   re-tested as history grows): the median of the recent values of the same phase;
//! - otherwise the median of the last [`LEVEL_WINDOW`] *accepted* values. A value that deviates
//!   does not join them, so a dip does not drag the baseline; when most of the last
//!   [`LEVEL_WINDOW`] values deviate to one side, they become the level (a new normal stops
//!   alerting). For [`RETURN_MEMORY`] points after such a shift, a value back at the level before
//!   it is a return, judged against that level, not a new anomaly.
//!
//! How far off it is: the residual in units of the recent residuals' spread, from their median
//! and a spread that does not collapse when most residuals are 0 ([`robust_sigma`]: the narrowest
//! central range that has any width, or the MAD) (**robust_z**), or from their quartiles (**iqr**)
//! when they are skewed. The spread is never taken below 0.1% of the level, a tenth of the
//! series' own spread, or the rounding of a series whose values lie on a lattice (step / √12:
//! a count that moves by one is 3.5 units off, not infinitely far).
//!
//! **cusum**: a slow drift moves the level a little at each point, and the level follows it, so
//! no single value is far off. A two-sided CUSUM (Page) of each value's residual from the long
//! level (the median of the last [`LONG_WINDOW`] accepted values), centred and scaled by the past
//! such residuals (a steady trend is no drift), sums what goes beyond [`CUSUM_K`] standard
//! deviations and alarms when the sum reaches [`CUSUM_H`] × the threshold, more when the residuals
//! are autocorrelated. It judges series without a cycle, once [`LONG_WINDOW`] + 32 values are in.
//!
//! A value at least `threshold` units off raises an alarm; the alarm stays up until an hour (at
//! least [`MIN_HOLD`] points) passes without another, so one lasting deviation is one event.
use std::collections::{HashMap, VecDeque};

use super::robust::scale_floor;
use super::seasonal::{self, Seasonality};
use super::stats::{lattice_step, median, quantile_sorted, robust_sigma};

/// Accepted values whose median is the level of a series without a cycle.
pub const LEVEL_WINDOW: usize = 16;
/// Accepted values whose median is the long level a drift is measured from.
pub const LONG_WINDOW: usize = 64;
/// Residuals whose spread scales the scores.
pub const RESIDUAL_WINDOW: usize = 512;
/// Values of one phase kept for its seasonal baseline.
pub const PHASE_DEPTH: usize = 12;
/// Fewest points an alarm stays up after its last deviation.
pub const MIN_HOLD: usize = 6;
/// Values kept for seasonality tests (8 weeks of hourly data; 4 weeks at 5 minutes is cut).
pub const SEASON_WINDOW: usize = 8192;
/// Points after a level shift during which a value back at the level before it is a return.
pub const RETURN_MEMORY: usize = 8 * LEVEL_WINDOW;
/// CUSUM allowance, in standard deviations: half the smallest lasting shift it is tuned to.
pub const CUSUM_K: f64 = 0.5;
/// CUSUM decision interval, in thresholds (12 at the default 6: about a million points between
/// false alarms on independent normal noise).
pub const CUSUM_H: f64 = 2.0;
/// Standardised residuals are clipped to ± this before they are summed: one outlier is no drift.
pub const CUSUM_CLIP: f64 = 3.0;
/// Highest lag-1 autocorrelation credited when widening the decision interval.
pub const RHO_MAX: f64 = 0.9;
/// Residuals from the long level needed before a drift is judged.
const DRIFT_MIN: usize = 2 * LEVEL_WINDOW;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Score (in standard deviations of the recent residuals) that raises an alarm.
    pub threshold: f64,
    /// Values seen before anything is judged.
    pub min_history: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { threshold: 6.0, min_history: 8 }
    }
}

/// Which baseline and scale judged a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Not enough history yet.
    Warmup,
    RobustZ,
    Iqr,
    Seasonal,
    /// The level drifted (CUSUM of the residuals from the long level); the value itself may lie
    /// in `[lo, hi]`.
    Cusum,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Warmup => "warmup",
            Method::RobustZ => "robust_z",
            Method::Iqr => "iqr",
            Method::Seasonal => "seasonal",
            Method::Cusum => "cusum",
        }
    }
}

/// The verdict on one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub expected: f64,
    /// Values in `[lo, hi]` raise no alarm on their own.
    pub lo: f64,
    pub hi: f64,
    /// |deviation| in standard deviations (0 during warm-up, NaN for a NaN value). For
    /// [`Method::Cusum`]: the CUSUM in units of its decision interval, times the threshold.
    pub score: f64,
    /// This value is itself at least `threshold` off, or completes a drift.
    pub deviates: bool,
    /// An alarm is up (this value deviates, or one did less than the hold ago).
    pub alarm: bool,
    pub method: Method,
    pub seasonality: Option<Seasonality>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Scale {
    median: f64,
    q1: f64,
    q3: f64,
    skewed: bool,
    /// [`robust_sigma`] of the residuals.
    sigma: f64,
    spread: f64,
}

/// What a residual in the window was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Residual {
    /// An accepted value's.
    Accepted,
    /// A value's that deviated (and is still part of what the series does: a rare value).
    Deviated,
    /// One of the deviating values a level shift was made of: the shift, not noise, so left out of
    /// the scale (a second step of the same size is still news).
    Shift,
}

/// The baseline before the latest level shift, kept while a return to it is recognised.
struct Anchor {
    accepted: VecDeque<f64>,
    drift_residuals: VecDeque<f64>,
    unit: f64,
    age: usize,
}

#[derive(Debug, Clone, Copy)]
struct DriftScale {
    center: f64,
    sigma: f64,
    rho: f64,
}

/// (score, lo, hi, unit, method) of one value against one expected value.
type Judged = (f64, f64, f64, f64, Method);

pub struct Online {
    cfg: Config,
    ts: VecDeque<i64>,
    values: VecDeque<f64>,
    seen: usize,
    residuals: VecDeque<(f64, Residual)>,
    season: Option<Seasonality>,
    phases: Vec<VecDeque<f64>>,
    next_refit: usize,
    scale: Option<Scale>,
    scale_age: usize,
    hold: usize,
    quiet: usize,
    alarm: bool,
    spread: f64,
    /// Values judged normal (or adopted as a new level), newest last: the level is the median of
    /// the last [`LEVEL_WINDOW`], the long level the median of all ([`LONG_WINDOW`]).
    accepted: VecDeque<f64>,
    /// The last judged values and the side they deviated to (0: they did not).
    recent: VecDeque<(f64, i8)>,
    anchor: Option<Anchor>,
    /// How often each kept value occurs (by its bits), and those kept at least twice, in order.
    counts: HashMap<u64, u32>,
    repeated: Vec<f64>,
    /// The step of the lattice the repeated values lie on (infinite: none known).
    resolution: f64,
    /// Residuals of accepted values from the long level, their centre, spread and autocorrelation.
    drift_residuals: VecDeque<f64>,
    drift: Option<DriftScale>,
    drift_age: usize,
    cusum_hi: f64,
    cusum_lo: f64,
    scratch: Vec<f64>,
}

impl Online {
    pub fn new(cfg: Config) -> Online {
        Online {
            cfg,
            ts: VecDeque::new(),
            values: VecDeque::new(),
            seen: 0,
            residuals: VecDeque::new(),
            season: None,
            phases: Vec::new(),
            next_refit: cfg.min_history.max(2),
            scale: None,
            scale_age: 0,
            hold: MIN_HOLD,
            quiet: 0,
            alarm: false,
            spread: 0.0,
            accepted: VecDeque::new(),
            recent: VecDeque::new(),
            anchor: None,
            counts: HashMap::new(),
            repeated: Vec::new(),
            resolution: f64::INFINITY,
            drift_residuals: VecDeque::new(),
            drift: None,
            drift_age: 0,
            cusum_hi: 0.0,
            cusum_lo: 0.0,
            scratch: Vec::new(),
        }
    }

    /// Judges `value` at Unix time `ts` (seconds), then adds it to the history.
    pub fn push(&mut self, ts: i64, value: f64) -> Verdict {
        if value.is_nan() {
            return Verdict {
                expected: f64::NAN,
                lo: f64::NAN,
                hi: f64::NAN,
                score: f64::NAN,
                deviates: false,
                alarm: self.alarm,
                method: Method::Warmup,
                seasonality: self.season,
            };
        }
        if self.seen >= self.next_refit {
            self.refit();
        }
        let (verdict, kind) = if self.seen < self.cfg.min_history.max(2) {
            // Warm-up: nothing is judged, but the residuals against the level start to count.
            let expected = if self.seen == 0 { f64::NAN } else { self.level() };
            let v = Verdict {
                expected,
                lo: f64::NEG_INFINITY,
                hi: f64::INFINITY,
                score: 0.0,
                deviates: false,
                alarm: false,
                method: Method::Warmup,
                seasonality: None,
            };
            (v, Residual::Accepted)
        } else {
            self.judge(ts, value)
        };
        if value.is_finite() {
            self.remember(ts, value, verdict.expected, kind);
        }
        verdict
    }

    /// The verdict, and what the value's residual is: an accepted value's (it did not deviate, and
    /// joins the accepted values), a deviating value's, or part of a level shift.
    fn judge(&mut self, ts: i64, value: f64) -> (Verdict, Residual) {
        let level = self.level();
        let (mut expected, method) = match self.season {
            Some(s) => match self.phases.get(s.bucket(ts)).filter(|p| p.len() >= 3) {
                Some(p) => (median_of(p.iter().copied()), Method::Seasonal),
                None => (level, Method::RobustZ),
            },
            None => (level, Method::RobustZ),
        };
        if self.scale.is_none() || self.scale_age >= 16 {
            self.scale = self.residual_scale();
            self.scale_age = 0;
        }
        self.scale_age += 1;
        let s = self.scale.unwrap_or_default();
        let t = self.cfg.threshold;
        let (mut score, mut lo, mut hi, mut unit, mut method) = self.point(value, expected, method, &s);
        if value.is_infinite() {
            score = f64::INFINITY;
        }
        let mut deviates = score >= t;
        // A return: off the level followed since a shift, but at home at the level before it.
        let back = match &self.anchor {
            Some(a) if deviates && method != Method::Seasonal && value.is_finite() => {
                let before = median_of(a.accepted.iter().rev().take(LEVEL_WINDOW).copied());
                let wide = Scale { sigma: s.sigma.max(a.unit), ..s };
                Some((before, self.point(value, before, method, &wide)))
            }
            _ => None,
        };
        if let Some((before, judged)) = back.filter(|(_, j)| j.0 < t) {
            if let Some(a) = self.anchor.take() {
                self.accepted = a.accepted;
                self.drift_residuals = a.drift_residuals;
            }
            self.drift = None;
            self.recent.clear();
            self.reset_cusum();
            expected = before;
            (score, lo, hi, unit, method) = judged;
            deviates = false;
        }
        let point = deviates;
        if method != Method::Seasonal && value.is_finite() {
            if point {
                self.reset_cusum();
            } else if self.accepted.len() >= LONG_WINDOW {
                if let Some(drift) = self.drift_step(value, expected, s.spread) {
                    score = drift;
                    method = Method::Cusum;
                    deviates = true;
                }
            }
        }
        if deviates {
            self.alarm = true;
            self.quiet = 0;
        } else if self.alarm {
            self.quiet += 1;
            if self.quiet >= self.hold {
                self.alarm = false;
            }
        }
        let mut kind = Residual::Accepted;
        if value.is_finite() {
            let side = if !point {
                0
            } else if value > expected {
                1
            } else {
                -1
            };
            let shifted = self.track(value, side, unit);
            kind = match (side, shifted) {
                (0, _) => Residual::Accepted,
                (_, true) => Residual::Shift,
                _ => Residual::Deviated,
            };
        }
        (Verdict { expected, lo, hi, score, deviates, alarm: self.alarm, method, seasonality: self.season }, kind)
    }

    /// Score, range and unit of `value` against `expected` at the residual scale `s`.
    fn point(&self, value: f64, expected: f64, method: Method, s: &Scale) -> Judged {
        let floor = self.floor(expected, value, s.spread);
        let t = self.cfg.threshold;
        let r = value - expected;
        if s.skewed && method != Method::Seasonal {
            // Fences of the residual quartiles, in standard-deviation units (normal data: the
            // quartiles lie 0.674 σ out and the IQR is 1.349 σ).
            let unit = ((s.q3 - s.q1) / 1.349).max(floor);
            let z = if r > s.q3 {
                0.674 + (r - s.q3) / unit
            } else if r < s.q1 {
                0.674 + (s.q1 - r) / unit
            } else {
                0.0
            };
            (z, expected + s.q1 - (t - 0.674) * unit, expected + s.q3 + (t - 0.674) * unit, unit, Method::Iqr)
        } else {
            let unit = s.sigma.max(floor);
            let unit = if unit.is_finite() { unit } else { floor };
            ((r - s.median).abs() / unit, expected + s.median - t * unit, expected + s.median + t * unit, unit, method)
        }
    }

    /// The smallest spread assumed: 0.1% of the larger of the level and the value, a tenth of the
    /// series' own spread (so that a series whose past was predicted perfectly does not alarm on
    /// noise), and the rounding of values on a lattice (step / √12, the standard deviation of a
    /// rounding error).
    fn floor(&self, expected: f64, value: f64, spread: f64) -> f64 {
        let f = scale_floor(expected.abs().max(value.abs())).max(0.1 * spread);
        if self.resolution.is_finite() {
            f.max(self.resolution / 12f64.sqrt())
        } else {
            f
        }
    }

    /// One step of the drift detector for an accepted value: its residual from the long level
    /// joins the CUSUM (once enough are known) and their window. The score when the CUSUM alarms.
    fn drift_step(&mut self, value: f64, expected: f64, spread: f64) -> Option<f64> {
        self.scratch.clear();
        self.scratch.extend(self.accepted.iter().copied());
        let r = value - median_in(&mut self.scratch);
        let mut alarm = None;
        if self.drift_residuals.len() >= DRIFT_MIN {
            if self.drift.is_none() || self.drift_age >= 16 {
                self.drift = self.drift_scale();
                self.drift_age = 0;
            }
            self.drift_age += 1;
            if let Some(d) = self.drift {
                let t = self.cfg.threshold;
                let sigma = d.sigma.max(self.floor(expected, value, spread));
                let z = ((r - d.center) / sigma).clamp(-CUSUM_CLIP, CUSUM_CLIP);
                self.cusum_hi = (self.cusum_hi + z - CUSUM_K).max(0.0);
                self.cusum_lo = (self.cusum_lo - z - CUSUM_K).max(0.0);
                // Autocorrelated residuals wander further by chance: the interval widens by their
                // long-run variance, (1 + ρ) / (1 - ρ) for lag-1 autocorrelation ρ.
                let h = CUSUM_H * t * (1.0 + d.rho) / (1.0 - d.rho);
                let sum = self.cusum_hi.max(self.cusum_lo);
                if sum >= h {
                    alarm = Some(t * sum / h);
                    self.reset_cusum();
                }
            }
        }
        self.drift_residuals.push_back(r);
        if self.drift_residuals.len() > RESIDUAL_WINDOW {
            self.drift_residuals.pop_front();
        }
        alarm
    }

    fn reset_cusum(&mut self) {
        self.cusum_hi = 0.0;
        self.cusum_lo = 0.0;
    }

    /// Keeps the sides of the last judged values; when more than half of them deviated to one
    /// side, those values become the level (true), the baseline before them is kept as the anchor
    /// a return is recognised by, and their residuals are marked as the shift.
    fn track(&mut self, value: f64, side: i8, unit: f64) -> bool {
        self.recent.push_back((value, side));
        if self.recent.len() > LEVEL_WINDOW {
            self.recent.pop_front();
        }
        let expired = match &mut self.anchor {
            Some(a) => {
                a.age += 1;
                a.age > RETURN_MEMORY
            }
            None => false,
        };
        if expired {
            self.anchor = None;
        }
        for s in [1i8, -1] {
            if self.recent.iter().filter(|(_, x)| *x == s).count() > LEVEL_WINDOW / 2 {
                if self.anchor.is_none() {
                    self.anchor = Some(Anchor { accepted: self.accepted.clone(), drift_residuals: self.drift_residuals.clone(), unit, age: 0 });
                }
                // The residuals of the earlier values of the shift (this one's is not in yet).
                let earlier = self.recent.len() - 1;
                for (r, kind) in self.residuals.iter_mut().rev().take(earlier) {
                    if *kind == Residual::Deviated && (*r > 0.0) == (s > 0) {
                        *kind = Residual::Shift;
                    }
                }
                self.accepted = self.recent.iter().filter(|(_, x)| *x == s).map(|(v, _)| *v).collect();
                self.drift_residuals.clear();
                self.drift = None;
                self.recent.clear();
                self.reset_cusum();
                return true;
            }
        }
        false
    }

    /// Median of the last accepted values.
    fn level(&self) -> f64 {
        median_of(self.accepted.iter().rev().take(LEVEL_WINDOW).copied())
    }

    /// Median, quartiles and robust spread of the recent residuals but those of level shifts,
    /// whether they are skewed (Bowley's quartile skewness beyond 0.3), and the spread of the
    /// recent values themselves.
    fn residual_scale(&self) -> Option<Scale> {
        let mut r: Vec<f64> = self.residuals.iter().filter(|(_, k)| *k != Residual::Shift).map(|(x, _)| *x).collect();
        if r.is_empty() {
            return None;
        }
        r.sort_by(f64::total_cmp);
        let (q1, m, q3) = (quantile_sorted(&r, 0.25)?, quantile_sorted(&r, 0.5)?, quantile_sorted(&r, 0.75)?);
        let skewed = q3 > q1 && ((q3 + q1 - 2.0 * m) / (q3 - q1)).abs() > 0.3;
        Some(Scale { median: m, q1, q3, skewed, sigma: robust_sigma(&r, m), spread: self.spread })
    }

    /// Centre, robust spread and lag-1 autocorrelation of the residuals from the long level.
    fn drift_scale(&self) -> Option<DriftScale> {
        let mut r: Vec<f64> = self.drift_residuals.iter().copied().collect();
        r.sort_by(f64::total_cmp);
        let center = quantile_sorted(&r, 0.5)?;
        let sigma = robust_sigma(&r, center);
        Some(DriftScale { center, sigma, rho: lag1(&self.drift_residuals, center, sigma) })
    }

    fn remember(&mut self, ts: i64, value: f64, expected: f64, kind: Residual) {
        self.seen += 1;
        self.ts.push_back(ts);
        self.values.push_back(value);
        self.count(value, true);
        if self.values.len() > SEASON_WINDOW {
            self.ts.pop_front();
            if let Some(old) = self.values.pop_front() {
                self.count(old, false);
            }
        }
        if kind == Residual::Accepted {
            self.accepted.push_back(value);
            if self.accepted.len() > LONG_WINDOW {
                self.accepted.pop_front();
            }
        }
        if self.seen > 1 && expected.is_finite() {
            self.residuals.push_back((value - expected, kind));
            if self.residuals.len() > RESIDUAL_WINDOW {
                self.residuals.pop_front();
            }
        }
        if let Some(s) = self.season {
            let p = &mut self.phases[s.bucket(ts)];
            p.push_back(value);
            if p.len() > PHASE_DEPTH {
                p.pop_front();
            }
        }
    }

    /// Counts a kept value in (`add`) or out. A value kept at least twice is a value the series
    /// takes; three or more of them give the lattice step ([`lattice_step`]).
    fn count(&mut self, value: f64, add: bool) {
        // -0.0 and 0.0 are one value.
        let v = value + 0.0;
        let key = v.to_bits();
        let c = self.counts.entry(key).or_insert(0);
        if add {
            *c += 1;
        } else {
            *c = c.saturating_sub(1);
        }
        let c = *c;
        if c == 0 {
            self.counts.remove(&key);
        }
        if add && c == 2 {
            let i = self.repeated.partition_point(|x| *x < v);
            self.repeated.insert(i, v);
            if self.repeated.len() == 3 {
                self.resolution = lattice_step(&self.repeated);
            } else if self.repeated.len() > 3 {
                if i > 0 {
                    self.resolution = self.resolution.min(v - self.repeated[i - 1]);
                }
                if i + 1 < self.repeated.len() {
                    self.resolution = self.resolution.min(self.repeated[i + 1] - v);
                }
            }
        } else if !add && c == 1 {
            let i = self.repeated.partition_point(|x| *x < v);
            if self.repeated.get(i) == Some(&v) {
                self.repeated.remove(i);
            }
            self.resolution = lattice_step(&self.repeated);
        }
    }

    /// Re-tests seasonality on the kept history (every quarter of the values seen, between 16 and
    /// 256 values apart) and sets the hold to an hour of points.
    fn refit(&mut self) {
        let ts: Vec<i64> = self.ts.iter().copied().collect();
        let vs: Vec<f64> = self.values.iter().copied().collect();
        // The series' own spread over all the history kept, so that a quiet spell does not make
        // its usual values look extraordinary.
        let mut sorted = vs.clone();
        sorted.sort_by(f64::total_cmp);
        self.spread = match (quantile_sorted(&sorted, 0.25), quantile_sorted(&sorted, 0.75)) {
            (Some(a), Some(b)) => (b - a) / 1.349,
            _ => 0.0,
        };
        if let Some(sp) = seasonal::spacing(&ts) {
            self.hold = MIN_HOLD.max((3600 / sp.max(1)) as usize);
        }
        let found = seasonal::detect(&ts, &vs).map(|(s, _)| s);
        if found != self.season {
            self.season = found;
            self.phases = match found {
                Some(s) => {
                    let mut p = vec![VecDeque::new(); s.buckets];
                    for (t, v) in ts.iter().zip(&vs) {
                        let q: &mut VecDeque<f64> = &mut p[s.bucket(*t)];
                        q.push_back(*v);
                        if q.len() > PHASE_DEPTH {
                            q.pop_front();
                        }
                    }
                    p
                }
                None => Vec::new(),
            };
        }
        self.next_refit = self.seen + (self.seen / 4).clamp(16, 256);
    }
}

fn median_of(it: impl Iterator<Item = f64>) -> f64 {
    median(&it.collect::<Vec<f64>>()).unwrap_or(f64::NAN)
}

/// Median of finite values (reordered in place), as `quantile_sorted(…, 0.5)` gives it, without a
/// sort: the long level is taken at every point.
fn median_in(buf: &mut [f64]) -> f64 {
    let n = buf.len();
    if n == 0 {
        return f64::NAN;
    }
    let (lower, mid, _) = buf.select_nth_unstable_by(n / 2, f64::total_cmp);
    let mid = *mid;
    if n % 2 == 1 {
        mid
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        below + (mid - below) * 0.5
    }
}

/// Lag-1 autocorrelation of `xs`, standardised by `center` and `sigma` and clipped as the CUSUM
/// clips them, within [0, RHO_MAX].
fn lag1(xs: &VecDeque<f64>, center: f64, sigma: f64) -> f64 {
    if sigma <= 0.0 || xs.len() < 3 {
        return 0.0;
    }
    let z: Vec<f64> = xs.iter().map(|x| ((x - center) / sigma).clamp(-CUSUM_CLIP, CUSUM_CLIP)).collect();
    let mu = z.iter().sum::<f64>() / z.len() as f64;
    let num: f64 = z.windows(2).map(|w| (w[0] - mu) * (w[1] - mu)).sum();
    let den: f64 = z.iter().map(|a| (a - mu).powi(2)).sum();
    if den > 0.0 {
        (num / den).clamp(0.0, RHO_MAX)
    } else {
        0.0
    }
}

/// Runs a fresh detector over a whole series (times in seconds, in order).
pub fn run(ts: &[i64], values: &[f64], cfg: Config) -> Vec<Verdict> {
    let mut d = Online::new(cfg);
    ts.iter().zip(values).map(|(t, v)| d.push(*t, *v)).collect()
}

/// Runs of consecutive alarmed points as (first, last) indices: one event each.
pub fn events(verdicts: &[Verdict]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, v) in verdicts.iter().enumerate() {
        match (v.alarm, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, verdicts.len() - 1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 33) as f64 / (1u64 << 31) as f64 - 0.5
            })
            .collect()
    }

    fn ts(n: usize, step: i64) -> Vec<i64> {
        (0..n as i64).map(|i| 1_600_000_000 + i * step).collect()
    }

    #[test]
    fn a_spike_is_one_event_and_noise_none() {
        let mut v: Vec<f64> = noise(2000, 7).iter().map(|x| 100.0 + 4.0 * x).collect();
        let quiet = run(&ts(2000, 300), &v, Config::default());
        assert!(events(&quiet).is_empty(), "{:?}", events(&quiet));
        v[1500] = 160.0;
        let r = run(&ts(2000, 300), &v, Config::default());
        let e = events(&r);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 1500);
        assert!(r[1500].deviates && r[1500].score > 10.0 && r[1500].hi < 160.0);
    }

    #[test]
    fn a_level_shift_alarms_then_becomes_the_new_normal() {
        let v: Vec<f64> = noise(3000, 11).iter().enumerate().map(|(i, x)| if i < 2000 { 50.0 } else { 80.0 } + 2.0 * x).collect();
        let r = run(&ts(3000, 60), &v, Config::default());
        let e = events(&r);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 2000);
        assert!(e[0].1 < 2100, "the alarm clears once the level follows: {e:?}");
    }

    #[test]
    fn seasonality_is_learnt_and_a_break_of_it_is_caught() {
        // Hourly data, 5 weeks, a daily cycle; on day 30 the night stays at the day's level.
        let n = 24 * 35;
        let t = ts(n, 3600);
        let mut v: Vec<f64> = (0..n).zip(noise(n, 3)).map(|(i, e)| if (i % 24) < 12 { 10.0 } else { 100.0 } + 2.0 * e).collect();
        let quiet = run(&t, &v, Config::default());
        assert!(quiet.iter().skip(24 * 4).all(|x| !x.deviates), "{:?}", events(&quiet));
        assert!(quiet.last().unwrap().method == Method::Seasonal);
        // A plain level baseline would expect ~100 here after a day phase; the cycle says 10.
        for i in (24 * 30)..(24 * 30 + 6) {
            v[i] = 100.0;
        }
        let r = run(&t, &v, Config::default());
        // (The first day's jump from night to day is news to a detector that has seen 12 hours.)
        let e: Vec<(usize, usize)> = events(&r).into_iter().filter(|e| e.0 >= 24 * 3).collect();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 24 * 30);
        assert_eq!(r[24 * 30].method, Method::Seasonal);
    }

    #[test]
    fn empty_constant_nan_and_infinite() {
        assert!(run(&[], &[], Config::default()).is_empty());
        let c = run(&ts(100, 1), &[5.0; 100], Config::default());
        assert!(c.iter().all(|x| !x.alarm));
        let mut v = vec![5.0; 100];
        v[50] = f64::NAN;
        v[60] = f64::INFINITY;
        v[70] = 6.0;
        let r = run(&ts(100, 1), &v, Config::default());
        assert!(r[50].score.is_nan() && !r[50].deviates);
        assert!(r[60].deviates && r[60].score.is_infinite());
        assert!(r[70].deviates, "a constant series that moves: {:?}", r[70]);
        assert_eq!(run(&ts(3, 1), &[1.0, 2.0, 3.0], Config::default())[2].method, Method::Warmup);
    }

    #[test]
    fn a_million_points_in_bounded_memory() {
        let n = 1_000_000;
        let mut d = Online::new(Config::default());
        let mut alarms = 0;
        let e = noise(n, 5);
        for i in 0..n {
            alarms += usize::from(d.push(i as i64 * 60, 10.0 + e[i]).deviates);
        }
        assert!(alarms < 10, "{alarms}");
        assert!(d.values.len() <= SEASON_WINDOW && d.residuals.len() <= RESIDUAL_WINDOW);
    }

    /// Two weeks of hourly batches.
    const N: usize = 336;

    #[test]
    fn a_near_constant_count_alarms_only_on_what_it_has_not_shown() {
        // A batch's distinct count: 12 in almost every batch, an 11 or a 13 in about one in 14.
        // The quartiles and the MAD of such a series are 0, and every 11 or 13 used to score in
        // the hundreds: 24 false alarms on the real series.
        let mut v: Vec<f64> = noise(N, 3)
            .iter()
            .map(|x| {
                if x.abs() < 0.5 - 0.5 / 14.0 {
                    12.0
                } else if *x > 0.0 {
                    13.0
                } else {
                    11.0
                }
            })
            .collect();
        let rare = v.iter().filter(|x| **x != 12.0).count();
        assert!(rare >= 20, "{rare}");
        let r = run(&ts(N, 3600), &v, Config::default());
        let alarms: Vec<usize> = (0..N).filter(|i| r[*i].deviates).collect();
        assert!(alarms.len() <= 5, "{rare} rare values, alarms at {alarms:?}");
        assert!(alarms.iter().all(|i| *i < N / 3), "only the first 11s and 13s are news: {alarms:?}");
        // What it has never shown is still news.
        v[330] = 20.0;
        let r = run(&ts(N, 3600), &v, Config::default());
        assert!(r[330].deviates && r[330].method == Method::RobustZ, "{:?}", r[330]);
    }

    #[test]
    fn a_dip_is_one_alarm_and_the_return_to_normal_none() {
        for len in [6, 24, 48] {
            let v: Vec<f64> =
                noise(N, 5).iter().enumerate().map(|(i, x)| if (200..200 + len).contains(&i) { 30.0 } else { 50.0 } + 2.0 * x).collect();
            let r = run(&ts(N, 3600), &v, Config::default());
            let e = events(&r);
            assert_eq!(e.len(), 1, "a dip of {len} points: {e:?}");
            assert_eq!(e[0].0, 200);
            let back: Vec<usize> = (200 + len..N).filter(|i| r[*i].deviates).collect();
            assert!(back.is_empty(), "a dip of {len} points: the return alarmed at {back:?}");
            // The dip did not drag the baseline: the return is judged against the level before it.
            assert!((r[200 + len].expected - 50.0).abs() < 1.0, "a dip of {len} points: {:?}", r[200 + len]);
        }
    }

    #[test]
    fn a_slow_drift_of_level_and_spread_is_caught_and_a_steady_climb_is_not() {
        // Ten days of hourly readings (σ = 1); then, over 48 hours, the level climbs 6 σ while the
        // spread triples. The level of the last 16 follows it, so no single reading is far off.
        let v: Vec<f64> = noise(N, 9)
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let f = ((i as f64 - 240.0) / 48.0).clamp(0.0, 1.0);
                100.0 + 6.0 * f + (1.0 + 2.0 * f) * 3.4641 * x
            })
            .collect();
        let r = run(&ts(N, 3600), &v, Config::default());
        let before: Vec<usize> = (0..240).filter(|i| r[*i].deviates).collect();
        assert!(before.is_empty(), "{before:?}");
        let caught: Vec<usize> = (240..=288).filter(|i| r[*i].deviates).collect();
        assert!(!caught.is_empty(), "the drift was never flagged");
        let first = r[caught[0]];
        assert_eq!(first.method, Method::Cusum, "{first:?}");
        assert!(first.score >= 6.0 && first.alarm, "{first:?}");
        // A table that grows by the same amount every run drifts by design: no CUSUM alarm.
        let climb: Vec<f64> = noise(N, 9).iter().enumerate().map(|(i, x)| 1000.0 + 5.0 * i as f64 + 3.4641 * x).collect();
        let r = run(&ts(N, 3600), &climb, Config::default());
        assert!(r.iter().all(|x| x.method != Method::Cusum), "{:?}", r.iter().position(|x| x.method == Method::Cusum));
    }

    #[test]
    fn an_ordinary_spike_is_still_one_alarm() {
        let mut v: Vec<f64> = noise(N, 7).iter().map(|x| 100.0 + 4.0 * x).collect();
        v[250] = 160.0;
        let r = run(&ts(N, 3600), &v, Config::default());
        let flagged: Vec<usize> = (0..N).filter(|i| r[*i].deviates).collect();
        assert_eq!(flagged, [250]);
        assert_eq!(events(&r), [(250, 255)]);
        assert!(r[250].score > 10.0 && r[250].method == Method::RobustZ && r[250].hi < 160.0, "{:?}", r[250]);
    }
}
