"""The text-to-SQL benchmark of issue 15 (bench/nl2sql.sh runs it): eai.nl_to_sql's embedded
engine on the Spider dev databases (../shared/data/text-to-sql/spider, loaded into PostgreSQL),
scored by execution: the predicted and the gold query are both run, and their results compared
as sets of rows, each row as the multiset of its values (row order and column order ignored, as
defog's sql-eval normalises them; its column-subset rule is not applied).

Printed per database and overall: questions, answered, correct, execution accuracy (correct of
all), precision (correct of answered), unsafe predictions (a prediction eai.nl_validate refuses:
must be 0), and the latency of eai.nl_to_sql, p50 and p95. Regression figures: printed, never
asserted.
"""

import argparse
import csv
import os
import statistics
import subprocess
import time

import psycopg2

PGHOST = os.environ["PGHOST"]
PGPORT = int(os.environ["PGPORT"])
SPIDER = os.environ.get("EAI_SPIDER", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "text-to-sql", "spider"))


def connect(db):
    c = psycopg2.connect(host=PGHOST, port=PGPORT, user="postgres", dbname=db)
    c.autocommit = True
    return c


def load(db_id):
    name = f"eai_bench_nl_{db_id.lower()}"
    admin = connect("postgres")
    cur = admin.cursor()
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    if cur.fetchone() is None:
        cur.execute(f'CREATE DATABASE "{name}"')
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PGHOST, "-p", str(PGPORT), "-U", "postgres", "-d", name,
                            "-f", os.path.join(SPIDER, "databases", f"{db_id}.sql")], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{db_id}: {r.stderr[:300]}")
        c = connect(name)
        c.cursor().execute("SET client_min_messages = warning; CREATE EXTENSION eai CASCADE")
        c.close()
    admin.close()
    return name


def rows(cur, sql):
    cur.execute("SET statement_timeout = '10s'")
    cur.execute(sql)
    return {tuple(sorted(str(v) for v in r)) for r in cur.fetchall()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="questions per database at most (0: all)")
    a = ap.parse_args()
    with open(os.path.join(SPIDER, "questions.csv")) as f:
        questions = list(csv.DictReader(f))
    by_db = {}
    for q in questions:
        by_db.setdefault(q["db_id"], []).append(q)
    totals = {"n": 0, "answered": 0, "correct": 0, "unsafe": 0}
    latencies = []
    print(f"{'database':30s} {'questions':>9s} {'answered':>8s} {'correct':>7s} {'accuracy':>8s} {'precision':>9s} {'unsafe':>6s}")
    for db_id in sorted(by_db):
        qs = by_db[db_id][: a.limit] if a.limit else by_db[db_id]
        try:
            name = load(db_id)
        except RuntimeError as e:
            print(f"{db_id:30s} not loaded: {e}")
            continue
        c = connect(name)
        cur = c.cursor()
        n = answered = correct = unsafe = 0
        for q in qs:
            n += 1
            t0 = time.perf_counter()
            cur.execute("SELECT sql FROM eai.nl_to_sql(%s, ARRAY['public'])", (q["question"],))
            sql = cur.fetchone()[0]
            latencies.append((time.perf_counter() - t0) * 1000)
            if sql is None:
                continue
            answered += 1
            cur.execute("SELECT ok FROM eai.nl_validate(%s, ARRAY['public'])", (sql,))
            if not cur.fetchone()[0]:
                unsafe += 1
                continue
            try:
                got = rows(cur, sql)
                want = rows(cur, q["query"])
                correct += got == want
            except psycopg2.Error:
                c.rollback() if not c.autocommit else None
        c.close()
        totals["n"] += n
        totals["answered"] += answered
        totals["correct"] += correct
        totals["unsafe"] += unsafe
        print(f"{db_id:30s} {n:9d} {answered:8d} {correct:7d} {correct / max(n, 1):8.0%} {(correct / answered if answered else 0):9.0%} {unsafe:6d}")
    t = totals
    print(f"{'all':30s} {t['n']:9d} {t['answered']:8d} {t['correct']:7d} {t['correct'] / max(t['n'], 1):8.0%} "
          f"{(t['correct'] / t['answered'] if t['answered'] else 0):9.0%} {t['unsafe']:6d}")
    if latencies:
        lat = sorted(latencies)
        print(f"\neai.nl_to_sql latency: p50 {statistics.median(lat):.1f} ms, p95 {lat[int(0.95 * (len(lat) - 1))]:.1f} ms "
              f"({len(lat)} questions, embedded engine, no LLM)")
    print(f"answered share {t['answered'] / max(t['n'], 1):.0%}; aims (issue 15): accuracy >= 40%, precision >= 90%, unsafe 0, p95 < 100 ms")


if __name__ == "__main__":
    main()
