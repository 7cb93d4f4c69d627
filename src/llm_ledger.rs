//! The LLM ledger (`eai.llm_calls`), written so that no call is ever missing: each call attempt
//! is first a spool file under `$PGDATA/eai_llm_ledger/<database oid>/` (outside any
//! transaction), then a row in the caller's transaction. A cancel or an error after the call rolls
//! the row back but not the file; `drain` (at every LLM call, and in the worker for its database)
//! inserts the rows of files whose transaction is over and removes the files whose row is in.
//! `call_uuid` is unique, so a call is counted once (`eai_core::llm_ledger`).

use std::path::PathBuf;

use eai_core::llm_ledger::{uuid_v4, LedgerEntry};
use pgrx::prelude::*;

use crate::catalog_write;
use crate::errors::EaiError;

/// The call's row and, for a failed call ($17: its class), its row of eai.failures: both or
/// neither (a call already recorded is not recorded again).
const INSERT_SQL: &str = "WITH call AS (
  INSERT INTO eai.llm_calls (call_uuid, called_at, called_by, run_id, purpose, protocol, model, request_hash,
                             attempt, tokens_in, tokens_out, latency_ms, cost_usd, cache_hit, outcome, error, endpoint)
  VALUES ($1::uuid, to_timestamp($2), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, nullif($18, ''))
  ON CONFLICT (call_uuid) DO NOTHING
  RETURNING call_id, protocol, model, attempt, outcome, error, endpoint)
 SELECT eai._record_failure('llm', coalesce(c.endpoint || ' ', '') || c.protocol || ':' || c.model, NULL, NULL, NULL, NULL, $17::text,
                            coalesce(c.error, c.outcome), c.attempt, false,
                            'LLM call ' || c.call_id || ' (' || c.outcome || ')' ||
                            CASE $5 WHEN 'map_schema' THEN ': the pair it was asked about goes to a person (eai.pending_mappings)'
                                    ELSE ': its ' || $5 || ' goes on without it' END)
   FROM call c WHERE $17::text IS NOT NULL";

/// Files drained per call at most, so that an LLM call never waits on a long backlog.
const DRAIN_PER_CALL: usize = 50;

fn spool_dir() -> PathBuf {
    // SAFETY: DataDir is set for every backend and worker before any SQL runs; MyDatabaseId once connected.
    let data = unsafe { std::ffi::CStr::from_ptr(pg_sys::DataDir) }.to_string_lossy().into_owned();
    PathBuf::from(data).join("eai_llm_ledger").join(unsafe { pg_sys::MyDatabaseId }.to_u32().to_string())
}

/// A random (v4) UUID from the server's strong random source.
pub fn new_uuid() -> String {
    let mut bytes = [0u8; 16];
    // SAFETY: fills the 16 bytes of a local buffer.
    if !unsafe { pg_sys::pg_strong_random(bytes.as_mut_ptr().cast(), bytes.len()) } {
        EaiError::System("could not generate random bytes for an id".into()).report();
    }
    uuid_v4(bytes)
}

/// This backend's virtual transaction id, as `pg_locks.virtualxid` shows it.
pub fn current_vxid() -> String {
    // SAFETY: MyProc is this backend's PGPROC, valid while it runs.
    unsafe { format!("{}/{}", (*pg_sys::MyProc).backendId, (*pg_sys::MyProc).lxid) }
}

/// Records one call attempt: its spool file first, then its row in the current transaction.
pub fn record(entry: &LedgerEntry) {
    let dir = spool_dir();
    let written = std::fs::create_dir_all(&dir).and_then(|_| {
        let tmp = dir.join(format!("{}.tmp", entry.call_uuid));
        std::fs::write(&tmp, entry.to_json())?;
        std::fs::rename(&tmp, dir.join(entry.file_name()))
    });
    if let Err(e) = written {
        warning!("eai: could not spool the LLM ledger entry of call {} ({e}); it is recorded in this transaction only", entry.call_uuid);
    }
    insert(entry).unwrap_or_else(|e| EaiError::catalog("record the LLM call", e).report());
}

/// Writes only a spool file (for a call being cancelled: the transaction is about to abort).
pub fn spool_only(entry: &LedgerEntry) {
    let dir = spool_dir();
    let _ = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(dir.join(entry.file_name()), entry.to_json()));
}

fn insert(e: &LedgerEntry) -> Result<(), pgrx::spi::Error> {
    catalog_write::as_owner(|_| {
        Spi::connect_mut(|client| {
            client.update(
                INSERT_SQL,
                None,
                &[
                    e.call_uuid.as_str().into(),
                    e.called_at.into(),
                    e.called_by.as_str().into(),
                    e.run_id.into(),
                    e.purpose.as_str().into(),
                    e.protocol.as_str().into(),
                    e.model.as_str().into(),
                    e.request_hash.as_str().into(),
                    e.attempt.into(),
                    e.tokens_in.into(),
                    e.tokens_out.into(),
                    e.latency_ms.into(),
                    e.cost_usd.into(),
                    e.cache_hit.into(),
                    e.outcome.as_str().into(),
                    e.error.clone().into(),
                    e.failure_class().map(|c| c.as_str()).into(),
                    e.endpoint.as_str().into(),
                ],
            )?;
            Ok(())
        })
    })
}

/// Moves finished calls' spool files into the ledger: a file whose transaction is still running is
/// left alone; one whose row is in (committed) is removed; one whose row is missing (rolled back)
/// gets it. Returns how many rows it inserted. Never raises: the ledger must not break a caller.
pub fn drain(limit: usize) -> usize {
    let dir = spool_dir();
    let Ok(files) = std::fs::read_dir(&dir) else { return 0 };
    let mut inserted = 0;
    for path in files.flatten().map(|f| f.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).take(limit) {
        let Some(entry) = std::fs::read_to_string(&path).ok().and_then(|t| LedgerEntry::from_json(&t).ok()) else {
            let _ = std::fs::rename(&path, path.with_extension("unreadable"));
            continue;
        };
        // Still running: its own transaction records it. Taken by another drainer right now
        // (the advisory lock lasts until that drainer's transaction ends): left to it.
        let state = Spi::get_three_with_args::<bool, bool, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'virtualxid' AND virtualxid = $1),
                    EXISTS (SELECT 1 FROM eai.llm_calls WHERE call_uuid = $2::uuid),
                    pg_catalog.pg_try_advisory_xact_lock(25953, pg_catalog.hashtext($2))",
            &[entry.vxid.as_str().into(), entry.call_uuid.as_str().into()],
        );
        match state {
            Ok((Some(false), Some(true), _)) => {
                let _ = std::fs::remove_file(&path);
            }
            Ok((Some(false), Some(false), Some(true))) => {
                if insert(&entry).is_ok() {
                    inserted += 1;
                }
            }
            _ => {}
        }
    }
    inserted
}

/// `drain` for an LLM call: a few files at most.
pub fn drain_some() {
    drain(DRAIN_PER_CALL);
}
