import importlib, sys
from common import events, lcg_noise as noise
mod = importlib.import_module(sys.argv[1]); run = mod.run
def ts(n, step): return [1_600_000_000 + i * step for i in range(n)]
res = {}
n = 336
# near-constant
v = [12.0 if abs(x) < 0.5 - 0.5 / 14.0 else (13.0 if x > 0 else 11.0) for x in noise(n, 3)]
rare = sum(1 for x in v if x != 12.0)
r = run(ts(n, 3600), v); al = [i for i in range(n) if r[i].deviates]
v2 = list(v); v2[330] = 20.0; r2 = run(ts(n, 3600), v2)
res["near"] = (rare >= 20 and len(al) <= 5 and all(i < n // 3 for i in al) and r2[330].deviates, rare, al, r2[330])
# dip
ok = True; info = []
for L in (6, 24, 48):
    v = [(30.0 if 200 <= i < 200 + L else 50.0) + 2.0 * x for i, x in enumerate(noise(n, 5))]
    r = run(ts(n, 3600), v); e = events([x.alarm for x in r])
    back = [i for i in range(200 + L, n) if r[i].deviates]
    c = len(e) == 1 and e[0][0] == 200 and not back and abs(r[200 + L].expected - 50.0) < 1.0
    ok &= c; info.append((L, e, back, round(r[200 + L].expected, 2)))
res["dip"] = (ok, info)
# drift
v = [100.0 + 6.0 * f + (1.0 + 2.0 * f) * 3.4641 * x for f, x in ((min(max((i - 240.0) / 48.0, 0.0), 1.0), x) for i, x in enumerate(noise(n, 9)))]
r = run(ts(n, 3600), v)
pre = [i for i in range(240) if r[i].deviates]; caught = [i for i in range(240, 289) if r[i].deviates]
climb = [1000.0 + 5.0 * i + 3.4641 * x for i, x in enumerate(noise(n, 9))]
rc = run(ts(n, 3600), climb); cl = [(i, rc[i].method) for i in range(n) if rc[i].deviates]
res["drift"] = (not pre and bool(caught) and r[caught[0]].method == "cusum" and not any(m == "cusum" for _, m in cl), pre, caught, [r[i].method for i in caught], cl)
# spike
v = [100.0 + 4.0 * x for x in noise(n, 7)]; v[250] = 160.0
r = run(ts(n, 3600), v); fl = [i for i in range(n) if r[i].deviates]
res["spike"] = (fl == [250] and events([x.alarm for x in r]) == [(250, 255)] and r[250].score > 10 and r[250].method == "robust_z", fl, r[250])
for k, x in res.items(): print(("PASS " if x[0] else "FAIL ") + k, x[1:])
