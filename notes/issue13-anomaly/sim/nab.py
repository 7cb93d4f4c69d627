"""NAB window scoring as bench/anomaly_nab.py does it, over a Python port of the online detector."""
import csv, glob, importlib, json, sys, time
from datetime import datetime, timezone
from common import events

mod = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "port_current")
NAB = "/work/shared/data/anomaly/nab"
wins_all = json.load(open(f"{NAB}/labels/combined_windows.json"))
def p(s): return datetime.fromisoformat(s.replace(" ", "T")).replace(tzinfo=timezone.utc)
tot = [0, 0, 0, 0]
for f in sorted(glob.glob(f"{NAB}/data/*/*.csv")):
    name = f[len(NAB) + 6:]
    rows = list(csv.reader(open(f)))[1:]
    ts = [int(p(r[0]).timestamp()) for r in rows]
    v = [float(r[1]) for r in rows]
    t0 = time.time()
    res = mod.run(ts, v)
    flags = [x.alarm for x in res]
    prob = int(0.15 * len(v))
    wins = [(int(p(a).timestamp()), int(p(b).timestamp())) for a, b in wins_all.get(name, [])]
    wins = [w for w in wins if w[1] >= ts[prob]]
    ev = [e for e in events(flags) if e[1] >= prob]
    hits, det = 0, set()
    for a, b in ev:
        touched = [k for k, (ws, we) in enumerate(wins) if ts[a] <= we and ts[b] >= ws]
        hits += bool(touched); det.update(touched)
    r = (len(ev), hits, len(det), len(wins))
    tot = [a + b for a, b in zip(tot, r)]
    extra = ""
    if hasattr(mod, "METHODS"):
        from collections import Counter
        extra = str(Counter(x.method for x in res if x.deviates))
    print(f"{name:<58} events {r[0]:>4} hits {r[1]:>3} windows {r[2]}/{r[3]}  {time.time()-t0:.1f}s {extra}", flush=True)
ev, hits, det, nw = tot
pr = hits / ev if ev else 0; rc = det / nw if nw else 0
print(f"pooled: precision {pr:.3f} recall {rc:.3f} F1 {2*pr*rc/(pr+rc) if pr+rc else 0:.3f}")
