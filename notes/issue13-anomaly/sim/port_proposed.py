"""Python port of the PROPOSED core/src/anomaly/online.rs (simulation only), kept step for step
with the Rust in ../work/b/core/src/anomaly/online.rs so that the numbers here are the Rust's."""
import math
from collections import deque
import bisect

from common import (INF, NAN, MAD_TO_SIGMA, detect, fmax, median_of, quantile_sorted, scale_floor, spacing)

LEVEL_WINDOW, RESIDUAL_WINDOW, PHASE_DEPTH, MIN_HOLD, SEASON_WINDOW = 16, 512, 12, 6, 8192
LONG_WINDOW = 64
RETURN_MEMORY = 8 * LEVEL_WINDOW
DRIFT_MIN = 2 * LEVEL_WINDOW
CUSUM_K = 0.5
CUSUM_H = 2.0
CUSUM_CLIP = 3.0
RHO_MAX = 0.9
# (tail share, normal quantile) of the central ranges tried for a scale, narrowest first
RANGES = [(0.25, 0.6744897501960817), (0.10, 1.2815515655446004), (0.025, 1.959963984540054), (0.005, 2.5758293035489004)]
SQRT12 = math.sqrt(12.0)
METHODS = True


class V:
    __slots__ = ("expected", "lo", "hi", "score", "deviates", "alarm", "method", "season")

    def __init__(self, expected, lo, hi, score, deviates, alarm, method, season):
        self.expected, self.lo, self.hi, self.score = expected, lo, hi, score
        self.deviates, self.alarm, self.method, self.season = deviates, alarm, method, season

    def __repr__(self):
        return f"V(exp={self.expected:.3f}, [{self.lo:.3f},{self.hi:.3f}] score={self.score:.2f}, dev={self.deviates}, alarm={self.alarm}, {self.method})"


def lattice_step(s):
    """The smallest gap between consecutive distinct values seen at least twice, once at least three
    such values are known (a lattice seen from two gaps); INF otherwise."""
    rep, i = [], 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        if j > i:
            rep.append(s[i])
        i = j + 1
    if len(rep) < 3:
        return INF
    return min(b - a for a, b in zip(rep, rep[1:]))


def robust_sigma(sorted_r, m):
    """sigma from the narrowest central range that is not empty of spread, or the MAD."""
    spread_q = 0.0
    for p, z in RANGES:
        s = (quantile_sorted(sorted_r, 1 - p) - quantile_sorted(sorted_r, p)) / (2 * z)
        if s > 0:
            spread_q = s
            break
    mad_sigma = median_of(abs(x - m) for x in sorted_r) * MAD_TO_SIGMA
    return fmax(spread_q, mad_sigma)


def lag1(xs, m, sigma):
    if not sigma > 0 or len(xs) < 3:
        return 0.0
    z = [min(max((x - m) / sigma, -CUSUM_CLIP), CUSUM_CLIP) for x in xs]
    mu = sum(z) / len(z)
    num = sum((a - mu) * (b - mu) for a, b in zip(z, z[1:]))
    den = sum((a - mu) ** 2 for a in z)
    return min(max(num / den, 0.0), RHO_MAX) if den > 0 else 0.0


