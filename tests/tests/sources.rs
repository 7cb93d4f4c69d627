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

/// Item 7: a source that gains a column, or reorders its columns, re-lands none of its unchanged
/// rows; a row whose new column holds a value is a changed row and lands once.
#[test]
fn a_csv_source_that_gains_or_reorders_columns_re_lands_nothing() {
    let (_db, mut c) = fresh_db("gaincol");
    let dir = scratch_dir("gaincol");
    write(&dir, "p.csv", "id,name\n1,a\n2,b\n3,c\n4,d\n5,e\n");
    c.query("SELECT * FROM eai.add_source('g', $1)", &[&dir.to_str().unwrap()]).unwrap();
    assert_eq!(ingest(&mut c, "g"), vec![("p".into(), ok(5, 5))]);
    // A new column, empty (NULL) for every row: nothing lands again.
    write(&dir, "p.csv", "id,name,email\n1,a,\n2,b,\n3,c,\n4,d,\n5,e,\n");
    assert_eq!(ingest(&mut c, "g"), vec![("p".into(), ok(5, 0))]);
    // One more column, and the columns in another order: still nothing.
    write(&dir, "p.csv", "name,id,phone,email\na,1,,\nb,2,,\nc,3,,\nd,4,,\ne,5,,\n");
    assert_eq!(ingest(&mut c, "g"), vec![("p".into(), ok(5, 0))]);
    assert_eq!(bronze_count(&mut c, "g__p"), 5);
    // A value in a new column is a changed row, and a new id a new row: each lands once.
    write(&dir, "p.csv", "name,id,phone,email\na,1,,a@x.io\nb,2,,\nc,3,,\nd,4,,\ne,5,,\nf,6,,\n");
    assert_eq!(ingest(&mut c, "g"), vec![("p".into(), ok(6, 2))]);
    assert_eq!(ingest(&mut c, "g"), vec![("p".into(), ok(6, 0))]);
    assert_eq!(bronze_count(&mut c, "g__p"), 7);
    // Duplicates inside the source are still all kept, with the new shape too.
    write(&dir, "p.csv", "name,id,phone,email\na,1,,a@x.io\nb,2,,\nb,2,,\nc,3,,\nd,4,,\ne,5,,\nf,6,,\n");
    assert_eq!(ingest(&mut c, "g"), vec![("p".into(), ok(7, 1))]);
}

/// Item 7 with a pipeline: silver, without a dedup key, gets no row twice either.
#[test]
fn silver_without_dedup_key_follows_bronze_through_a_schema_change() {
    let (_db, mut c) = fresh_db("gaincol_silver");
    let dir = scratch_dir("gaincol_silver");
    write(&dir, "p.csv", "id,name\n1,a\n2,b\n3,c\n4,d\n5,e\n");
    c.query("SELECT * FROM eai.add_source('g', $1)", &[&dir.to_str().unwrap()]).unwrap();
    ingest(&mut c, "g");
    c.query("SELECT * FROM eai.create_pipeline('gp', 'bronze.g__p', 'silver.gp')", &[]).unwrap();
    let silver = |c: &mut Client| -> i64 { c.query_one("SELECT count(*) FROM silver.gp", &[]).unwrap().get(0) };
    assert_eq!(silver(&mut c), 5);
    write(&dir, "p.csv", "id,name,email\n1,a,\n2,b,\n3,c,\n4,d,\n5,e,\n");
    assert_eq!(ingest(&mut c, "g"), vec![("p".into(), ok(5, 0))]);
    write(&dir, "p.csv", "id,name,email,phone\n1,a,,\n2,b,,\n3,c,,\n4,d,,\n5,e,,\n");
    assert_eq!(ingest(&mut c, "g"), vec![("p".into(), ok(5, 0))]);
    assert_eq!(silver(&mut c), 5);
}

