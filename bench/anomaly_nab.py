"""NAB window scoring of eai (from SQL, online) against a rolling 3-sigma baseline and PyOD IForest.
Consecutive flagged points form one event; an event touching a labelled window is a hit, one
touching none a false positive; a window with at least one event is detected. Scoring starts after
a probation of the first 15% of each series (events ending in it and windows ending in it are left
out). Precision = hit events / events; recall = detected windows / windows; pooled over series."""
import json
import sys
import time
import warnings

import numpy as np
import psycopg2
from pyod.models.iforest import IForest

warnings.filterwarnings("ignore")
windows = json.load(open(sys.argv[1]))
conn = psycopg2.connect("")
cur = conn.cursor()
cur.execute("SELECT DISTINCT name FROM nab.series ORDER BY 1")
names = [r[0] for r in cur.fetchall()]
ROLL = 288  # rolling window of the 3-sigma baseline (a day of 5-minute points)


def events(flags):
    out, start = [], None
    for i, f in enumerate(flags):
        if f and start is None:
            start = i
        if not f and start is not None:
            out.append((start, i - 1)); start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out


def score(ts, flags, wins, probation):
    ev = [e for e in events(flags) if e[1] >= probation]
    wins = [w for w in wins if w[1] >= ts[probation]]
    hit_events, detected = 0, set()
    for a, b in ev:
        touched = [k for k, (ws, we) in enumerate(wins) if ts[a] <= we and ts[b] >= ws]
        hit_events += bool(touched)
        detected.update(touched)
    return len(ev), hit_events, len(detected), len(wins)


def rolling_3sigma(v):
    f = np.zeros(len(v), bool)
    for i in range(ROLL, len(v)):
        w = v[i - ROLL:i]
        f[i] = abs(v[i] - w.mean()) > 3 * w.std()
    return f


def iforest_past(v, probation):
    m = IForest(n_estimators=100, max_samples=256, random_state=0).fit(v[:probation].reshape(-1, 1))
    f = np.zeros(len(v), bool)
    f[probation:] = m.predict(v[probation:].reshape(-1, 1)) == 1
    return f


def iforest_whole(v):
    return IForest(n_estimators=100, max_samples=256, random_state=0).fit(v.reshape(-1, 1)).labels_ == 1


totals = {k: [0, 0, 0, 0] for k in ["eai", "rolling 3-sigma", "PyOD IForest (past)", "PyOD IForest (whole, look-ahead)"]}
print(f"{'series':<58} {'detector':<34} {'events':>6} {'hits':>5} {'windows':>8}")
for name in names:
    cur.execute("SELECT ts, value FROM nab.series WHERE name = %s ORDER BY ts", (name,))
    rows = cur.fetchall()
    ts = np.array([r[0] for r in rows], dtype="datetime64[us]")
    v = np.array([r[1] for r in rows], dtype=float)
    wins = [(np.datetime64(a.replace(" ", "T")), np.datetime64(b.replace(" ", "T"))) for a, b in windows.get(name, [])]
    probation = int(0.15 * len(v))
    t0 = time.perf_counter()
    cur.execute("SELECT ordinal FROM eai.detect_anomalies(%s) WHERE anomalous",
                (f"SELECT ts, value FROM nab.series WHERE name = '{name}' ORDER BY ts",))
    flagged = {r[0] - 1 for r in cur.fetchall()}
    eai_s = time.perf_counter() - t0
    flags = {"eai": np.array([i in flagged for i in range(len(v))]),
             "rolling 3-sigma": rolling_3sigma(v),
             "PyOD IForest (past)": iforest_past(v, probation),
             "PyOD IForest (whole, look-ahead)": iforest_whole(v)}
    for k, f in flags.items():
        r = score(ts, f, wins, probation)
        totals[k] = [a + b for a, b in zip(totals[k], r)]
        label = f"{k} ({eai_s:.2f} s)" if k == "eai" else k
        print(f"{name:<58} {label:<34} {r[0]:>6} {r[1]:>5} {r[2]:>4}/{r[3]:<3}")

print(f"\npooled over {len(names)} series (probation 15%):")
print(f"{'detector':<34} {'precision':>9} {'recall':>7} {'F1':>6}")
f1s = {}
for k, (ev, hits, det, nw) in totals.items():
    p = hits / ev if ev else 0.0
    r = det / nw if nw else 0.0
    f1s[k] = 2 * p * r / (p + r) if p + r else 0.0
    print(f"{k:<34} {p:>9.3f} {r:>7.3f} {f1s[k]:>6.3f}")
print(f"\neai F1 {f1s['eai']:.3f} (aim >= 0.30); rolling 3-sigma {f1s['rolling 3-sigma']:.3f}, "
      f"PyOD IForest past {f1s['PyOD IForest (past)']:.3f}, whole {f1s['PyOD IForest (whole, look-ahead)']:.3f}")
