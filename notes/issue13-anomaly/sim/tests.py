import importlib, sys
from common import events, lcg_noise as noise, INF, NAN
mod = importlib.import_module(sys.argv[1])
run = mod.run
def ts(n, step): return [1_600_000_000 + i * step for i in range(n)]
ok = True
def check(name, cond, info=""):
    global ok
    ok &= bool(cond)
    print(("PASS " if cond else "FAIL ") + name, info if not cond else "")

# a_spike_is_one_event_and_noise_none
v = [100.0 + 4.0 * x for x in noise(2000, 7)]
q = run(ts(2000, 300), v); check("spike: noise none", not events([x.alarm for x in q]), events([x.alarm for x in q]))
v[1500] = 160.0
r = run(ts(2000, 300), v); e = events([x.alarm for x in r])
check("spike: one event at 1500", len(e) == 1 and e[0][0] == 1500, e)
check("spike: score", r[1500].deviates and r[1500].score > 10 and r[1500].hi < 160, r[1500])

# a_level_shift_alarms_then_becomes_the_new_normal
v = [(50.0 if i < 2000 else 80.0) + 2.0 * x for i, x in enumerate(noise(3000, 11))]
r = run(ts(3000, 60), v); e = events([x.alarm for x in r])
check("shift: one event at 2000, clears < 2100", len(e) == 1 and e[0][0] == 2000 and e[0][1] < 2100, e)

# seasonality_is_learnt_and_a_break_of_it_is_caught
n = 24 * 35; t = ts(n, 3600)
v = [(10.0 if (i % 24) < 12 else 100.0) + 2.0 * e for i, e in zip(range(n), noise(n, 3))]
q = run(t, v)
check("season: quiet after 4 days", all(not x.deviates for x in q[96:]), [i for i, x in enumerate(q) if x.deviates and i >= 96])
check("season: seasonal", q[-1].method == "seasonal")
for i in range(720, 726): v[i] = 100.0
r = run(t, v); e = [x for x in events([x.alarm for x in r]) if x[0] >= 72]
check("season: break one event at 720", len(e) == 1 and e[0][0] == 720 and r[720].method == "seasonal", (e, r[720]))

# empty_constant_nan_and_infinite
check("empty", run([], []) == [])
c = run(ts(100, 1), [5.0] * 100); check("constant quiet", all(not x.alarm for x in c))
v = [5.0] * 100; v[50] = NAN; v[60] = INF; v[70] = 6.0
r = run(ts(100, 1), v)
check("nan", r[50].score != r[50].score and not r[50].deviates)
check("inf", r[60].deviates and r[60].score == INF, r[60])
check("moves", r[70].deviates, r[70])
check("warmup", run(ts(3, 1), [1.0, 2.0, 3.0])[2].method == "warmup")
print("ALL PASS" if ok else "SOME FAIL")