/// Item 7 for a postgres source: the remote table gains a column; after refresh_source the
/// unchanged rows add nothing.
#[test]
fn a_postgres_source_that_gains_a_column_re_lands_nothing() {
    let (db, mut c) = fresh_db("pggain");
    let src_db = "eai_it_pggain_remote";
    let mut admin = connect("postgres");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {src_db} WITH (FORCE)")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {src_db}")).unwrap();
    let mut remote = connect(src_db);
    remote.batch_execute("CREATE TABLE t (id int, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 5) g").unwrap();
    let (host, port) = server_address();
    c.query("SELECT * FROM eai.add_source('r', $1)", &[&format!("postgresql://postgres:not-a-real-secret@/{src_db}?host={host}&port={port}")])
        .unwrap();
    assert_eq!(ingest(&mut c, "r"), vec![("t".into(), ok(5, 5))]);
    remote.batch_execute("ALTER TABLE t ADD COLUMN w text").unwrap();
    c.query("SELECT * FROM eai.refresh_source('r')", &[]).unwrap();
    assert_eq!(ingest(&mut c, "r"), vec![("t".into(), ok(5, 0))]);
    remote.batch_execute("UPDATE t SET w = 'new' WHERE id = 1").unwrap();
    assert_eq!(ingest(&mut c, "r"), vec![("t".into(), ok(5, 1))]);
    assert_eq!(bronze_count(&mut c, "r__t"), 6);
    drop(c);
    drop(remote);
    admin.batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)")).unwrap();
    admin.batch_execute(&format!("DROP DATABASE {src_db} WITH (FORCE)")).unwrap();
}

/// One failed batch's (error_message, error_hint).
fn failure(c: &mut Client, source: &str, table: &str) -> (String, String) {
    let r = c
        .query_one(
            "SELECT error_message, error_hint FROM eai.batches WHERE source = $1 AND table_name = $2 AND status = 'failed' ORDER BY batch_id DESC LIMIT 1",
            &[&source, &table],
        )
        .unwrap();
    (r.get(0), r.get(1))
}

