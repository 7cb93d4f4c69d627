//! Sources landing in bronze, against the real cluster: CSV folders, postgres_fdw, failures.

use eai_integration_tests::*;

fn ok(rows_read: i64, rows_written: i64) -> Batch {
    ("succeeded".into(), rows_read, rows_written, None, None)
}

#[test]
fn folder_source_lands_every_file_and_never_duplicates() {
    let (_db, mut c) = fresh_db("folder");
    let dir = scratch_dir("folder");
    write(&dir, "customers.csv", "id,name,email\n1,Ann,ann@x.io\n2,\"Lee, Bo\",\n2,\"Lee, Bo\",\n");
    write(&dir, "orders.csv", "order;cust;amount\n10;1;19,99\n11;2;5\n");
    write(&dir, "items.tsv", "sku\tqty\nA\t1\n");
    write(&dir, "notes.md", "not a csv");
    let n: i64 = c.query_one("SELECT count(*) FROM eai.add_source('shop', $1)", &[&dir.to_str().unwrap()]).unwrap().get(0);
    assert_eq!(n, 3);
    let first = ingest(&mut c, "shop");
    assert_eq!(first, vec![("customers".into(), ok(3, 3)), ("items".into(), ok(1, 1)), ("orders".into(), ok(2, 2))]);
    // Same files again: nothing new.
    assert!(ingest(&mut c, "shop").iter().all(|(_, b)| b.2 == 0 && b.0 == "succeeded"));
    // A new file in the folder becomes a table; a grown file adds only its new row.
    write(&dir, "returns.csv", "order,reason\n10,broken\n");
    write(&dir, "orders.csv", "order;cust;amount\n10;1;19,99\n11;2;5\n12;1;7\n");
    let third = ingest(&mut c, "shop");
    assert_eq!(third.iter().find(|(t, _)| t == "returns").unwrap().1, ok(1, 1));
    assert_eq!(third.iter().find(|(t, _)| t == "orders").unwrap().1, ok(3, 1));
    assert_eq!(bronze_count(&mut c, "shop__orders"), 3);
    assert_eq!(bronze_count(&mut c, "shop__customers"), 3, "duplicate rows of the source are kept");
    // Metadata columns are there and filled.
    let r = c
        .query_one(
            "SELECT count(DISTINCT _eai_batch), bool_and(_eai_loaded_at IS NOT NULL), count(DISTINCT _eai_row_hash) FROM bronze.shop__orders",
            &[],
        )
        .unwrap();
    assert_eq!((r.get::<_, i64>(0), r.get::<_, bool>(1), r.get::<_, i64>(2)), (2, true, 3));
}

