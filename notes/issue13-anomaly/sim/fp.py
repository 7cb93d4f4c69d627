import sys, importlib, math, random
from collections import Counter
from cases import ramp, ts
mods = [importlib.import_module(m) for m in sys.argv[1:]]
def gauss(n, seed):
    rnd = random.Random(seed); return [rnd.gauss(0, 1) for _ in range(n)]
def ar(n, phi, seed):
    g = gauss(n, seed); x = 0; out = []
    for e in g: x = phi * x + e * math.sqrt(1 - phi * phi); out.append(x)
    return out
series = {
  "trend+noise": lambda s: [1000 + 5 * i + x for i, x in enumerate(gauss(20000, s))],
  "exact trend": lambda s: [1000.0 + 100 * i for i in range(20000)],
  "trend steps": lambda s: [1000.0 + 100 * (i // 4) for i in range(20000)],
  "_gauss iid": lambda s: [100 + x for x in gauss(20000, s)],
  "_AR(1) 0.5": lambda s: [100 + x for x in ar(20000, 0.5, s)],
  "_AR(1) 0.9": lambda s: [100 + x for x in ar(20000, 0.9, s)],
  "random walk": lambda s: [100 + x for x in __import__('itertools').accumulate(gauss(20000, s))],
  "heavy-tail t3": lambda s: [100 + a / math.sqrt((b*b+c*c+d*d)/3) for a, b, c, d in zip(gauss(20000, s), gauss(20000, s+100), gauss(20000, s+200), gauss(20000, s+300))],
}
for name, f in series.items():
    if name.startswith('_'): continue
    for m in mods:
        c = Counter(); ev = 0
        for s in (1, 2):
            v = f(s); r = m.run(ts(len(v)), v)
            c.update(x.method for x in r if x.deviates)
        print(f"{name:<14} {m.__name__:<5} deviating per 10k points: {sum(c.values())/4:.1f}  {dict(c)}")
for rise, widen in ((6, 3), (4, 2), (3, 1.5), (4, 1), (0, 3), (2, 1)):
    for m in mods:
        hits = 0; lat = []
        for s in range(1, 41):
            v = ramp(seed=s, rise=rise, widen=widen); r = m.run(ts(336), v)
            d = [i for i in range(240, 289) if r[i].deviates]
            if d: hits += 1; lat.append(d[0] - 240)
        print(f"ramp +{rise}sd x{widen} {m.__name__:<5} flagged in {hits}/40, median delay {sorted(lat)[len(lat)//2] if lat else '-'}")
