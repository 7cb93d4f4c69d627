import sys, importlib
from collections import Counter
mod = importlib.import_module(sys.argv[1])
t0 = 1704067200
ts = [t0 + i * 300 for i in range(1, 1001)]
v = [100.0 + (i % 7) + (80 if i == 900 else 0) for i in range(1, 1001)]
r = mod.run(ts, v)
print("score>=6:", [(i + 1, v[i], x.expected, round(x.score, 1), x.method) for i, x in enumerate(r) if x.score >= 6])
al = [i + 1 for i, x in enumerate(r) if x.alarm]
print("alarmed", len(al), min(al), max(al))
print("detectors", sorted(Counter(x.method for x in r).items()))
b = [float('inf') if t == t0 + 86400 else (float('nan') if vv == 103 else 1.0) for t, vv in zip(ts, v)]
rb = mod.run(ts, b)
print("b score>=6:", [(i + 1, b[i]) for i, x in enumerate(rb) if x.score >= 6])
c = mod.run(ts, [5.0] * 1000); print("constant alarms", sum(x.alarm for x in c))
rc = [100.0 * k for k in range(1, 13)] + [1600.0, 1600.0]
print("row_count", [(i, round(x.score, 2), x.method) for i, x in enumerate(mod.run([t0] * 14, rc)) if x.method != "warmup"])
nr = [0.0] * 12 + [0.25, 0.2]
print("null_rate", [(i, round(x.score, 2), x.expected, x.lo, x.hi, x.method) for i, x in enumerate(mod.run([t0] * 14, nr)) if x.deviates])
