//! Incidents reach listeners: a high-severity incident is announced with `NOTIFY eai_incident`
//! once, when the transaction that found it commits.

use std::time::Duration;

use eai_integration_tests::*;
use postgres::fallible_iterator::FallibleIterator;

#[test]
fn a_high_severity_incident_is_notified_once() {
    let (db, mut c) = fresh_db("incidents");
    let mut listener = connect(&db);
    listener.batch_execute("LISTEN eai_incident").unwrap();
    // Twelve quality runs of a steady table, then a column appears: a schema change (high).
    c.batch_execute(
        "CREATE TABLE silver.\"watched; t\" (x int);
         DO $$ BEGIN
           FOR i IN 1..12 LOOP
             INSERT INTO silver.\"watched; t\" SELECT g FROM generate_series(1, 50) g;
             PERFORM eai.quality_score('silver.\"watched; t\"');
           END LOOP;
         END $$;
         ALTER TABLE silver.\"watched; t\" ADD COLUMN y text;
         SELECT count(*) FROM eai.quality_score('silver.\"watched; t\"');",
    )
    .unwrap();
    let mut tx = c.transaction().unwrap();
    let found: i64 =
        tx.query_one("SELECT count(*) FROM eai.detect_anomalies('silver.\"watched; t\"'::regclass) WHERE detector = 'schema'", &[]).unwrap().get(0);
    assert_eq!(found, 1);
    // Nothing is delivered before the commit.
    assert_eq!(listener.notifications().timeout_iter(Duration::from_millis(300)).count().unwrap(), 0);
    tx.commit().unwrap();
    let got: Vec<_> = listener.notifications().timeout_iter(Duration::from_secs(10)).take(1).collect().unwrap();
    assert_eq!(got.len(), 1, "one notification");
    let payload = got[0].payload();
    assert_eq!(got[0].channel(), "eai_incident");
    assert!(payload.contains("\"severity\" : \"high\""), "{payload}");
    assert!(payload.contains("the columns changed"), "{payload}");
    let incident: i64 = c.query_one("SELECT incident_id FROM eai.incidents", &[]).unwrap().get(0);
    assert!(payload.contains(&format!("\"incident_id\" : {incident}")), "{payload}");
    // Detection again: the incident is known, nobody is told twice.
    c.query("SELECT * FROM eai.detect_anomalies('silver.\"watched; t\"'::regclass)", &[]).unwrap();
    assert_eq!(listener.notifications().timeout_iter(Duration::from_millis(500)).count().unwrap(), 0);
}
