//! SQL wrappers for in-process embeddings. The model loads once per backend, on first use, and
//! again only if `eai.model_dir` or `eai.embed_threads` change. `eai.embed` / `eai.embed_batch`
//! (returning pgvector's `vector`) are SQL wrappers over these in sql/api.sql.

use std::cell::RefCell;

use eai_core::embedding::{EmbedError, Embedder, EmbedderConfig};
use eai_core::error_taxonomy;
use pgrx::prelude::*;

use crate::errors::EaiError;
use crate::{catalog_write, failure_spool, guc};

thread_local! {
    static EMBEDDER: RefCell<Option<Embedder>> = const { RefCell::new(None) };
}

fn with_embedder<T>(f: impl FnOnce(&mut Embedder) -> T) -> T {
    let wanted = EmbedderConfig { model_dir: guc::model_dir(), onnxruntime_library: guc::onnxruntime_library(), threads: guc::embed_threads() };
    EMBEDDER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|e| e.config() != &wanted) {
            *slot = None;
            *slot = Some(Embedder::load(wanted).unwrap_or_else(|e| raise(e)));
        }
        f(slot.as_mut().expect("loaded above"))
    })
}

/// Raises an embedding error, its record spooled first (docs/healing.md): the statement that
/// needed the embedding ends here and its transaction rolls back, so the worker or the next
/// eai.heal() writes the row of eai.failures from the spool. Nothing is written now, so this works
/// in a read-only transaction too.
fn raise(e: EmbedError) -> ! {
    let err = EaiError::from(e);
    let sqlstate = err.sqlstate();
    failure_spool::spool(serde_json::json!({
        "stage": "embedding",
        "target": format!("model {}", guc::model_dir().display()),
        "sqlstate": sqlstate,
        "class": error_taxonomy::classify(&sqlstate).as_str(),
        "message": err.public_message(),
        "hint": err.public_hint(),
        "note": "the statement that needed an embedding failed; once the setting is fixed, run it again",
        "role": catalog_write::session_role(),
    }));
    err.report()
}

/// Embedding of one text as real[]; `eai.embed(text)` casts it to vector.
#[pg_extern(stable, parallel_unsafe, strict)]
fn _embed(text: &str) -> Vec<f32> {
    with_embedder(|e| e.embed(text)).unwrap_or_else(|e| raise(e))
}

/// Embeddings of several texts in one model run, as (ordinality, real[]); null texts are skipped.
#[pg_extern(stable, parallel_unsafe, strict)]
fn _embed_batch(texts: Vec<Option<String>>) -> TableIterator<'static, (name!(ord, i32), name!(embedding, Vec<f32>))> {
    let present: Vec<(i32, String)> = texts.into_iter().enumerate().filter_map(|(i, t)| t.map(|t| (i as i32 + 1, t))).collect();
    let strs: Vec<&str> = present.iter().map(|(_, t)| t.as_str()).collect();
    let vectors = embed_texts(&strs);
    TableIterator::new(present.iter().map(|(i, _)| *i).zip(vectors).collect::<Vec<_>>())
}

/// Embeddings of many texts, in order, in chunks that bound the padded tensor's size.
pub fn embed_texts(texts: &[&str]) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(64) {
        out.extend(with_embedder(|e| e.embed_batch(chunk)).unwrap_or_else(|e| raise(e)));
    }
    out
}

/// What model this backend uses: paths, dimensions, and whether it is loaded yet.
#[pg_extern(volatile)]
fn embedding_model() -> pgrx::JsonB {
    let dims = with_embedder(|e| e.dimensions());
    pgrx::JsonB(serde_json::json!({
        "model_dir": guc::model_dir().display().to_string(),
        "onnxruntime_library": guc::onnxruntime_library().display().to_string(),
        "dimensions": dims,
        "threads": guc::embed_threads(),
    }))
}