#[test]
fn hostile_names_ingest_and_inject_nothing() {
    let (_db, mut c) = fresh_db("hostile");
    c.batch_execute("CREATE TABLE canary (x int); INSERT INTO canary VALUES (1)").unwrap();
    let dir = scratch_dir("hostile dir ü; \"x\"");
    let long_col = "é".repeat(31) + "x"; // 63 bytes
    write(&dir, "ta\"ble'; DROP TABLE canary; --.csv", &format!("\"a\"\"b\",\"c;d\",\"e f\",日本語,{long_col},\"$1\"\n1,2,3,4,5,6\n"));
    write(&dir, &format!("{}.csv", "t".repeat(63)), "x\n1\n");
    let source = "s\"o'u;r c\u{e9}); DROP TABLE canary; --";
    c.query("SELECT * FROM eai.add_source($1, $2)", &[&source, &dir.to_str().unwrap()]).unwrap();
    let batches = ingest(&mut c, source);
    assert_eq!(batches.len(), 2);
    assert!(batches.iter().all(|(_, b)| b.0 == "succeeded" && b.2 == 1), "{batches:?}");
    let tables: Vec<String> = c.query("SELECT bronze_table::text FROM eai.source_tables ORDER BY 1", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    for t in &tables {
        assert!(t.len() <= 63, "{t}");
        assert_eq!(bronze_count(&mut c, t), 1);
    }
    let cols: Vec<String> = c
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = format('bronze.%I', $1::text)::regclass AND attnum > 0 ORDER BY attnum",
            &[&tables.iter().find(|t| t.contains("ta\"ble")).unwrap()],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(&cols[..6], &["a\"b", "c;d", "e f", "日本語", long_col.as_str(), "$1"]);
    let canary: i64 = c.query_one("SELECT count(*) FROM canary", &[]).unwrap().get(0);
    assert_eq!(canary, 1);
    // Dropping the source with its bronze tables works with the same names.
    c.execute("SELECT eai.drop_source($1, drop_bronze => true)", &[&source]).unwrap();
    let left: i64 = c.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'bronze'", &[]).unwrap().get(0);
    assert_eq!(left, 0);
}

#[test]
fn malformed_empty_and_missing_files_fail_their_own_batch() {
    let (_db, mut c) = fresh_db("badfiles");
    let dir = scratch_dir("badfiles");
    let good = write(&dir, "good.csv", "id,v\n1,a\n2,b\n");
    write(&dir, "bad.csv", "id,v\n1,a\n2,b,EXTRA\n3,c\n");
    write(&dir, "empty.csv", "");
    c.query("SELECT * FROM eai.add_source('files', $1)", &[&dir.to_str().unwrap()]).unwrap();
    let (mut c2, notices) = connect_recording(&_db);
    let batches: Vec<(String, Batch)> = c2
        .query("SELECT table_name, status, rows_read, rows_written, error_sqlstate, error_class FROM eai.ingest('files') ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))))
        .collect();
    assert_eq!(batches[0].0, "bad");
    assert_eq!(batches[0].1 .0, "failed");
    assert_eq!(batches[0].1 .2, 0, "nothing half-written");
    assert_eq!(batches[0].1 .3.as_deref(), Some("22P04"));
    assert_eq!(batches[1].0, "empty");
    assert_eq!(batches[1].1 .3.as_deref(), Some("EAI01"));
    assert_eq!(batches[2], ("good".into(), ok(2, 2)));
    let warnings = notices.lock().unwrap().clone();
    assert_eq!(warnings.iter().filter(|m| m.contains("failed")).count(), 2, "{warnings:?}");
    let hint: String = c.query_one("SELECT error_hint FROM eai.batches WHERE error_sqlstate = '22P04'", &[]).unwrap().get(0);
    assert!(hint.contains("line"), "{hint}");
    let ctx: String = c.query_one("SELECT error_context FROM eai.batches WHERE error_sqlstate = '22P04'", &[]).unwrap().get(0);
    assert!(ctx.contains("line 3"), "{ctx}");
    assert!(c.query_opt("SELECT to_regclass('bronze.files__bad')::text", &[]).unwrap().unwrap().get::<_, Option<String>>(0).is_none());
    // The good file disappears: its batch fails with 58P01, bronze keeps what it had.
    std::fs::remove_file(good).unwrap();
    let again = ingest(&mut c, "files");
    let g = &again.iter().find(|(t, _)| t == "good").unwrap().1;
    assert_eq!((g.0.as_str(), g.3.as_deref(), g.4.as_deref()), ("failed", Some("58P01"), Some("configuration")));
    assert_eq!(bronze_count(&mut c, "files__good"), 2);
}

#[test]
fn postgres_source_lands_typed_rows_and_survives_an_outage() {
    let (db, mut c) = fresh_db("pgsrc");
    let src_db = "eai_it_pgsrc_remote";
    let mut admin = connect("postgres");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {src_db} WITH (FORCE)")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {src_db}")).unwrap();
    let mut remote = connect(src_db);
    remote
        .batch_execute(
            "CREATE SCHEMA crm;
             CREATE TABLE crm.\"Client List\" (no int PRIMARY KEY, \"E-Mail\" varchar(100), since timestamptz, ltv numeric(10,2), tags jsonb);
             INSERT INTO crm.\"Client List\" VALUES (1, 'a@x.io', '2024-01-01', 1.50, '[\"vip\"]'), (2, NULL, NULL, NULL, NULL);
             CREATE TABLE crm.other (x int); INSERT INTO crm.other VALUES (1);",
        )
        .unwrap();
    let (host, port) = server_address();
    let uri = format!("postgresql://postgres:not-a-real-secret@/{src_db}?host={host}&port={port}");
    c.query("SELECT * FROM eai.add_source('crm', $1, options => '{\"schema\": \"crm\", \"tables\": [\"Client List\"]}')", &[&uri]).unwrap();
    let location: String = c.query_one("SELECT location FROM eai.sources", &[]).unwrap().get(0);
    assert!(!location.contains("not-a-real-secret") && location.contains("********"), "{location}");
    assert_eq!(ingest(&mut c, "crm"), vec![("Client List".to_string(), ok(2, 2))]);
    // Types are kept as the remote database has them.
    let types: Vec<String> = c
        .query(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'bronze.\"crm__Client List\"'::regclass AND attnum > 0 AND attname NOT LIKE '\\_eai\\_%' ORDER BY attnum",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(types, vec!["integer", "character varying(100)", "timestamp with time zone", "numeric(10,2)", "jsonb"]);
    remote.batch_execute("INSERT INTO crm.\"Client List\" VALUES (3, 'c@x.io', now(), 3, '{}')").unwrap();
    assert_eq!(ingest(&mut c, "crm")[0].1, ok(3, 1));
    // The remote goes away (port 1): the batch fails as transient, bronze is untouched.
    c.batch_execute("ALTER SERVER eai_crm OPTIONS (SET port '1')").unwrap();
    let down = &ingest(&mut c, "crm")[0].1;
    assert_eq!(down.0, "failed");
    assert_eq!(down.4.as_deref(), Some("transient"));
    assert!(down.3.as_deref().unwrap().starts_with("08"), "{down:?}");
    assert_eq!(bronze_count(&mut c, "crm__Client List"), 3);
    let msg: String = c
        .query_one("SELECT error_message || coalesce(error_detail, '') || coalesce(error_context, '') FROM eai.batches WHERE status = 'failed'", &[])
        .unwrap()
        .get(0);
    assert!(!msg.contains("not-a-real-secret"), "{msg}");
    // Back up: ingest resumes without duplicates.
    let sql: String = c.query_one("SELECT format('ALTER SERVER eai_crm OPTIONS (SET port %L)', $1::text)", &[&port.to_string()]).unwrap().get(0);
    c.batch_execute(&sql).unwrap();
    assert_eq!(ingest(&mut c, "crm")[0].1, ok(3, 0));
    drop(c);
    drop(remote);
    admin.batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)")).unwrap();
    admin.batch_execute(&format!("DROP DATABASE {src_db} WITH (FORCE)")).unwrap();
}