/// Item 8: a file without a header loses no row; a stray quote is read as text when the file
/// quotes nothing, and fails its batch at its line when the file also quotes fields.
#[test]
fn headerless_files_and_stray_quotes_lose_no_row() {
    let (_db, mut c) = fresh_db("csvshape");
    let dir = scratch_dir("csvshape");
    write(&dir, "nohead.csv", "Ann,Paris\nBob,London\nCy,Rome\n");
    let mut stray = String::from("id,item\n");
    for i in 1..=20 {
        stray.push_str(&if i % 2 == 1 { format!("{i},{i}\" screen\n") } else { format!("{i},plain\n") });
    }
    write(&dir, "stray.csv", &stray);
    write(&dir, "mixed.csv", "id,item\n1,\"Doe, Jane\"\n2,5\" screen\n3,x\n4,7\" tablet\n");
    write(&dir, "dupes.csv", "id,name,name\n1,Ann,Lee\n2,Bob,Ray\n");
    c.query("SELECT * FROM eai.add_source('f', $1)", &[&dir.to_str().unwrap()]).unwrap();
    let batches = ingest(&mut c, "f");
    assert_eq!(batches[0], ("dupes".into(), ok(2, 2)));
    assert_eq!(batches[1], ("mixed".into(), ("failed".into(), 0, 0, Some("22P04".into()), Some("bad_data".into()))));
    assert_eq!(batches[2], ("nohead".into(), ok(3, 3)));
    assert_eq!(batches[3], ("stray".into(), ok(20, 20)), "twenty lines are twenty rows");
    let first: i64 = c.query_one("SELECT count(*) FROM bronze.f__nohead WHERE column_1 = 'Ann' AND column_2 = 'Paris'", &[]).unwrap().get(0);
    assert_eq!(first, 1, "the first line is a row");
    let item: String = c.query_one("SELECT item FROM bronze.f__stray WHERE id = '1'", &[]).unwrap().get(0);
    assert_eq!(item, "1\" screen");
    let cols: Vec<String> =
        c.query("SELECT attname::text FROM pg_attribute WHERE attrelid = 'bronze.f__dupes'::regclass AND attnum > 0 AND attname NOT LIKE '\\_eai\\_%' ORDER BY attnum", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert_eq!(cols, vec!["id", "name", "name_2"], "a header with a repeated name is a header");
    let (message, hint) = failure(&mut c, "f", "mixed");
    assert!(message.contains("mixed.csv") && message.contains("line 3, field 2") && message.contains("5\""), "{message}");
    assert!(hint.contains("double the quote"), "{hint}");
    // Fixed as the hint says, the file lands whole.
    write(&dir, "mixed.csv", "id,item\n1,\"Doe, Jane\"\n2,\"5\"\" screen\"\n3,x\n4,\"7\"\" tablet\"\n");
    assert_eq!(ingest(&mut c, "f")[1], ("mixed".into(), ok(4, 4)));
}

/// Item 13: a UTF-16 file, a binary file and a long file without a line break fail their own
/// batch, saying what the file is and what to do; the other files land.
#[test]
fn files_eai_cannot_read_say_what_they_are() {
    let (_db, mut c) = fresh_db("unreadable");
    let dir = scratch_dir("unreadable");
    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain("id,name\n1,Ann\n".encode_utf16().flat_map(u16::to_le_bytes)).collect();
    write_bytes(&dir, "excel.txt", &utf16);
    write_bytes(&dir, "archive.csv", b"PK\x03\x04\x14\x00\x00\x00\x08\x00some,zip\n");
    write_bytes(&dir, "long.csv", &vec![b'x'; 200_000]);
    write(&dir, "good.csv", "id\n1\n");
    c.query("SELECT * FROM eai.add_source('u', $1)", &[&dir.to_str().unwrap()]).unwrap();
    let states: Vec<(String, Option<String>)> = c
        .query("SELECT table_name, dialect #>> '{unreadable,sqlstate}' FROM eai.source_tables WHERE source = 'u' ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        states,
        vec![
            ("archive".into(), Some("22P04".into())),
            ("excel".into(), Some("22021".into())),
            ("good".into(), None),
            ("long".into(), Some("22P04".into()))
        ]
    );
    let batches = ingest(&mut c, "u");
    let failed = |code: &str| ("failed".to_string(), 0, 0, Some(code.to_string()), Some("bad_data".to_string()));
    assert_eq!(batches[0].1, failed("22P04"));
    assert_eq!(batches[1].1, failed("22021"));
    assert_eq!(batches[2].1, ok(1, 1));
    assert_eq!(batches[3].1, failed("22P04"));
    let (message, hint) = failure(&mut c, "u", "excel");
    assert!(message.contains("excel.txt") && message.contains("UTF-16 (little-endian)"), "{message}");
    assert!(hint.contains("UTF-8"), "{hint}");
    let (message, _) = failure(&mut c, "u", "archive");
    assert!(message.contains("NUL byte") && message.contains("not a text file"), "{message}");
    let (message, hint) = failure(&mut c, "u", "long");
    assert!(message.contains("no line break in its first 64 KiB") && !message.contains("empty"), "{message}");
    assert!(hint.contains("line break"), "{hint}");
    // Converted to UTF-8, the file lands at the next ingest.
    write(&dir, "excel.txt", "id,name\n1,Ann\n");
    assert_eq!(ingest(&mut c, "u")[1], ("excel".into(), ok(1, 1)));
}

/// Item 9: same.csv and same.tsv are two tables (ingested every time, no flip between them), and
/// a file whose name is not UTF-8 is a table whose batch says so, not a file left out.
#[test]
fn every_file_of_a_folder_is_a_table_of_its_own() {
    use std::os::unix::ffi::OsStrExt;
    let (_db, mut c) = fresh_db("samestem");
    let dir = scratch_dir("samestem");
    write(&dir, "same.csv", "id,v\n1,csv\n");
    write(&dir, "same.tsv", "id\tv\n1\ttsv\n2\ttsv\n");
    let latin1 = write_bytes(&dir, std::ffi::OsStr::from_bytes(b"caf\xe9.csv"), b"id\n1\n");
    let tables: Vec<(String, String)> = c
        .query("SELECT table_name, bronze_table::text FROM eai.add_source('n', $1) ORDER BY table_name", &[&dir.to_str().unwrap()])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        tables,
        vec![("caf\u{fffd}".into(), "n__caf\u{fffd}".into()), ("same".into(), "n__same".into()), ("same.tsv".into(), "n__same.tsv".into())]
    );
    for round in 0..2 {
        let b = ingest(&mut c, "n");
        assert_eq!(b[0].1 .3.as_deref(), Some("22021"), "round {round}: {b:?}");
        assert_eq!(b[1], ("same".into(), ok(1, 1 - round)));
        assert_eq!(b[2], ("same.tsv".into(), ok(2, 2 - 2 * round)));
    }
    let (message, hint) = failure(&mut c, "n", "caf\u{fffd}");
    assert!(message.contains("caf\u{fffd}.csv") && message.contains("not valid UTF-8"), "{message}");
    assert!(hint.contains("Rename"), "{hint}");
    let v: String = c.query_one("SELECT v FROM bronze.n__same", &[]).unwrap().get(0);
    assert_eq!(v, "csv");
    // Renamed, the file is a new table; the old name's batch then says the file is gone.
    std::fs::rename(&latin1, dir.join("cafe.csv")).unwrap();
    let b = ingest(&mut c, "n");
    assert_eq!(b.iter().find(|(t, _)| t == "caf\u{fffd}").unwrap().1 .3.as_deref(), Some("58P01"));
    assert_eq!(b.iter().find(|(t, _)| t == "cafe").unwrap().1, ok(1, 1));
}

