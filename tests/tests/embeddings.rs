//! Embeddings from SQL, read back with the pgvector crate.

use eai_integration_tests::*;
use pgvector::Vector;

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt())
}

#[test]
fn embeddings_match_the_sentence_transformers_reference() {
    let (_db, mut c) = fresh_db("embed");
    let a: Vector = c.query_one("SELECT eai.embed($1)", &[&"customer_email"]).unwrap().get(0);
    let b: Vector = c.query_one("SELECT eai.embed($1)", &[&"client e-mail address"]).unwrap().get(0);
    assert_eq!(a.as_slice().len(), 384);
    let cos = cosine(a.as_slice(), b.as_slice());
    assert!((cos - 0.64).abs() < 0.005, "cosine {cos}");
    let batch: Vec<Option<Vector>> = c.query_one("SELECT eai.embed_batch($1)", &[&vec![Some("customer_email"), None]]).unwrap().get(0);
    assert_eq!(batch.len(), 2);
    assert!(batch[1].is_none());
    assert!(cosine(batch[0].as_ref().unwrap().as_slice(), a.as_slice()) > 0.9999);
}