#[test]
fn a_dead_postgres_source_is_a_clear_error_without_secrets() {
    let (_db, mut c) = fresh_db("deadpg");
    let err = c.query("SELECT * FROM eai.add_source('dead', 'postgresql://bob:hunter2@127.0.0.1:1/x')", &[]).unwrap_err();
    let db = err.as_db_error().expect("a database error");
    assert_eq!(db.code().code(), "08001");
    assert!(db.hint().unwrap().contains("transient"), "{:?}", db.hint());
    let everything = format!("{} {:?} {:?}", db.message(), db.detail(), db.hint());
    assert!(!everything.contains("hunter2"), "{everything}");
    let servers: i64 = c.query_one("SELECT count(*) FROM pg_foreign_server", &[]).unwrap().get(0);
    assert_eq!(servers, 0, "a failed add_source leaves nothing behind");
}

#[test]
fn concurrent_ingests_write_each_row_once() {
    let (db, mut c) = fresh_db("concurrent");
    let dir = scratch_dir("concurrent");
    let mut csv = String::from("id,payload\n");
    for i in 0..20_000 {
        csv.push_str(&format!("{i},row {i}\n"));
    }
    write(&dir, "big.csv", &csv);
    c.query("SELECT * FROM eai.add_source('big', $1)", &[&dir.join("big.csv").to_str().unwrap()]).unwrap();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || ingest(&mut connect(&db), "big"))
        })
        .collect();
    let written: i64 = handles.into_iter().map(|h| h.join().unwrap()[0].1 .2).sum();
    assert_eq!(written, 20_000);
    assert_eq!(bronze_count(&mut c, "big__big"), 20_000);
}

#[test]
fn long_ingests_report_progress() {
    let (db, mut c) = fresh_db("progress");
    let dir = scratch_dir("progress");
    let mut csv = String::from("n\n");
    for i in 0..5_000 {
        csv.push_str(&format!("{i}\n"));
    }
    write(&dir, "n.csv", &csv);
    c.query("SELECT * FROM eai.add_source('p', $1)", &[&dir.to_str().unwrap()]).unwrap();
    let (mut rec, notices) = connect_recording(&db);
    rec.batch_execute("SET eai.progress_rows = 1000").unwrap();
    assert_eq!(ingest(&mut rec, "p")[0].1, ok(5_000, 5_000));
    let progress: Vec<String> = notices.lock().unwrap().iter().filter(|m| m.contains("rows read")).cloned().collect();
    assert_eq!(progress.len(), 5, "{progress:?}");
    assert!(progress[4].contains("5000 rows read"), "{progress:?}");
}
