import sys, importlib
from common import events
from cases import near_constant, dip, ramp, spike, ts
mod = importlib.import_module(sys.argv[1])
bad = {"near": [], "dip": [], "ramp": [], "ramp_pre": [], "spike": []}
for seed in range(1, 41):
    v = near_constant(every=14, seed=seed); r = mod.run(ts(336), v)
    d = [i for i, x in enumerate(r) if x.deviates]
    if len(d) > 5 or any(i >= 336 // 3 for i in d): bad["near"].append((seed, len(d)))
    for L in (6, 24, 48):
        v = dip(length=L, seed=seed); r = mod.run(ts(336), v)
        e = events([x.alarm for x in r])
        if not (len(e) == 1 and e[0][0] == 200 and not any(x.deviates for x in r[200 + L:])): bad["dip"].append((seed, L, e))
    v = ramp(seed=seed); r = mod.run(ts(336), v)
    if not any(x.deviates for x in r[240:289]): bad["ramp"].append(seed)
    if any(x.deviates for x in r[:240]): bad["ramp_pre"].append((seed, [i for i, x in enumerate(r[:240]) if x.deviates]))
    v = spike(seed=seed); r = mod.run(ts(336), v)
    if [i for i, x in enumerate(r) if x.deviates] != [250]: bad["spike"].append((seed, [i for i, x in enumerate(r) if x.deviates]))
for k, b in bad.items(): print(k, len(b), b[:8])
