"""ROC-AUC and time of eai's Isolation Forest (from SQL) against scikit-learn and PyOD, on the ODDS
tables bench/anomaly_odds.sh loads. Times: eai is the whole SQL call (reading the table, fitting,
scoring, returning every score); the Python detectors are timed for fit+score on arrays already in
memory, and again including reading the table from PostgreSQL (what a user of them pays)."""
import sys
import time
import warnings

import numpy as np
import psycopg2
from pyod.models.ecod import ECOD
from pyod.models.iforest import IForest
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

warnings.filterwarnings("ignore")
seeds = range(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
conn = psycopg2.connect("")
conn.autocommit = True
cur = conn.cursor()
cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'odds' ORDER BY 1")
tables = [r[0] for r in cur.fetchall()]


def features(t):
    cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'odds' AND table_name = %s "
                "AND column_name LIKE 'feature%%' ORDER BY ordinal_position", (t,))
    return [r[0] for r in cur.fetchall()]


def load(t, cols):
    cur.execute(f"SELECT {', '.join(cols)}, label FROM odds.{t} ORDER BY id")
    a = np.array(cur.fetchall(), dtype=float)
    return a[:, :-1], a[:, -1].astype(int)


def timed(f):
    s = time.perf_counter()
    r = f()
    return r, time.perf_counter() - s


rows = []
print(f"{'data set':<12} {'rows':>6} {'dims':>4} | {'eai AUC':>8} {'sklearn':>8} {'Δ':>7} {'IForest':>8} {'ECOD':>6} |"
      f" {'eai s':>7} {'skl fit':>8} {'skl+read':>8} {'ratio':>6}")
for t in tables:
    cols = features(t)
    (X, y), read_s = timed(lambda: load(t, cols))
    q = f"SELECT {', '.join(cols)} FROM odds.{t} ORDER BY id"
    res = {"eai": [], "sk": [], "pyod": [], "ecod": []}
    tm = {"eai": [], "sk": []}
    for seed in seeds:
        def eai():
            cur.execute("SELECT score FROM eai.detect_anomalies(%s, all_rows => true, seed => %s) ORDER BY ordinal", (q, seed))
            return np.array([r[0] for r in cur.fetchall()])
        s, e = timed(eai)
        res["eai"].append(roc_auc_score(y, s)); tm["eai"].append(e)

        def sk():
            m = IsolationForest(n_estimators=100, max_samples=256, random_state=seed).fit(X)
            return -m.score_samples(X)
        s, e = timed(sk)
        res["sk"].append(roc_auc_score(y, s)); tm["sk"].append(e)
        m = IForest(n_estimators=100, max_samples=256, random_state=seed).fit(X)
        res["pyod"].append(roc_auc_score(y, m.decision_scores_))
    m = ECOD().fit(X)
    res["ecod"].append(roc_auc_score(y, m.decision_scores_))
    a = {k: float(np.mean(v)) for k, v in res.items()}
    te, ts = float(np.median(tm["eai"])), float(np.median(tm["sk"]))
    rows.append((t, a, te, ts, ts + read_s))
    print(f"{t:<12} {len(y):>6} {X.shape[1]:>4} | {a['eai']:>8.3f} {a['sk']:>8.3f} {a['eai'] - a['sk']:>+7.3f} {a['pyod']:>8.3f}"
          f" {a['ecod']:>6.3f} | {te:>7.3f} {ts:>8.3f} {ts + read_s:>8.3f} {ts / te:>5.1f}x")

mean = lambda k: np.mean([r[1][k] for r in rows])
print(f"\nmean ROC-AUC over {len(rows)} sets, {len(list(seeds))} seeds: eai {mean('eai'):.3f}, scikit-learn {mean('sk'):.3f}, "
      f"PyOD IForest {mean('pyod'):.3f}, ECOD {mean('ecod'):.3f}")
worst = max(abs(r[1]['eai'] - r[1]['sk']) for r in rows)
print(f"largest |AUC eai - scikit-learn| on one set: {worst:.3f} (aim <= 0.01)")
print(f"speed, scikit-learn fit+score time / eai time from SQL: "
      f"{min(r[3] / r[2] for r in rows):.1f}x to {max(r[3] / r[2] for r in rows):.1f}x "
      f"(with reading the table: {min(r[4] / r[2] for r in rows):.1f}x to {max(r[4] / r[2] for r in rows):.1f}x; aim >= 2x)")
