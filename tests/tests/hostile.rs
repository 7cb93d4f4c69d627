//! The hostile suite (issue 13): what a hostile user or an unlucky schedule tries, against the real
//! cluster. Each test counts its attempts and failures and prints them; all failures must be 0.
//! The single-session attacks (roles, rules, gold queries, read-only queries) are in the regress
//! file pg_test/sql/zz_security.sql; the LLM endpoint's redirect in tests/tests/llm.rs.

use eai_integration_tests::*;

/// Attempts and failures of one test, printed at the end (`cargo test -- --nocapture` shows them).
struct Tally {
    name: &'static str,
    attempts: u32,
    failures: Vec<String>,
}

impl Tally {
    fn new(name: &'static str) -> Self {
        Tally { name, attempts: 0, failures: Vec::new() }
    }
    fn check(&mut self, ok: bool, what: String) {
        self.attempts += 1;
        if !ok {
            self.failures.push(what);
        }
    }
    fn finish(self) {
        println!("hostile {}: {} attempts, {} failures", self.name, self.attempts, self.failures.len());
        assert!(self.failures.is_empty(), "{:#?}", self.failures);
    }
}

#[test]
fn concurrent_gold_refreshes_never_double_rows() {
    let (db, mut c) = fresh_db("hostile_gold");
    c.batch_execute(
        "CREATE TABLE silver.sales (day date, amount numeric);
         INSERT INTO silver.sales SELECT DATE '2024-01-01' + i % 30, i FROM generate_series(1, 3000) i;
         SELECT eai.create_gold('daily', 'SELECT day, sum(amount) AS total FROM silver.sales GROUP BY day');",
    )
    .unwrap();
    let mut t = Tally::new("gold refreshes");
    for round in 0..3 {
        // The first refresh holds its transaction open while the second starts.
        let first = {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut a = connect(&db);
                a.batch_execute("BEGIN; SELECT eai.refresh_gold('daily'); SELECT pg_sleep(0.5); COMMIT").unwrap();
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(150));
        let mut b = connect(&db);
        b.batch_execute("SELECT eai.refresh_gold('daily')").unwrap();
        first.join().unwrap();
        let rows: i64 = c.query_one("SELECT count(*) FROM gold.daily", &[]).unwrap().get(0);
        t.check(rows == 30, format!("round {round}: gold.daily has {rows} rows, not 30"));
    }
    t.finish();
}

#[test]
fn a_failed_add_source_keeps_the_password_out_of_the_server_log() {
    let (_db, mut c) = fresh_db("hostile_password");
    let mut t = Tally::new("password in the log");
    let secret = "pw-hostile-7f3a";
    // The cluster logs to .eai/run/postgresql.log (scripts/cluster.sh), or to its collector's file.
    let collector: Option<String> = c.query_one("SELECT pg_current_logfile()", &[]).unwrap().get(0);
    let data_dir: String = c.query_one("SELECT current_setting('data_directory')", &[]).unwrap().get(0);
    let path = match collector {
        Some(f) => std::path::Path::new(&data_dir).join(f),
        None => repo().join(".eai/run/postgresql.log"),
    };
    let read = || std::fs::read(&path).map(|b| String::from_utf8_lossy(&b).to_string()).unwrap_or_default();
    let before = read().len();
    // A server that does not exist: the import fails after the user mapping was made.
    let r = c.query_one(&format!("SELECT eai.add_source('leaky', 'postgresql://app:{secret}@127.0.0.1:1/nowhere')"), &[]);
    t.check(r.is_err(), "add_source to a dead server fails".into());
    if let Err(e) = &r {
        t.check(!format!("{e:?}").contains(secret), format!("the error carries the password: {e:?}"));
    }
    let log = read();
    t.check(log.len() > before, "the failure was logged".into());
    let new = log.get(before..).unwrap_or("");
    t.check(
        !new.contains(secret),
        format!("the server log carries the password: {}", new.lines().filter(|l| l.contains(secret)).collect::<Vec<_>>().join(" | ")),
    );
    t.finish();
}