/// Item 9: source `a__b`'s table `c` and source `a`'s table `b__c` both make `a__b__c`: the
/// second gets a name of its own instead of a unique violation, and keeps it across a re-add.
#[test]
fn sources_whose_bronze_names_collide_get_distinct_tables() {
    let (_db, mut c) = fresh_db("collide");
    let d1 = scratch_dir("collide_a");
    let d2 = scratch_dir("collide_ab");
    write(&d1, "b__c.csv", "x\n1\n");
    write(&d2, "c.csv", "y\n2\n");
    c.query("SELECT * FROM eai.add_source('a', $1)", &[&d1.to_str().unwrap()]).unwrap();
    c.query("SELECT * FROM eai.add_source('a__b', $1)", &[&d2.to_str().unwrap()]).unwrap();
    let name = |c: &mut Client, s: &str| -> String {
        c.query_one("SELECT bronze_table::text FROM eai.source_tables WHERE source = $1", &[&s]).unwrap().get(0)
    };
    let second = name(&mut c, "a__b");
    assert_eq!(name(&mut c, "a"), "a__b__c");
    assert!(second.starts_with("a__b__c_") && second.len() == 16, "{second}");
    assert_eq!(ingest(&mut c, "a"), vec![("b__c".into(), ok(1, 1))]);
    assert_eq!(ingest(&mut c, "a__b"), vec![("c".into(), ok(1, 1))]);
    assert_eq!(bronze_count(&mut c, "a__b__c"), 1);
    assert_eq!(bronze_count(&mut c, &second), 1);
    // Both dropped (bronze kept), a__b added again first: it finds its own bronze table.
    c.batch_execute("SELECT eai.drop_source('a'); SELECT eai.drop_source('a__b');").unwrap();
    c.query("SELECT * FROM eai.add_source('a__b', $1)", &[&d2.to_str().unwrap()]).unwrap();
    assert_eq!(name(&mut c, "a__b"), second);
    assert_eq!(ingest(&mut c, "a__b"), vec![("c".into(), ok(1, 0))]);
}

