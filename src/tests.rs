// `#[pg_test]`s for the glue: each runs inside a transaction of a real PostgreSQL 15 backend
// (`cargo pgrx test pg15`), with the extension created by `CREATE EXTENSION eai CASCADE`.

use pgrx::prelude::*;

fn query_f64(sql: &str) -> f64 {
    Spi::get_one::<f64>(sql).expect("query").expect("not null")
}

#[pg_test]
fn embed_is_unit_length_and_384_wide() {
    assert_eq!(Spi::get_one::<i32>("SELECT vector_dims(eai.embed('hello'))").unwrap(), Some(384));
    let norm = query_f64("SELECT vector_norm(eai.embed('customer email'))::float8");
    assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
}

#[pg_test]
fn embed_matches_sentence_transformers_reference() {
    let cos = query_f64("SELECT (1 - (eai.embed('customer_email') <=> eai.embed('client e-mail address')))::float8");
    assert!((cos - 0.64).abs() < 0.005, "cosine {cos}");
}

#[pg_test]
fn embed_batch_keeps_order_and_nulls() {
    let same = Spi::get_one::<bool>(
        "SELECT (eai.embed_batch(ARRAY['b', NULL, 'a']))[3] = eai.embed('a')
            AND (eai.embed_batch(ARRAY['b', NULL, 'a']))[2] IS NULL
            AND cardinality(eai.embed_batch('{}'::text[])) = 0",
    );
    assert_eq!(same, Ok(Some(true)));
}

#[pg_test(error = "eai: model file /nonexistent/model.onnx could not be loaded: no such file (is eai.model_dir right?)")]
fn missing_model_is_a_clear_error() {
    Spi::run("SET eai.model_dir = '/nonexistent'").unwrap();
    Spi::run("SELECT eai.embed('x')").unwrap();
}

#[pg_test]
fn derived_names_fit_63_bytes() {
    let long = "x".repeat(80);
    let name = Spi::get_one_with_args::<String>("SELECT eai._bronze_table_name($1, 't')", &[long.as_str().into()])
        .unwrap()
        .unwrap();
    assert!(name.len() <= 63);
    assert_eq!(Spi::get_one::<String>("SELECT eai._bronze_table_name('crm', 'orders')").unwrap().unwrap(), "crm__orders");
}

#[pg_test]
fn conninfo_is_parsed_and_redacted() {
    let j = Spi::get_one::<pgrx::JsonB>("SELECT eai._parse_conninfo('postgresql://u:s3cret@h:5/db')").unwrap().unwrap().0;
    assert_eq!(j["server"]["port"], "5");
    assert_eq!(j["user_mapping"]["password"], "s3cret");
    assert!(!j["redacted"].as_str().unwrap().contains("s3cret"));
}

#[pg_test(error = "eai: invalid connection string: unterminated quoted value in connection string")]
fn bad_conninfo_raises() {
    Spi::run("SELECT eai._parse_conninfo('host=''x')").unwrap();
}

#[pg_test]
fn error_taxonomy_from_sql() {
    assert_eq!(Spi::get_one::<String>("SELECT eai._error_class('08001')").unwrap().unwrap(), "transient");
    assert_eq!(Spi::get_one::<String>("SELECT eai._error_class('22P04')").unwrap().unwrap(), "bad_data");
    let r = Spi::get_one::<String>("SELECT eai._redact('password=hunter2 host=x')").unwrap().unwrap();
    assert!(!r.contains("hunter2"));
}

#[pg_test]
fn ingest_tick_counts_rows() {
    Spi::run("SELECT count(*) FROM generate_series(1, 2500) WHERE eai._ingest_tick(-7)").unwrap();
    assert_eq!(Spi::get_one::<i64>("SELECT eai._ingest_rows_read(-7)").unwrap(), Some(2500));
    assert_eq!(Spi::get_one::<i64>("SELECT eai._ingest_rows_read(-7)").unwrap(), Some(0));
}

#[pg_test]
fn missing_path_is_reported() {
    assert_eq!(Spi::get_one::<&str>("SELECT eai._path_kind('/no/such/path')").unwrap(), Some("missing"));
    assert_eq!(Spi::get_one::<&str>("SELECT eai._path_kind('/')").unwrap(), Some("directory"));
}