/// Catalog tables are written only through eai's functions (issue 13 item 4): every eai_* role
/// tries every write on every catalog table, and the functions that record in its name.
#[test]
fn no_role_writes_the_catalog_or_reads_values_of_tables_it_may_not_read() {
    let (_db, mut c) = fresh_db("hostile_catalog");
    c.batch_execute(
        "CREATE SCHEMA private;
         CREATE TABLE private.salaries (emp_name text, ssn text);
         INSERT INTO private.salaries SELECT 'emp ' || i, format('%s-45-6789', 100 + i) FROM generate_series(1, 30) i;
         CREATE TABLE public.staff (full_name text, social_security text);
         SELECT count(*) FROM eai.map_schema('private.salaries', 'public.staff');
         INSERT INTO eai.anomalies (relid, table_name, metric, observed_at, score, threshold, detector, severity, explanation)
         VALUES ('private.salaries'::regclass, 'private.salaries', 'row_count', now(), 9, 6, 'robust_z', 'medium', 'test');",
    )
    .unwrap();
    let tables: Vec<(String, String)> = c
        .query(
            "SELECT c.relname::text, (SELECT quote_ident(a.attname) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                                          AND NOT a.attisdropped AND a.attidentity = '' AND a.attgenerated = '' ORDER BY a.attnum DESC LIMIT 1)
               FROM pg_class c WHERE c.relnamespace = 'eai'::regnamespace AND c.relkind = 'r' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(tables.len() >= 20, "{tables:?}");
    let mut t = Tally::new("catalog writes and reads by role");
    let mut tx = c.transaction().unwrap();
    tx.batch_execute(
        "CREATE ROLE hostile_reader IN ROLE eai_reader; CREATE ROLE hostile_reviewer IN ROLE eai_reviewer;
         CREATE ROLE hostile_engineer IN ROLE eai_engineer;",
    )
    .unwrap();
    let mut attempt = |tx: &mut postgres::Transaction, role: &str, sql: &str| -> Option<String> {
        tx.batch_execute(&format!("SAVEPOINT a; SET LOCAL ROLE {role}")).unwrap();
        let r = tx.batch_execute(sql);
        tx.batch_execute("ROLLBACK TO SAVEPOINT a; RESET ROLE").unwrap();
        r.err().map(|e| e.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("{e}")))
    };
    for role in ["hostile_reader", "hostile_reviewer", "hostile_engineer"] {
        for (table, col) in &tables {
            for sql in [
                format!("INSERT INTO eai.{table} DEFAULT VALUES"),
                format!("UPDATE eai.{table} SET {col} = {col}"),
                format!("DELETE FROM eai.{table}"),
                format!("TRUNCATE eai.{table}"),
            ] {
                let code = attempt(&mut tx, role, &sql);
                t.check(code.as_deref() == Some("42501"), format!("{role}: {sql} gave {code:?}, not 42501"));
            }
        }
        // The functions that write in the caller's name refuse tables it may not read, or a name not its own.
        for sql in [
            "SELECT eai._record_decision((SELECT min(mapping_id) FROM eai.mappings), 'approved', 'ssn', NULL, 'postgres')",
            "SELECT eai._record_batch_profile(1, 'private.salaries'::regclass, '{ssn}', '{}')",
            "SELECT eai._judge_table('private.salaries', 6, 8, 0.25, 0.7)",
            "SELECT eai.label_anomaly((SELECT max(anomaly_id) FROM eai.anomalies), 'false_positive')",
            "SELECT eai.set_threshold('private.salaries'::regclass, 'row_count', threshold => 1e9)",
            "SELECT eai.revert_threshold(1)",
            "SELECT eai.profile('private.salaries')",
            "SELECT eai.quality_score('private.salaries')",
        ] {
            let code = attempt(&mut tx, role, sql);
            t.check(matches!(code.as_deref(), Some("42501") | Some("P0002")), format!("{role}: {sql} gave {code:?}"));
        }
        // Sample values of the private table stay out of sight.
        for seen in [
            "SELECT FROM eai.column_profiles WHERE profile::text LIKE '%-45-6789%' OR value_set::text LIKE '%-45-6789%'",
            "SELECT FROM eai.pending_mappings WHERE source_values LIKE '%-45-6789%' OR target_values LIKE '%-45-6789%'",
            "SELECT FROM eai.quarantine UNION ALL SELECT FROM eai.batch_profiles",
        ] {
            let sql = format!("DO $$ BEGIN IF EXISTS ({seen}) THEN RAISE EXCEPTION 'seen' USING ERRCODE = 'EAI01'; END IF; END $$");
            let code = attempt(&mut tx, role, &sql);
            t.check(code.is_none(), format!("{role}: {seen} saw a value ({code:?})"));
        }
    }
    t.finish();
}