/// Item 9: a unicode header keeps its letters in silver (it became `n`).
#[test]
fn a_unicode_header_keeps_its_name_in_silver() {
    let (_db, mut c) = fresh_db("unicode_silver");
    let dir = scratch_dir("unicode_silver");
    write(&dir, "u.csv", "ünï 表,id\nx,1\ny,2\n");
    c.query("SELECT * FROM eai.add_source('uni', $1)", &[&dir.to_str().unwrap()]).unwrap();
    assert_eq!(ingest(&mut c, "uni"), vec![("u".into(), ok(2, 2))]);
    c.query("SELECT * FROM eai.create_pipeline('uni', 'bronze.uni__u', 'silver.uni')", &[]).unwrap();
    let cols: Vec<String> = c
        .query("SELECT attname::text FROM pg_attribute WHERE attrelid = 'silver.uni'::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\\_eai\\_%' ORDER BY attnum", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(cols, vec!["ünï_表", "id"]);
    let n: i64 = c.query_one("SELECT count(\"ünï_表\") FROM silver.uni", &[]).unwrap().get(0);
    assert_eq!(n, 2);
}

/// Item 13: a remote column changed from int to text. Before refresh_source the batch fails as
/// schema drift (not bad data) and says to refresh; after it, it says which bronze column to
/// widen and how; widened as it says, the changed row lands and nothing else.
#[test]
fn a_remote_column_that_changes_type_says_what_to_do() {
    let (db, mut c) = fresh_db("pgtype");
    let src_db = "eai_it_pgtype_remote";
    let mut admin = connect("postgres");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {src_db} WITH (FORCE)")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {src_db}")).unwrap();
    let mut remote = connect(src_db);
    remote.batch_execute("CREATE TABLE t (id int, n int); INSERT INTO t SELECT g, g FROM generate_series(1, 3) g").unwrap();
    let (host, port) = server_address();
    c.query("SELECT * FROM eai.add_source('r', $1)", &[&format!("postgresql://postgres:not-a-real-secret@/{src_db}?host={host}&port={port}")])
        .unwrap();
    assert_eq!(ingest(&mut c, "r"), vec![("t".into(), ok(3, 3))]);
    remote.batch_execute("ALTER TABLE t ALTER COLUMN n TYPE text; UPDATE t SET n = 'n/a' WHERE id = 3").unwrap();
    let drift = |code: &str| ("failed".to_string(), 0, 0, Some(code.to_string()), Some("schema_drift".to_string()));
    let b = ingest(&mut c, "r");
    assert_eq!((b[0].1 .0.as_str(), b[0].1 .3.as_deref(), b[0].1 .4.as_deref()), ("failed", Some("22P02"), Some("schema_drift")), "{b:?}");
    let (_, hint) = failure(&mut c, "r", "t");
    assert!(hint.contains("eai.refresh_source"), "{hint}");
    c.query("SELECT * FROM eai.refresh_source('r')", &[]).unwrap();
    assert_eq!(ingest(&mut c, "r"), vec![("t".into(), drift("42804"))]);
    let (message, hint) = failure(&mut c, "r", "t");
    assert_eq!(message, "eai: column n of source table 't' is now text, but integer in bronze.r__t");
    assert!(hint.contains("ALTER TABLE bronze.r__t ALTER COLUMN n TYPE text USING n::text::text;"), "{hint}");
    c.batch_execute("ALTER TABLE bronze.r__t ALTER COLUMN n TYPE text USING n::text::text").unwrap();
    assert_eq!(ingest(&mut c, "r"), vec![("t".into(), ok(3, 1))]);
    assert_eq!(bronze_count(&mut c, "r__t"), 4);
    drop(c);
    drop(remote);
    admin.batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)")).unwrap();
    admin.batch_execute(&format!("DROP DATABASE {src_db} WITH (FORCE)")).unwrap();
}
