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
