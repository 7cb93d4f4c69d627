//! Glue: writing the rows of a promotion's single-pass `SELECT` into silver the way `COPY` does.
//!
//! `INSERT … SELECT` writes one heap tuple at a time: a WAL record, a buffer lock and a
//! free-space lookup per row. `COPY` buffers rows and writes them a page at a time
//! (`heap_multi_insert`: one WAL record per page), then inserts their index entries. For a
//! silver table that is a plain heap table whose inserts no trigger, rule or row-level security
//! policy watches, `eai._insert_streamed` runs the `SELECT` through SPI into a receiver that does
//! what `COPY FROM` does with its rows: NOT NULL and CHECK constraints per row, the rows written
//! in buffers of up to 1,000 rows or 64 kB, then each row's index entries (unique indexes
//! checked as usual, so a key silver has fails with unique_violation). Any other table, and a
//! role without INSERT on it, takes the plain `INSERT` statement instead, with all of
//! PostgreSQL's own checks. Both write in the calling transaction: exactly once, as before.

use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::{CStr, CString};

use crate::errors::EaiError;

/// Rows per write (as COPY's MAX_BUFFERED_TUPLES) and bytes per write (as its
/// MAX_BUFFERED_BYTES).
const BUFFERED_ROWS: usize = 1000;
const BUFFERED_BYTES: usize = 65_535;

/// Writes the rows of `select_sql` into `target`, streamed as COPY does, or runs `insert_sql`
/// (the same rows through `INSERT`) when `target` needs what only `INSERT` does. The parameters
/// are those of eai._promotion_statement's statements ($1 pipeline, $2 promotion, $3 checks, $4
/// bronze columns, $5 the argument of the rows' query). Returns the rows written.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe)]
fn _insert_streamed(
    target: pg_sys::Oid,
    select_sql: &str,
    insert_sql: &str,
    pipeline: i64,
    promotion: i64,
    checks: Option<pgrx::JsonB>,
    columns: Option<Vec<Option<String>>>,
    arg: Option<pgrx::AnyElement>,
) -> i64 {
    // SAFETY: the datums are built here and live until the function returns; the relation,
    // slots, executor state and SPI connection are released on the way out, or by the
    // (sub)transaction's abort when an error ends the function.
    unsafe {
        let params: [(pg_sys::Oid, pg_sys::Datum, bool); 5] = [
            (pg_sys::INT8OID, pipeline.into_datum().expect("int8"), false),
            (pg_sys::INT8OID, promotion.into_datum().expect("int8"), false),
            param(pg_sys::JSONBOID, checks.into_datum()),
            param(pg_sys::TEXTARRAYOID, columns.into_datum()),
            match arg {
                Some(a) => (a.oid(), a.datum(), false),
                None => (pg_sys::INT8OID, pg_sys::Datum::from(0usize), true),
            },
        ];
        if pg_sys::SPI_connect() < 0 {
            EaiError::Internal("SPI_connect failed".into()).report();
        }
        let written = match prepare(select_sql, &params).and_then(|plan| Sink::open(target, plan).map(|sink| (plan, sink))) {
            Some((plan, sink)) => run_streamed(plan, sink, &params),
            None => run_insert(insert_sql, &params),
        };
        pg_sys::SPI_finish();
        written as i64
    }
}

fn param(oid: pg_sys::Oid, datum: Option<pg_sys::Datum>) -> (pg_sys::Oid, pg_sys::Datum, bool) {
    (oid, datum.unwrap_or(pg_sys::Datum::from(0usize)), datum.is_none())
}

/// The prepared `SELECT`, or None when it does not prepare (the `INSERT` path then reports why).
unsafe fn prepare(sql: &str, params: &[(pg_sys::Oid, pg_sys::Datum, bool); 5]) -> Option<pg_sys::SPIPlanPtr> {
    let sql = CString::new(sql).ok()?;
    let mut types: Vec<pg_sys::Oid> = params.iter().map(|p| p.0).collect();
    let plan = pg_sys::SPI_prepare(sql.as_ptr(), types.len() as i32, types.as_mut_ptr());
    (!plan.is_null()).then_some(plan)
}

unsafe fn param_list(params: &[(pg_sys::Oid, pg_sys::Datum, bool); 5]) -> pg_sys::ParamListInfo {
    let list = pg_sys::makeParamList(params.len() as i32);
    for (i, (oid, datum, isnull)) in params.iter().enumerate() {
        let p = (*list).params.as_mut_ptr().add(i);
        (*p).value = *datum;
        (*p).isnull = *isnull;
        (*p).pflags = pg_sys::PARAM_FLAG_CONST as u16;
        (*p).ptype = *oid;
    }
    list
}

