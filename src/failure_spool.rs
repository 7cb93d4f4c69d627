//! Failures that must outlive their transaction (docs/healing.md, "When the transaction cannot
//! commit"). A failure is recorded in the transaction that met it; but some failures leave that
//! transaction unable to commit: postgres_fdw refuses to commit a transaction whose remote
//! connection broke in the middle of a read (08000 "cannot be used due to abort cleanup failure"),
//! and the record would go with it. So each such record is first a spool file under
//! `$PGDATA/eai_failure_spool/<database oid>/` (outside any transaction), then written in the
//! transaction. `drain` (the worker, `eai.heal()`) writes the records of files whose transaction
//! ended without them and removes the files whose record is in; `spool_id` is unique, so a
//! failure is recorded once. The same design as the LLM ledger (src/llm_ledger.rs).

use std::path::PathBuf;

use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

use crate::catalog_write;
use crate::llm_ledger::current_vxid;

fn spool_dir() -> PathBuf {
    // SAFETY: DataDir is set for every backend and worker before any SQL runs; MyDatabaseId once connected.
    let data = unsafe { std::ffi::CStr::from_ptr(pg_sys::DataDir) }.to_string_lossy().into_owned();
    PathBuf::from(data).join("eai_failure_spool").join(unsafe { pg_sys::MyDatabaseId }.to_u32().to_string())
}

/// Spools one failure record (an ingest's: `eai._record_ingest_failure`'s argument) and returns
/// it with its `spool_id` and this transaction's `vxid`, for the caller to record now.
#[pg_extern(volatile)]
fn _spool_failure(entry: JsonB) -> JsonB {
    JsonB(spool(entry.0))
}

/// Writes the spool file of a failure record and returns the record with its `spool_id` and
/// `vxid`. A record with a `stage` other than `ingest` is written by `eai._record_spooled_failure`.
pub fn spool(mut entry: Value) -> Value {
    let id = crate::llm_ledger::new_uuid();
    if let Value::Object(m) = &mut entry {
        m.insert("spool_id".into(), Value::String(id.clone()));
        m.insert("vxid".into(), Value::String(current_vxid()));
    }
    let dir = spool_dir();
    let written = std::fs::create_dir_all(&dir).and_then(|_| {
        let tmp = dir.join(format!("{id}.tmp"));
        std::fs::write(&tmp, entry.to_string())?;
        std::fs::rename(&tmp, dir.join(format!("{id}.json")))
    });
    if let Err(e) = written {
        warning!("eai: could not spool the record of a failure ({e}); it is recorded in this transaction only");
    }
    entry
}

/// Writes the records of spooled failures whose transaction ended without them; removes the
/// files whose record is in. Returns how many it wrote. Never raises.
pub fn drain(limit: usize) -> usize {
    let dir = spool_dir();
    let Ok(files) = std::fs::read_dir(&dir) else { return 0 };
    let mut written = 0;
    for path in files.flatten().map(|f| f.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).take(limit) {
        let Some(entry) = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok()) else {
            let _ = std::fs::rename(&path, path.with_extension("unreadable"));
            continue;
        };
        let (Some(vxid), Some(id)) = (entry["vxid"].as_str(), entry["spool_id"].as_str()) else {
            let _ = std::fs::rename(&path, path.with_extension("unreadable"));
            continue;
        };
        // Still running: its own transaction records it. Taken by another drainer right now: left to it.
        let state = Spi::get_three_with_args::<bool, bool, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'virtualxid' AND virtualxid = $1),
                    EXISTS (SELECT 1 FROM eai.failures WHERE spool_id = $2::uuid),
                    pg_catalog.pg_try_advisory_xact_lock(25955, pg_catalog.hashtext($2))",
            &[vxid.into(), id.into()],
        );
        match state {
            Ok((Some(false), Some(true), _)) => {
                let _ = std::fs::remove_file(&path);
            }
            Ok((Some(false), Some(false), Some(true))) => {
                let writer = match entry["stage"].as_str() {
                    None | Some("ingest") => "SELECT eai._record_ingest_failure($1)",
                    Some(_) => "SELECT eai._record_spooled_failure($1)",
                };
                let recorded = catalog_write::as_owner(|_| Spi::run_with_args(writer, &[JsonB(entry.clone()).into()]));
                match recorded {
                    Ok(()) => written += 1,
                    Err(e) => warning!("eai: could not record a spooled failure ({}): {e}", path.display()),
                }
            }
            _ => {}
        }
    }
    written
}

/// `drain` from SQL (eai.heal): how many spooled failures it recorded.
#[pg_extern(volatile)]
fn _drain_failure_spool() -> i64 {
    drain(100) as i64
}
