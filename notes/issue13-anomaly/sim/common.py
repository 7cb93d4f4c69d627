"""Shared pieces of the Python ports of core/src/anomaly/{stats,seasonal}.rs (for simulation only)."""
import math

NAN = float("nan")
INF = float("inf")
MAD_TO_SIGMA = 1.482602218505602
DAY = 86400
WEEK = 7 * DAY


def fmax(a, b):
    """Rust f64::max: NaN loses."""
    if a != a:
        return b
    if b != b:
        return a
    return a if a >= b else b


def fmin(a, b):
    if a != a:
        return b
    if b != b:
        return a
    return a if a <= b else b


def quantile_sorted(s, q):
    if not s:
        return None
    pos = min(max(q, 0.0), 1.0) * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def sorted_finite(xs):
    return sorted(x for x in xs if math.isfinite(x))


def median(xs):
    return quantile_sorted(sorted_finite(xs), 0.5)


def median_of(xs):
    m = median(list(xs))
    return NAN if m is None else m


def scale_floor(center):
    return 1e-3 * max(abs(center), 1e-6)


# --- statrs FisherSnedecor cdf via the regularized incomplete beta ---
def _betacf(a, b, x):
    MAXIT, EPS, FPMIN = 300, 3e-16, 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    if abs(d) < FPMIN:
        d = FPMIN
    d = 1.0 / d
    h = d
    for m in range(1, MAXIT + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < FPMIN:
            d = FPMIN
        c = 1.0 + aa / c
        if abs(c) < FPMIN:
            c = FPMIN
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < FPMIN:
            d = FPMIN
        c = 1.0 + aa / c
        if abs(c) < FPMIN:
            c = FPMIN
        d = 1.0 / d
        de = d * c
        h *= de
        if abs(de - 1.0) < EPS:
            break
    return h


def betai(a, b, x):
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    bt = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x))
    if x < (a + 1) / (a + b + 2):
        return bt * _betacf(a, b, x) / a
    return 1.0 - bt * _betacf(b, a, 1 - x) / b


def f_sf(f, d1, d2):
    """1 - cdf of F(d1, d2) at f."""
    if f <= 0:
        return 1.0
    x = d1 * f / (d1 * f + d2)
    # 1 - I_x(d1/2, d2/2) = I_{1-x}(d2/2, d1/2), accurate in the tail
    return betai(d2 / 2.0, d1 / 2.0, 1.0 - x)


class Seasonality:
    __slots__ = ("period", "buckets")

    def __init__(self, period, buckets):
        self.period, self.buckets = period, buckets

    def bucket(self, ts):
        width = max(self.period // self.buckets, 1)
        return min((ts % self.period) // width, self.buckets - 1)

    def __eq__(self, o):
        return isinstance(o, Seasonality) and (self.period, self.buckets) == (o.period, o.buckets)

    def __repr__(self):
        return f"Seasonality({self.period},{self.buckets})"


def spacing(ts):
    d = sorted(b - a for a, b in zip(ts, ts[1:]) if b - a > 0)
    if not d:
        return None
    return d[len(d) // 2]


def candidates(sp):
    sp = max(sp, 1)
    per_day = max(DAY // sp, 1)
    c = []
    if per_day >= 4:
        c.append(Seasonality(DAY, min(per_day, 96)))
    per_week = max(WEEK // sp, 1)
    if per_week >= 7:
        c.append(Seasonality(WEEK, min(per_week, 168)))
    return c


def explained(s, ts, values):
    sm = [0.0] * s.buckets
    cnt = [0] * s.buckets
    total, n = 0.0, 0
    bs = []
    for t, v in zip(ts, values):
        b = s.bucket(t)
        bs.append(b)
        if math.isfinite(v):
            sm[b] += v
            cnt[b] += 1
            total += v
            n += 1
    k = sum(1 for c in cnt if c > 0)
    if k < 2 or n <= k + 1:
        return None
    mean = total / n
    ss_total = ss_within = 0.0
    for b, v in zip(bs, values):
        if math.isfinite(v):
            ss_total += (v - mean) ** 2
            ss_within += (v - sm[b] / cnt[b]) ** 2
    if ss_total <= 0:
        return None
    adj = 1.0 - (ss_within / (n - k)) / (ss_total / (n - 1))
    ss_between = ss_total - ss_within
    if ss_within <= 0:
        p = 0.0
    else:
        f = (ss_between / (k - 1)) / (ss_within / (n - k))
        p = f_sf(f, k - 1, n - k)
    return adj, p


def detect(ts, values):
    if not ts:
        return None
    first, last = ts[0], ts[-1]
    sp = spacing(ts)
    if sp is None:
        return None
    best = None
    for s in candidates(sp):
        if last - first < 2 * s.period:
            continue
        e = explained(s, ts, values)
        if e is not None:
            r2, p = e
            if r2 >= 0.5 and p < 1e-3 and (best is None or r2 > best[1] + 0.02):
                best = (s, r2)
    return best


def events(alarms):
    out, start = [], None
    for i, a in enumerate(alarms):
        if a and start is None:
            start = i
        elif not a and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(alarms) - 1))
    return out


def lcg_noise(n, seed):
    """The tests' noise(): uniform in [-0.5, 0.5)."""
    s = seed
    out = []
    M = (1 << 64) - 1
    for _ in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & M
        out.append((s >> 33) / (1 << 31) - 0.5)
    return out
