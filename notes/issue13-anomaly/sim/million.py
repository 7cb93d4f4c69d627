import sys, importlib, time
from common import lcg_noise
mod = importlib.import_module(sys.argv[1])
n = 1_000_000; d = mod.Online(); e = lcg_noise(n, 5); a = 0; t0 = time.time()
from collections import Counter
c = Counter()
for i in range(n):
    r = d.push(i * 60, 10.0 + e[i])
    if r.deviates: a += 1; c[r.method] += 1
print("alarms", a, c, len(d.values), len(d.residuals), f"{time.time()-t0:.0f}s")