#[pg_test]
fn catalog_is_fully_commented() {
    let uncommented = Spi::get_one::<i64>(
        "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'eai' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
           AND col_description(c.oid, a.attnum) IS NULL",
    );
    assert_eq!(uncommented, Ok(Some(0)));
}

/// The same known answer as eai_core::row_hash: bronze stores these hashes, they must not change.
#[pg_test]
fn row_hash_known_answer_from_sql() {
    let h = Spi::get_one::<String>("SELECT eai._row_hash('1', 'Doe, Jane', NULL)::text").unwrap().unwrap();
    assert_eq!(h, "7293fd4a-b8b2-11b3-0bc8-049e6efd7bf3");
    let o = Spi::get_one::<String>("SELECT eai._row_hash_occurrence(eai._row_hash('1', 'Doe, Jane', NULL), 2)::text")
        .unwrap()
        .unwrap();
    assert_eq!(o, "82f14e17-4dbf-cf11-970e-c702e0c61a0e");
    let null_vs_empty = Spi::get_one::<bool>("SELECT eai._row_hash(NULL::text) <> eai._row_hash('')").unwrap();
    assert_eq!(null_vs_empty, Some(true));
}

/// Hashing by the bronze table's shape keeps the stored hashes: with no column added, and with
/// added columns that are NULL, it gives the known answer of eai._row_hash.
#[pg_test]
fn row_hash_shaped_keeps_the_known_answer() {
    for sql in [
        "SELECT eai._row_hash_shaped(3, '1', 'Doe, Jane', NULL)::text",
        "SELECT eai._row_hash_shaped(3, '1', 'Doe, Jane', NULL, NULL, NULL)::text",
    ] {
        let h = Spi::get_one::<String>(sql).unwrap();
        assert_eq!(h.as_deref(), Some("7293fd4a-b8b2-11b3-0bc8-049e6efd7bf3"), "{sql}");
    }
    let gained = Spi::get_one::<bool>(
        "SELECT eai._row_hash_shaped(3, '1', 'Doe, Jane', NULL, 'x') = eai._row_hash('1', 'Doe, Jane', NULL, 'x')",
    )
    .unwrap();
    assert_eq!(gained, Some(true));
}

#[pg_test]
fn profile_stores_versions_and_embeddings() {
    Spi::run("CREATE TABLE t (cust_dob text, email text); INSERT INTO t VALUES ('2024-01-01', 'a@x.io'), ('2024-02-03', 'b@y.org')").unwrap();
    let n = Spi::get_one::<i64>("SELECT count(*) FROM eai.profile('t') WHERE inferred_type = 'date' OR semantic_type = 'email'").unwrap();
    assert_eq!(n, Some(2));
    Spi::run("SELECT count(*) FROM eai.profile('t')").unwrap();
    let versions = Spi::get_one::<i64>("SELECT count(DISTINCT version) FROM eai.column_profiles WHERE table_name = 't'").unwrap();
    assert_eq!(versions, Some(2));
    let text = Spi::get_one::<String>("SELECT name_text FROM eai.column_profiles WHERE column_name = 'cust_dob' LIMIT 1").unwrap();
    assert_eq!(text.as_deref(), Some("customer date of birth"));
    let dims = Spi::get_one::<i32>("SELECT vector_dims(name_embedding) FROM eai.column_profiles LIMIT 1").unwrap();
    assert_eq!(dims, Some(384));
}

#[pg_test]
fn map_schema_routes_and_records_every_decision() {
    Spi::run(
        "CREATE TABLE s (cust_email text, amount text, zzz_misc text);
         INSERT INTO s VALUES ('a@x.io', '1.5', 'q'), ('b@y.org', '2', 'r');
         CREATE TABLE t (customer_email text, amount numeric);",
    )
    .unwrap();
    let approved = Spi::get_one::<i64>("SELECT count(*) FROM eai.map_schema('s', 't') WHERE status = 'approved'").unwrap();
    assert_eq!(approved, Some(2));
    let new_cols = Spi::get_one::<i64>("SELECT count(*) FROM eai.mappings WHERE status = 'new_column' AND target_column IS NULL").unwrap();
    assert_eq!(new_cols, Some(1));
    let explained = Spi::get_one::<bool>("SELECT bool_and(signals ? 'lexical' AND decided_by IS DISTINCT FROM '') FROM eai.mappings").unwrap();
    assert_eq!(explained, Some(true));
}