/// Item 10: promotions into two inputs of one JOIN gold, at the same moment, each refreshing it
/// (today's fix: a refresh takes SHARE ROW EXCLUSIVE on its gold table and reads with a fresh
/// snapshot once it has it). The gold table always equals its query.
#[test]
fn concurrent_promotions_into_two_inputs_of_a_join_gold_never_double_it() {
    let (db, mut c) = fresh_db("hostile_join_gold");
    let dir = scratch_dir("hostile_join_gold");
    let items = |n: usize| (1..=n).fold(String::from("id,name\n"), |s, i| s + &format!("{i},item {i}\n"));
    let prices = |n: usize| (1..=n).fold(String::from("id,price\n"), |s, i| s + &format!("{i},{}.5\n", i * 3));
    let a = write(&dir, "items.csv", &items(10));
    let b = write(&dir, "prices.csv", &prices(10));
    c.query("SELECT * FROM eai.add_source('a', $1)", &[&a.to_str().unwrap()]).unwrap();
    c.query("SELECT * FROM eai.add_source('b', $1)", &[&b.to_str().unwrap()]).unwrap();
    ingest(&mut c, "a");
    ingest(&mut c, "b");
    c.batch_execute(
        "SELECT * FROM eai.create_pipeline('pa', 'bronze.a__items', 'silver.items', dedup_key => '{id}');
         SELECT * FROM eai.create_pipeline('pb', 'bronze.b__prices', 'silver.prices', dedup_key => '{id}');
         SELECT * FROM eai.create_gold('priced', 'SELECT i.id, i.name, p.price FROM silver.items i JOIN silver.prices p USING (id)');",
    )
    .unwrap();
    let mut t = Tally::new("join gold under concurrent promotions");
    for round in 1..=4 {
        let n = 10 + round * 7;
        write(&dir, "items.csv", &items(n));
        write(&dir, "prices.csv", &prices(n));
        // Each ingest promotes its batch and refreshes the gold table in its own transaction,
        // held open a moment so that the two overlap.
        let threads: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|source| {
                let db = db.clone();
                std::thread::spawn(move || {
                    let mut conn = connect(&db);
                    conn.batch_execute(&format!("BEGIN; SELECT * FROM eai.ingest('{source}'); SELECT pg_sleep(0.3); COMMIT")).unwrap();
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        let (gold, expected, distinct): (i64, i64, i64) = {
            let r = c
                .query_one(
                    "SELECT (SELECT count(*) FROM gold.priced),
                            (SELECT count(*) FROM silver.items i JOIN silver.prices p USING (id)),
                            (SELECT count(DISTINCT id) FROM gold.priced)",
                    &[],
                )
                .unwrap();
            (r.get(0), r.get(1), r.get(2))
        };
        t.check(
            gold == expected && gold == distinct && expected == n as i64,
            format!("round {round}: gold {gold} rows ({distinct} ids), query {expected}, {n} ids"),
        );
    }
    t.finish();
}
