#!/usr/bin/env python3
"""Valentine's matchers on the same tables and with the same metrics as core/examples/match_bench.rs,
for bench/schema_matching.sh. MRR / top-1 per ground-truth source column; Recall@GT over the N
best pairs (N = ground-truth pairs). Each (matcher, table) runs in its own process with a timeout.

usage: valentine_baseline.py DATA_DIR [--timeout S] [--eai MRR,TOP1,RGT,SECONDS]
"""
import argparse
import csv
import glob
import json
import multiprocessing as mp
import os
import time


def cases(data):
    out = []
    gdc = os.path.join(data, "gdc-sm")
    target = glob.glob(os.path.join(gdc, "target-tables", "*.csv*"))[0]
    for gt in sorted(glob.glob(os.path.join(gdc, "ground-truth", "*.csv"))):
        paper = os.path.splitext(os.path.basename(gt))[0]
        with open(gt) as f:
            truth = {(r[0], r[1]) for r in list(csv.reader(f))[1:]}
        out.append((f"gdc/{paper}", os.path.join(gdc, "input-tables", paper + ".csv"), target, truth))
    val = os.path.join(data, "valentine-example")
    if os.path.isdir(val):
        with open(os.path.join(val, "ground_truth_from_valentine_example_py.json")) as f:
            truth = {tuple(p) for p in json.load(f)}
        out.append(("valentine/authors", os.path.join(val, "authors1.csv"), os.path.join(val, "authors2.csv"), truth))
    return out


def matchers():
    from valentine.algorithms import Coma, Cupid, DistributionBased, JaccardDistanceMatcher, SimilarityFlooding
    return {
        "COMA (schema+instances)": lambda: Coma(use_instances=True),
        "COMA (schema)": lambda: Coma(),
        "Cupid": lambda: Cupid(),
        "Similarity Flooding": lambda: SimilarityFlooding(),
        "Distribution-based": lambda: DistributionBased(),
        "Jaccard-Levenshtein": lambda: JaccardDistanceMatcher(),
    }


def offline_nltk():
    """Valentine calls nltk.download() for its corpora, which needs GitHub; this machine reaches
    only PyPI. Build a local NLTK data folder from PyPI material instead (scikit-learn's English
    stop words; empty Punkt parameters, i.e. default sentence splitting) and skip the download.
    WordNet is not available this way: Cupid, which needs it, fails and is reported as such."""
    import sys
    import nltk
    import valentine.utils.utils as vu
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".eai", "nltk_data")
    stop = os.path.join(root, "corpora", "stopwords")
    punkt = os.path.join(root, "tokenizers", "punkt_tab", "english")
    os.makedirs(stop, exist_ok=True)
    os.makedirs(punkt, exist_ok=True)
    with open(os.path.join(stop, "english"), "w") as f:
        f.write("\n".join(sorted(ENGLISH_STOP_WORDS)) + "\n")
    for name in ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab"):
        open(os.path.join(punkt, name), "a").close()
    nltk.data.path.insert(0, root)
    noop = lambda: None
    vu.ensure_nltk_data = noop
    for mod in list(sys.modules.values()):
        for attr in ("ensure_nltk_data", "_ensure_nltk_data"):
            if getattr(mod, attr, None) is not None and mod is not vu and getattr(mod, "__name__", "").startswith("valentine"):
                setattr(mod, attr, noop)


def run_one(name, source, target, queue):
    import pandas as pd
    import valentine
    import valentine.algorithms.coma.similarity.tfidf  # noqa: F401  (so offline_nltk patches it)
    import valentine.algorithms.cupid.linguistic_matching  # noqa: F401
    offline_nltk()
    s, t = pd.read_csv(source, low_memory=False), pd.read_csv(target, low_memory=False)
    started = time.time()
    res = valentine.valentine_match([s, t], matchers()[name](), df_names=["source", "target"])
    scores = {(k.source_column, k.target_column): float(v) for k, v in res.items()}
    queue.put((scores, time.time() - started, list(s.columns)))


def metrics(scores, truth, source_columns):
    by_source = {}
    for (s, t), v in scores.items():
        by_source.setdefault(s, []).append((v, t))
    truth_sources = {s for s, _ in truth}
    rr = top1 = 0.0
    for s in truth_sources:
        ranked = [t for _, t in sorted(by_source.get(s, []), key=lambda x: -x[0])]
        pos = next((i for i, t in enumerate(ranked) if (s, t) in truth), None)
        if pos is not None:
            rr += 1 / (pos + 1)
            top1 += pos == 0
    best = sorted(scores.items(), key=lambda kv: -kv[1])[: len(truth)]
    hits = sum(1 for pair, _ in best if pair in truth)
    n = max(1, len(truth_sources))
    return rr / n, top1 / n, hits / max(1, len(truth))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--eai", default="")
    args = ap.parse_args()
    cs = cases(args.data)
    print(f"\n== Valentine matchers (timeout {args.timeout:.0f} s per table; a timed-out table counts 0)")
    print(f"{'matcher':<26} {'MRR':>6} {'top-1':>6} {'R@GT':>6} {'s/table':>8} {'timeouts':>9} {'errors':>7}   valentine/authors MRR   (GDC means)")
    summary = {}
    for name in matchers():
        rows, secs, timeouts, errors, val_mrr = [], [], 0, 0, None
        for case, source, target, truth in cs:
            q = mp.Queue()
            p = mp.Process(target=run_one, args=(name, source, target, q))
            p.start()
            p.join(args.timeout)
            if p.is_alive():
                p.terminate()
                p.join()
                result = None
            else:
                try:
                    result = q.get(timeout=5)
                except Exception:
                    result = "error"
            if result == "error":
                errors += 1
                result = None
            if case.startswith("gdc/"):
                if result is None:
                    timeouts += 0 if errors else 1
                    rows.append((0.0, 0.0, 0.0))
                    secs.append(args.timeout)
                else:
                    rows.append(metrics(result[0], truth, result[2]))
                    secs.append(result[1])
            elif result is not None:
                val_mrr = metrics(result[0], truth, result[2])[0]
        k = max(1, len(rows))
        mrr, top1, rgt = (sum(r[i] for r in rows) / k for i in range(3))
        vm = "-" if val_mrr is None else f"{val_mrr:.3f}"
        finished = len(rows) - timeouts - errors
        if finished == 0:
            summary[name] = None
            print(f"{name:<26} {'-':>6} {'-':>6} {'-':>6} {'-':>8} {timeouts:>9} {errors:>7}   {vm}", flush=True)
            continue
        summary[name] = (mrr, top1, rgt, sum(secs) / k)
        print(f"{name:<26} {mrr:>6.3f} {top1:>6.3f} {rgt:>6.3f} {sum(secs) / k:>8.2f} {timeouts:>9} {errors:>7}   {vm}", flush=True)
    if args.eai:
        e = [float(x) for x in args.eai.split(",")]
        print("\n== eai against each matcher on the GDC papers (ratios eai / matcher; seconds: matcher / eai)")
        print(f"{'matcher':<26} {'MRR':>7} {'top-1':>7} {'R@GT':>7} {'speed-up':>9}")
        for name, row in summary.items():
            if row is None:
                print(f"{name:<26} {'n/a (no GDC paper finished)':>33}")
                continue
            mrr, top1, rgt, s = row
            ratio = lambda a, b: f"{a / b:.2f}x" if b > 0 else "inf"
            print(f"{name:<26} {ratio(e[0], mrr):>7} {ratio(e[1], top1):>7} {ratio(e[2], rgt):>7} {ratio(s, e[3]):>9}")


if __name__ == "__main__":
    main()