/// The plain `INSERT … SELECT`: every trigger, rule, policy, default and privilege check applies.
unsafe fn run_insert(sql: &str, params: &[(pg_sys::Oid, pg_sys::Datum, bool); 5]) -> u64 {
    let sql = CString::new(sql).unwrap_or_else(|_| EaiError::Internal("a promotion statement contains a NUL byte".into()).report());
    let mut types: Vec<pg_sys::Oid> = params.iter().map(|p| p.0).collect();
    let mut values: Vec<pg_sys::Datum> = params.iter().map(|p| p.1).collect();
    let nulls: Vec<std::ffi::c_char> = params.iter().map(|p| if p.2 { b'n' as _ } else { b' ' as _ }).collect();
    let rc = pg_sys::SPI_execute_with_args(sql.as_ptr(), types.len() as i32, types.as_mut_ptr(), values.as_mut_ptr(), nulls.as_ptr(), false, 0);
    if rc < 0 {
        EaiError::Internal(format!("the promotion statement failed (SPI code {rc})")).report();
    }
    pg_sys::SPI_processed
}

unsafe fn run_streamed(plan: pg_sys::SPIPlanPtr, sink: Box<Sink>, params: &[(pg_sys::Oid, pg_sys::Datum, bool); 5]) -> u64 {
    let mut receiver = Receiver {
        base: pg_sys::DestReceiver {
            receiveSlot: Some(receive_slot),
            rStartup: Some(startup),
            rShutdown: Some(noop),
            rDestroy: Some(noop),
            mydest: pg_sys::CommandDest::DestNone,
        },
        sink: Box::into_raw(sink),
    };
    let options = pg_sys::SPIExecuteOptions {
        params: param_list(params),
        read_only: false,
        allow_nonatomic: false,
        must_return_tuples: false,
        tcount: 0,
        dest: &mut receiver.base,
        owner: std::ptr::null_mut(),
    };
    let rc = pg_sys::SPI_execute_plan_extended(plan, &options);
    if rc < 0 {
        EaiError::Internal(format!("the promotion statement failed (SPI code {rc})")).report();
    }
    let mut sink = Box::from_raw(receiver.sink);
    sink.flush();
    let written = sink.close();
    debug1!("eai: promotion streamed {written} rows into silver");
    written
}

/// A DestReceiver whose rows go to a [`Sink`] (`base` first: PostgreSQL sees a DestReceiver).
#[repr(C)]
struct Receiver {
    base: pg_sys::DestReceiver,
    sink: *mut Sink,
}

/// What COPY FROM keeps for a table it writes to.
struct Sink {
    rel: pg_sys::Relation,
    estate: *mut pg_sys::EState,
    rri: *mut pg_sys::ResultRelInfo,
    slots: Vec<*mut pg_sys::TupleTableSlot>,
    /// Where the buffered rows' tuples live: emptied once per flush (not a free per row).
    batch_cxt: pg_sys::MemoryContext,
    /// For each attribute of the table, the `SELECT` column that fills it (None: NULL).
    from: Vec<Option<usize>>,
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
    constraints: bool,
    cid: pg_sys::CommandId,
    buffered: usize,
    bytes: usize,
    written: u64,
}

