"""Soda Core and Great Expectations checking the same dimensions as eai.quality_score on the same
table, timed warm in-process (the second of two runs). Used by bench/quality.sh.

  python bench/quality_baselines.py <tool: soda|gx> <socket dir> <port> <database> [--once]

--once runs one scan and exits (the whole command a user runs is timed by the caller)."""
import sys
import time

tool, host, port, db = sys.argv[1:5]
once = "--once" in sys.argv

SODA_CONFIG = f"""
data_source pg:
  type: postgres
  host: 127.0.0.1
  port: {port}
  username: postgres
  password: ''
  database: {db}
  schema: silver
"""
# The same dimensions as eai: volume, completeness of every column, distribution (mean and
# standard deviation of the numbers), validity (the three declared rules), uniqueness of the key,
# freshness, schema.
SODA_CHECKS = """
checks for visits:
  - row_count between 1 and 100000000
  - missing_count(id) = 0
  - missing_count(age) = 0
  - missing_count(amount) = 0
  - missing_count(stay) = 0
  - missing_count(score) = 0
  - missing_count(ward) = 0
  - missing_count(name) = 0
  - missing_count(email) = 0
  - missing_count(visited) = 0
  - missing_count(loaded) = 0
  - avg(age) between 0 and 200
  - stddev(age) between 0 and 100
  - avg(amount) between 0 and 100000
  - stddev(amount) between 0 and 100000
  - avg(stay) between 0 and 100
  - stddev(stay) between 0 and 100
  - avg(score) between -10 and 10
  - stddev(score) between 0 and 10
  - invalid_count(age) = 0:
      valid min: 0
      valid max: 120
  - invalid_count(amount) = 0:
      valid min: 0
      valid max: 100000
  - invalid_count(ward) = 0:
      valid values: [A, B, C, D]
  - duplicate_count(id) = 0
  - freshness(loaded) < 1d
  - schema:
      fail:
        when required column missing: [id, age, amount, stay, score, ward, name, email, visited, loaded]
"""


def soda():
    from soda.scan import Scan

    scan = Scan()
    scan.set_data_source_name("pg")
    scan.add_configuration_yaml_str(SODA_CONFIG)
    scan.add_sodacl_yaml_str(SODA_CHECKS)
    scan.execute()
    if scan.has_error_logs():
        sys.stderr.write(scan.get_error_logs_text() + "\n")
    return len(scan.get_checks_fail())


_gx = {}


def gx():
    import great_expectations as gxm
    import great_expectations.expectations as E

    if "vd" not in _gx:
        context = gxm.get_context(mode="ephemeral")
        ds = context.data_sources.add_postgres("pg", connection_string=f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{db}")
        asset = ds.add_table_asset("visits", table_name="visits", schema_name="silver")
        bd = asset.add_batch_definition_whole_table("all")
        suite = context.suites.add(gxm.ExpectationSuite(name="visits"))
        suite.add_expectation(E.ExpectTableRowCountToBeBetween(min_value=1, max_value=100_000_000))
        for c in ["id", "age", "amount", "stay", "score", "ward", "name", "email", "visited", "loaded"]:
            suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=c))
        for c, lo, hi in [("age", 0, 200), ("amount", 0, 100000), ("stay", 0, 100), ("score", -10, 10)]:
            suite.add_expectation(E.ExpectColumnMeanToBeBetween(column=c, min_value=lo, max_value=hi))
            suite.add_expectation(E.ExpectColumnStdevToBeBetween(column=c, min_value=0, max_value=100000))
        suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120))
        suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=100000))
        suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="ward", value_set=["A", "B", "C", "D"]))
        suite.add_expectation(E.ExpectColumnValuesToBeUnique(column="id"))
        suite.add_expectation(E.ExpectTableColumnsToMatchSet(column_set=["id", "age", "amount", "stay", "score", "ward", "name", "email", "visited", "loaded"]))
        _gx["vd"] = context.validation_definitions.add(gxm.ValidationDefinition(name="visits", data=bd, suite=suite))
    res = _gx["vd"].run()
    return sum(1 for r in res.results if not r.success)


run = {"soda": soda, "gx": gx}[tool]
if once:
    run()
    sys.exit(0)
run()
t = time.perf_counter()
failed = run()
print(f"{time.perf_counter() - t:.3f} {failed}")
