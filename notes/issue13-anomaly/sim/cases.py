import importlib, sys
from common import events, lcg_noise
mod = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "port_current")
H = 3600
def ts(n, step=H): return [1_600_000_000 + i * step for i in range(n)]

def near_constant(n=336, every=14, seed=3):
    # 12 in almost every batch; an 11 or a 13 now and then (about 1 in `every`)
    e = lcg_noise(n, seed)
    return [12.0 if abs(x) < 0.5 - 0.5 / every else (13.0 if x > 0 else 11.0) for x in e]

def dip(n=336, at=200, length=24, seed=5):
    e = lcg_noise(n, seed)
    return [(30.0 if at <= i < at + length else 50.0) + 2.0 * x for i, x in enumerate(e)]

def ramp(n=336, at=240, length=48, seed=9, rise=6.0, widen=3.0):
    # level +rise (in sigma of the noise before) and spread x widen, both linear over `length` points
    e = lcg_noise(n, seed)
    out = []
    for i, x in enumerate(e):
        f = min(max((i - at) / length, 0.0), 1.0)
        sd = 1.0 * (1 + (widen - 1) * f)
        out.append(100.0 + rise * f + sd * 3.4641 * x)
    return out

def spike(n=336, at=250, seed=7):
    v = [100.0 + 4.0 * x for x in lcg_noise(n, seed)]
    v[at] = 160.0
    return v

def report(name, v, r, focus=None):
    dev = [i for i, x in enumerate(r) if x.deviates]
    print(f"{name:<28} deviating {len(dev):>3} {dev[:30]}  events {events([x.alarm for x in r])[:8]}")
    if focus:
        for i in focus:
            print("   ", i, round(v[i], 3), r[i])

if __name__ == "__main__":
    for every in (14, 50):
        v = near_constant(every=every); r = mod.run(ts(len(v)), v)
        print(f"   (near-constant: {sum(1 for x in v if x != 12)} rare values of {len(v)})")
        report(f"near_constant 1/{every}", v, r)
    for L in (6, 24):
        v = dip(length=L); r = mod.run(ts(len(v)), v)
        report(f"dip {L}", v, r)
    for rise, widen in ((6, 3), (5, 2), (8, 3), (4, 2)):
        v = ramp(rise=rise, widen=widen); r = mod.run(ts(len(v)), v)
        report(f"ramp +{rise}sd x{widen}", v, r)
    v = spike(); r = mod.run(ts(len(v)), v); report("spike", v, r)