class Online:
    def __init__(self, threshold=6.0, min_history=8):
        self.t, self.min_history = threshold, min_history
        self.ts, self.values = deque(), deque()
        self.accepted = deque()
        self.recent = deque()
        self.anchor = None  # [accepted, drift_res, unit, age]
        self.seen = 0
        self.residuals = deque()
        self.season = None
        self.phases = []
        self.next_refit = max(min_history, 2)
        self.scale = None
        self.scale_age = 0
        self.hold = MIN_HOLD
        self.quiet = 0
        self.alarm = False
        self.spread = 0.0
        self.resolution = INF
        self.counts = {}
        self.repeated = []
        self.drift_res = deque()
        self.drift = None  # (center, sigma, rho)
        self.drift_age = 0
        self.cusum_hi = 0.0
        self.cusum_lo = 0.0
        self.adopted_now = False

    def push(self, ts, value):
        if value != value:
            return V(NAN, NAN, NAN, NAN, False, self.alarm, "warmup", self.season)
        if self.seen >= self.next_refit:
            self.refit()
        accept = True
        if self.seen < max(self.min_history, 2):
            expected = NAN if self.seen == 0 else self.level()
            v = V(expected, -INF, INF, 0.0, False, False, "warmup", None)
        else:
            v, accept = self.judge(ts, value)
        if math.isfinite(value):
            self.remember(ts, value, v.expected, accept)
        return v

    def level(self):
        n = len(self.accepted)
        return median_of(list(self.accepted)[max(0, n - LEVEL_WINDOW):])

    def floors(self, expected, value, spread):
        f = fmax(scale_floor(fmax(abs(expected), abs(value))), 0.1 * spread)
        if math.isfinite(self.resolution):
            f = fmax(f, self.resolution / SQRT12)
        return f

    def point(self, value, expected, method, sc):
        med, q1, q3, skewed, sigma, spread = sc
        floor = self.floors(expected, value, spread)
        t = self.t
        r = value - expected
        if skewed and method != "seasonal":
            unit = fmax((q3 - q1) / 1.349, floor)
            if r > q3:
                z = 0.674 + (r - q3) / unit
            elif r < q1:
                z = 0.674 + (q1 - r) / unit
            else:
                z = 0.0
            return z, expected + q1 - (t - 0.674) * unit, expected + q3 + (t - 0.674) * unit, unit, "iqr"
        unit = fmax(sigma, floor)
        if not math.isfinite(unit):
            unit = floor
        return abs(r - med) / unit, expected + med - t * unit, expected + med + t * unit, unit, method

    def judge(self, ts, value):
        level = self.level()
        method = "robust_z"
        expected = level
        if self.season is not None:
            p = self.phases[self.season.bucket(ts)]
            if len(p) >= 3:
                expected, method = median_of(p), "seasonal"
        if self.scale is None or self.scale_age >= 16:
            self.scale = self.residual_scale()
            self.scale_age = 0
        self.scale_age += 1
        sc = self.scale if self.scale is not None else (0.0, 0.0, 0.0, False, 0.0, 0.0)
        t = self.t
        score, lo, hi, unit, method = self.point(value, expected, method, sc)
        deviates = score >= t
        # A return: off the level followed since a shift, at home at the level before it.
        if deviates and self.anchor is not None and method != "seasonal" and math.isfinite(value):
            a_acc, a_res, a_unit, _ = self.anchor
            a_level = median_of(list(a_acc)[-LEVEL_WINDOW:])
            a_sc = sc[:4] + (fmax(sc[4], a_unit),) + sc[5:]
            a = self.point(value, a_level, method, a_sc)
            if a[0] < t:
                self.accepted, self.drift_res = deque(a_acc), deque(a_res)
                self.anchor, self.drift = None, None
                self.recent.clear()
                self.cusum_hi = self.cusum_lo = 0.0
                (score, lo, hi, unit, method), expected, deviates = a, a_level, False
        point = deviates
        # Drift: a two-sided CUSUM of the value's residual from the long level (the median of the
        # last LONG_WINDOW accepted values), centred and scaled by the past such residuals.
        if method != "seasonal" and math.isfinite(value):
            if point:
                self.cusum_hi = self.cusum_lo = 0.0
            elif len(self.accepted) >= LONG_WINDOW:
                r_long = value - median_of(self.accepted)
                if len(self.drift_res) >= DRIFT_MIN:
                    if self.drift is None or self.drift_age >= 16:
                        self.drift = self.drift_scale()
                        self.drift_age = 0
                    self.drift_age += 1
                    c, s_l, rho = self.drift
                    s_l = fmax(s_l, self.floors(expected, value, sc[5]))
                    z = min(max((r_long - c) / s_l, -CUSUM_CLIP), CUSUM_CLIP)
                    self.cusum_hi = max(0.0, self.cusum_hi + z - CUSUM_K)
                    self.cusum_lo = max(0.0, self.cusum_lo - z - CUSUM_K)
                    h = CUSUM_H * t * (1 + rho) / (1 - rho)
                    s = max(self.cusum_hi, self.cusum_lo)
                    if s >= h:
                        score, method, deviates = t * s / h, "cusum", True
                        self.cusum_hi = self.cusum_lo = 0.0
                self.drift_res.append(r_long)
                if len(self.drift_res) > RESIDUAL_WINDOW:
                    self.drift_res.popleft()
        if math.isinf(value):
            score, deviates, point = INF, True, True
        if deviates:
            self.alarm = True
            self.quiet = 0
        elif self.alarm:
            self.quiet += 1
            if self.quiet >= self.hold:
                self.alarm = False
        accept = True
        self.adopted_now = False
        if math.isfinite(value):
            side = 0 if not point else (1 if value > expected else -1)
            accept = side == 0
            self.track(value, side, unit)
        return V(expected, lo, hi, score, deviates, self.alarm, method, self.season), accept

    def track(self, value, side, unit):
        self.recent.append((value, side))
        if len(self.recent) > LEVEL_WINDOW:
            self.recent.popleft()
        if self.anchor is not None:
            self.anchor[3] += 1
            if self.anchor[3] > RETURN_MEMORY:
                self.anchor = None
        for s in (1, -1):
            if sum(1 for _, x in self.recent if x == s) > LEVEL_WINDOW // 2:
                if self.anchor is None:
                    self.anchor = [deque(self.accepted), deque(self.drift_res), unit, 0]
                # The residuals of the values that made the shift are the shift, not noise.
                k = len(self.recent) - 1
                n = len(self.residuals)
                for j in range(max(0, n - k), n):
                    r, kind = self.residuals[j]
                    if kind == 1 and (r > 0) == (s > 0):
                        self.residuals[j] = (r, 2)
                self.adopted_now = True
                self.accepted = deque(v for v, x in self.recent if x == s)
                self.drift_res.clear()
                self.drift = None
                self.recent.clear()
                self.cusum_hi = self.cusum_lo = 0.0
                break

    def residual_scale(self):
        r = sorted(x for x, k in self.residuals if k != 2)
        if not r:
            return None
        q1, m, q3 = quantile_sorted(r, 0.25), quantile_sorted(r, 0.5), quantile_sorted(r, 0.75)
        skewed = q3 > q1 and abs((q3 + q1 - 2 * m) / (q3 - q1)) > 0.3
        return (m, q1, q3, skewed, robust_sigma(r, m), self.spread)

    def drift_scale(self):
        r = sorted(self.drift_res)
        m = quantile_sorted(r, 0.5)
        sigma = robust_sigma(r, m)
        return (m, sigma, lag1(self.drift_res, m, sigma))

    def remember(self, ts, value, expected, accept):
        self.seen += 1
        self.ts.append(ts)
        self.values.append(value)
        self.count(value, 1)
        if len(self.values) > SEASON_WINDOW:
            self.ts.popleft()
            self.count(self.values.popleft(), -1)
        if accept:
            self.accepted.append(value)
            if len(self.accepted) > LONG_WINDOW:
                self.accepted.popleft()
        if self.seen > 1 and math.isfinite(expected):
            self.residuals.append((value - expected, 0 if accept else (2 if self.adopted_now else 1)))
            if len(self.residuals) > RESIDUAL_WINDOW:
                self.residuals.popleft()
        if self.season is not None:
            p = self.phases[self.season.bucket(ts)]
            p.append(value)
            if len(p) > PHASE_DEPTH:
                p.popleft()

    def count(self, value, d):
        """Counts of the kept values; those seen at least twice, in order, give the step of the
        lattice the values lie on."""
        k = value + 0.0
        c = self.counts.get(k, 0) + d
        if c > 0:
            self.counts[k] = c
        else:
            self.counts.pop(k, None)
        if d > 0 and c == 2:
            i = bisect.bisect_left(self.repeated, k)
            self.repeated.insert(i, k)
            if len(self.repeated) == 3:
                self.resolution = min(b - a for a, b in zip(self.repeated, self.repeated[1:]))
            elif len(self.repeated) > 3:
                if i > 0:
                    self.resolution = min(self.resolution, k - self.repeated[i - 1])
                if i + 1 < len(self.repeated):
                    self.resolution = min(self.resolution, self.repeated[i + 1] - k)
        elif d < 0 and c == 1:
            self.repeated.pop(bisect.bisect_left(self.repeated, k))
            self.resolution = min((b - a for a, b in zip(self.repeated, self.repeated[1:])), default=INF) if len(self.repeated) >= 3 else INF

    def refit(self):
        ts, vs = list(self.ts), list(self.values)
        s = sorted(vs)
        a, b = quantile_sorted(s, 0.25), quantile_sorted(s, 0.75)
        self.spread = (b - a) / 1.349 if a is not None else 0.0
        sp = spacing(ts)
        if sp is not None:
            self.hold = max(MIN_HOLD, 3600 // max(sp, 1))
        found = detect(ts, vs)
        found = found[0] if found else None
        if found != self.season:
            self.season = found
            if found is not None:
                self.phases = [deque() for _ in range(found.buckets)]
                for t, v in zip(ts, vs):
                    q = self.phases[found.bucket(t)]
                    q.append(v)
                    if len(q) > PHASE_DEPTH:
                        q.popleft()
            else:
                self.phases = []
        self.next_refit = self.seen + min(max(self.seen // 4, 16), 256)


def run(ts, values, **kw):
    d = Online(**kw)
    return [d.push(t, v) for t, v in zip(ts, values)]