impl Sink {
    /// Opens `target` for a streamed insert of the rows of `plan`, or None when the table needs
    /// the `INSERT` statement: not a plain heap table, insert triggers, row-level security,
    /// stored generated columns, a column the `SELECT` leaves out that has a default, a type or
    /// typmod that differs, or a role without INSERT privilege on it.
    unsafe fn open(target: pg_sys::Oid, plan: pg_sys::SPIPlanPtr) -> Option<Box<Sink>> {
        if pg_sys::pg_class_aclcheck(target, pg_sys::GetUserId(), pg_sys::ACL_INSERT as pg_sys::AclMode) != pg_sys::AclResult::ACLCHECK_OK {
            debug1!("eai: promotion through INSERT: no INSERT privilege on the whole table");
            return None;
        }
        let result = result_desc(plan)?;
        let rel = pg_sys::table_open(target, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
        match Self::columns(rel, result) {
            Ok(from) => Some(Box::new(Self::new(rel, from))),
            Err(why) => {
                debug1!("eai: promotion through INSERT: {why}");
                pg_sys::table_close(rel, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
                None
            }
        }
    }

    /// Which `SELECT` column fills each attribute, when the table takes a streamed insert.
    unsafe fn columns(rel: pg_sys::Relation, result: pg_sys::TupleDesc) -> Result<Vec<Option<usize>>, String> {
        let class = &*(*rel).rd_rel;
        if class.relkind as u8 != pg_sys::RELKIND_RELATION || class.relam != pg_sys::HEAP_TABLE_AM_OID {
            return Err("not a plain heap table".into());
        }
        if class.relrowsecurity {
            return Err("row-level security".into());
        }
        let trig = (*rel).trigdesc;
        if !trig.is_null() {
            let t = &*trig;
            if t.trig_insert_before_row
                || t.trig_insert_after_row
                || t.trig_insert_instead_row
                || t.trig_insert_before_statement
                || t.trig_insert_after_statement
                || t.trig_insert_new_table
            {
                return Err("insert triggers".into());
            }
        }
        if !(*rel).rd_rules.is_null() {
            return Err("rules".into());
        }
        let desc = (*rel).rd_att;
        if !(*desc).constr.is_null() && (*(*desc).constr).has_generated_stored {
            return Err("generated columns".into());
        }
        let names: Vec<(&CStr, &pg_sys::FormData_pg_attribute)> = attributes(result).map(|a| (CStr::from_ptr(a.attname.data.as_ptr()), a)).collect();
        let mut taken = 0;
        let mut from = Vec::new();
        for att in attributes(desc) {
            if att.attisdropped {
                from.push(None);
                continue;
            }
            let name = CStr::from_ptr(att.attname.data.as_ptr());
            match names.iter().position(|(n, _)| *n == name) {
                Some(j) => {
                    let r = names[j].1;
                    if r.atttypid != att.atttypid || (att.atttypmod >= 0 && r.atttypmod != att.atttypmod) {
                        return Err(format!("column {name:?} is typed differently"));
                    }
                    taken += 1;
                    from.push(Some(j));
                }
                // A column the SELECT does not fill: NULL, unless INSERT would give it a value.
                None if att.atthasdef || att.attidentity != 0 || att.attgenerated != 0 => {
                    return Err(format!("column {name:?} has a default"));
                }
                None => from.push(None),
            }
        }
        if taken != names.len() {
            return Err("the SELECT fills columns the table does not have".into());
        }
        Ok(from)
    }

    unsafe fn new(rel: pg_sys::Relation, from: Vec<Option<usize>>) -> Sink {
        let estate = pg_sys::CreateExecutorState();
        let old = pg_sys::CurrentMemoryContext;
        pg_sys::CurrentMemoryContext = (*estate).es_query_cxt;
        let rri = pg_sys::palloc0(std::mem::size_of::<pg_sys::ResultRelInfo>()) as *mut pg_sys::ResultRelInfo;
        // Range-table index 0: error messages then show a failing row's values only to a role
        // that may read the whole table.
        pg_sys::InitResultRelInfo(rri, rel, 0, std::ptr::null_mut(), 0);
        pg_sys::ExecOpenIndices(rri, false);
        // Heap-tuple slots: each takes the tuple formed for it as it is (no copy).
        let slots = (0..BUFFERED_ROWS).map(|_| pg_sys::MakeSingleTupleTableSlot((*rel).rd_att, &pg_sys::TTSOpsHeapTuple)).collect();
        let batch_cxt = pg_sys::AllocSetContextCreateInternal(
            (*estate).es_query_cxt,
            c"eai streamed insert batch".as_ptr(),
            pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
        );
        pg_sys::CurrentMemoryContext = old;
        let desc = (*rel).rd_att;
        let constr = (*desc).constr;
        let natts = (*desc).natts as usize;
        Sink {
            rel,
            estate,
            rri,
            slots,
            batch_cxt,
            from,
            values: vec![pg_sys::Datum::from(0usize); natts],
            nulls: vec![true; natts],
            constraints: !constr.is_null() && ((*constr).has_not_null || (*constr).num_check > 0),
            cid: pg_sys::InvalidCommandId,
            buffered: 0,
            bytes: 0,
            written: 0,
        }
    }

    /// One row of the `SELECT`: formed as a tuple of the table, checked, buffered.
    unsafe fn push(&mut self, slot: *mut pg_sys::TupleTableSlot) {
        // The SELECT's projection fills every column (a virtual slot): deform only otherwise.
        if i32::from((*slot).tts_nvalid) < (*(*slot).tts_tupleDescriptor).natts {
            pg_sys::slot_getallattrs(slot);
        }
        let (values, nulls) = ((*slot).tts_values, (*slot).tts_isnull);
        for (i, from) in self.from.iter().enumerate() {
            match from {
                Some(j) => {
                    self.values[i] = *values.add(*j);
                    self.nulls[i] = *nulls.add(*j);
                }
                None => self.nulls[i] = true,
            }
        }
        let old = pg_sys::CurrentMemoryContext;
        pg_sys::CurrentMemoryContext = self.batch_cxt;
        let tuple = pg_sys::heap_form_tuple((*self.rel).rd_att, self.values.as_mut_ptr(), self.nulls.as_mut_ptr());
        pg_sys::CurrentMemoryContext = old;
        let buffered = self.slots[self.buffered];
        // The slot takes the tuple as it is (written without a copy); the batch context frees it
        // after the flush. Storing replaces what the slot held from the last batch.
        pg_sys::ExecStoreHeapTuple(tuple, buffered, false);
        if self.constraints {
            pg_sys::ExecConstraints(self.rri, buffered, self.estate);
        }
        self.buffered += 1;
        self.bytes += (*tuple).t_len as usize;
        if self.buffered == BUFFERED_ROWS || self.bytes >= BUFFERED_BYTES {
            self.flush();
        }
    }

    /// Writes the buffered rows a page at a time, then their index entries.
    unsafe fn flush(&mut self) {
        if self.buffered == 0 {
            return;
        }
        if self.cid == pg_sys::InvalidCommandId {
            self.cid = pg_sys::GetCurrentCommandId(true);
        }
        pg_sys::heap_multi_insert(self.rel, self.slots.as_mut_ptr(), self.buffered as i32, self.cid, 0, std::ptr::null_mut());
        if (*self.rri).ri_NumIndices > 0 {
            for &slot in &self.slots[..self.buffered] {
                // No arbiter or deferrable indexes asked: the recheck list is always empty.
                let recheck = pg_sys::ExecInsertIndexTuples(self.rri, slot, self.estate, false, false, std::ptr::null_mut(), std::ptr::null_mut());
                if !recheck.is_null() {
                    pg_sys::list_free(recheck);
                }
            }
            // What the index entries' expressions and predicates left, once per batch.
            let econtext = (*self.estate).es_per_tuple_exprcontext;
            if !econtext.is_null() {
                pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
            }
        }
        // Emptied as ExecClearTuple does (its clear callback, which cannot fail: the slots do not
        // own their tuples), before the batch context frees those.
        for &slot in &self.slots[..self.buffered] {
            if let Some(clear) = (*(*slot).tts_ops).clear {
                clear(slot);
            }
            (*slot).tts_flags |= pg_sys::TTS_FLAG_EMPTY as u16;
        }
        pg_sys::MemoryContextReset(self.batch_cxt);
        self.written += self.buffered as u64;
        self.buffered = 0;
        self.bytes = 0;
    }

    /// Releases what `open` took (the lock stays until the transaction ends, as INSERT's does).
    unsafe fn close(self: Box<Self>) -> u64 {
        for &slot in &self.slots {
            pg_sys::ExecDropSingleTupleTableSlot(slot);
        }
        pg_sys::ExecCloseIndices(self.rri);
        pg_sys::table_close(self.rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        pg_sys::FreeExecutorState(self.estate);
        self.written
    }
}

/// The attributes of a tuple descriptor.
unsafe fn attributes<'a>(desc: pg_sys::TupleDesc) -> impl Iterator<Item = &'a pg_sys::FormData_pg_attribute> {
    let n = (*desc).natts as usize;
    let first = (*desc).attrs.as_ptr();
    (0..n).map(move |i| &*first.add(i))
}

/// The result columns of a prepared one-statement plan.
unsafe fn result_desc(plan: pg_sys::SPIPlanPtr) -> Option<pg_sys::TupleDesc> {
    let sources = pg_sys::SPI_plan_get_plan_sources(plan);
    if sources.is_null() || (*sources).length != 1 {
        return None;
    }
    let source = (*(*sources).elements).ptr_value as *mut pg_sys::CachedPlanSource;
    let desc = (*source).resultDesc;
    (!desc.is_null()).then_some(desc)
}

#[pg_guard]
unsafe extern "C-unwind" fn receive_slot(slot: *mut pg_sys::TupleTableSlot, this: *mut pg_sys::DestReceiver) -> bool {
    (*(*(this as *mut Receiver)).sink).push(slot);
    true
}

#[pg_guard]
unsafe extern "C-unwind" fn startup(this: *mut pg_sys::DestReceiver, _operation: i32, _desc: pg_sys::TupleDesc) {
    // The command the SELECT runs as (SPI advanced the counter before it): the rows written are
    // invisible to the SELECT itself, as an INSERT's are.
    (*(*(this as *mut Receiver)).sink).cid = pg_sys::GetCurrentCommandId(true);
}

#[pg_guard]
unsafe extern "C-unwind" fn noop(_this: *mut pg_sys::DestReceiver) {}
