"""Faithful Python port of today's core/src/anomaly/online.rs (simulation only)."""
import math
from collections import deque

from common import (INF, NAN, MAD_TO_SIGMA, detect, fmax, median_of, quantile_sorted, scale_floor, spacing)

LEVEL_WINDOW, RESIDUAL_WINDOW, PHASE_DEPTH, MIN_HOLD, SEASON_WINDOW = 16, 512, 12, 6, 8192


class V:
    __slots__ = ("expected", "lo", "hi", "score", "deviates", "alarm", "method", "season")

    def __init__(self, expected, lo, hi, score, deviates, alarm, method, season):
        self.expected, self.lo, self.hi, self.score = expected, lo, hi, score
        self.deviates, self.alarm, self.method, self.season = deviates, alarm, method, season

    def __repr__(self):
        return f"V(exp={self.expected:.3f}, score={self.score:.2f}, dev={self.deviates}, alarm={self.alarm}, {self.method})"


class Online:
    def __init__(self, threshold=6.0, min_history=8):
        self.t, self.min_history = threshold, min_history
        self.ts, self.values = deque(), deque()
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

    def push(self, ts, value):
        if value != value:
            return V(NAN, NAN, NAN, NAN, False, self.alarm, "warmup", self.season)
        if self.seen >= self.next_refit:
            self.refit()
        if self.seen < max(self.min_history, 2):
            expected = NAN if self.seen == 0 else self.level()
            v = V(expected, -INF, INF, 0.0, False, False, "warmup", None)
        else:
            v = self.judge(ts, value)
        if math.isfinite(value):
            self.remember(ts, value, v.expected)
        return v

    def level(self):
        n = len(self.values)
        return median_of(list(self.values)[max(0, n - LEVEL_WINDOW):])

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
        med, q1, q3, skewed, mad_sigma, spread = self.scale if self.scale is not None else (0.0, 0.0, 0.0, False, 0.0, 0.0)
        floor = fmax(scale_floor(fmax(abs(expected), abs(value))), 0.1 * spread)
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
            score, lo, hi, method = z, expected + q1 - (t - 0.674) * unit, expected + q3 + (t - 0.674) * unit, "iqr"
        else:
            unit = fmax(fmax((q3 - q1) / 1.349, mad_sigma), floor)
            if not math.isfinite(unit):
                unit = floor
            score = abs(r - med) / unit if unit != 0 else (INF if r - med != 0 else NAN)
            lo, hi = expected + med - t * unit, expected + med + t * unit
        if math.isinf(value):
            score = INF
        deviates = score >= t
        if deviates:
            self.alarm = True
            self.quiet = 0
        elif self.alarm:
            self.quiet += 1
            if self.quiet >= self.hold:
                self.alarm = False
        return V(expected, lo, hi, score, deviates, self.alarm, method, self.season)

    def residual_scale(self):
        r = sorted(self.residuals)
        if not r:
            return None
        q1, m, q3 = quantile_sorted(r, 0.25), quantile_sorted(r, 0.5), quantile_sorted(r, 0.75)
        skewed = q3 > q1 and abs((q3 + q1 - 2 * m) / (q3 - q1)) > 0.3
        mad_sigma = median_of(abs(x - m) for x in r) * MAD_TO_SIGMA
        return (m, q1, q3, skewed, mad_sigma, self.spread)

    def remember(self, ts, value, expected):
        self.seen += 1
        self.ts.append(ts)
        self.values.append(value)
        if len(self.values) > SEASON_WINDOW:
            self.ts.popleft()
            self.values.popleft()
        if self.seen > 1 and math.isfinite(expected):
            self.residuals.append(value - expected)
            if len(self.residuals) > RESIDUAL_WINDOW:
                self.residuals.popleft()
        if self.season is not None:
            p = self.phases[self.season.bucket(ts)]
            p.append(value)
            if len(p) > PHASE_DEPTH:
                p.popleft()

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
