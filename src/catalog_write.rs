//! Who writes the catalog. A caller's statement (`eai.profile`, `eai.map_schema`,
//! `eai.quality_score`, an LLM call) works with the caller's rights, so it reads only what the
//! caller may read; the rows it leaves in the catalog are then written with the rights of the
//! extension's owner, naming the caller. The catalog tables grant no INSERT or UPDATE to the
//! `eai_*` roles (sql/roles.sql), so no role can write a row in another's name, backdate one, or
//! claim a decision eai did not make (docs/security.md).
//!
//! Only eai's own statements, fixed text with values as arguments, run inside [`as_owner`]; no
//! code a caller can attach (a trigger, a default, a function in a query) is reachable from them,
//! and PostgreSQL's "restricted operation" mode is on while they run.

use std::ffi::CStr;

use pgrx::prelude::*;

/// The role a statement runs as (`current_user`): the one its catalog rows name.
pub fn current_role() -> String {
    role_name(unsafe { pg_sys::GetUserId() })
}

/// The role of the session (after `SET ROLE`), unchanged inside SECURITY DEFINER functions: the
/// role that SQL writers record (`eai._session_role()`).
pub fn session_role() -> String {
    role_name(unsafe { pg_sys::GetOuterUserId() })
}

#[pg_extern(stable, parallel_safe)]
fn _session_role() -> String {
    session_role()
}

fn role_name(oid: pg_sys::Oid) -> String {
    // SAFETY: noerr = false raises a PostgreSQL error for an unknown role instead of returning NULL.
    unsafe { CStr::from_ptr(pg_sys::GetUserNameFromId(oid, false)) }.to_string_lossy().into_owned()
}

/// Runs `write` (catalog writes) as the owner of the extension, passing it the caller's role to
/// record, in PostgreSQL's "restricted operation" mode; the caller's identity comes back when
/// `write` returns or unwinds (and PostgreSQL restores it on abort in any case).
pub fn as_owner<R>(write: impl FnOnce(&str) -> R) -> R {
    let caller = current_role();
    let owner = Spi::get_one::<pg_sys::Oid>("SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'eai'")
        .ok()
        .flatten()
        .unwrap_or_else(|| unsafe { pg_sys::GetUserId() });
    switched(owner, pg_sys::SECURITY_RESTRICTED_OPERATION as i32, || write(&caller))
}

/// Runs `work` as `role` (an eai job taking again work that `role` started: an ingest the heal
/// job retries), never with more rights than that role has.
pub fn as_role<R>(role: pg_sys::Oid, work: impl FnOnce() -> R) -> R {
    switched(role, 0, work)
}

/// Runs `f` as `user` with the security context's `extra` flags added (and
/// SECURITY_LOCAL_USERID_CHANGE, so that no SET ROLE inside undoes it); restores both after.
fn switched<R>(user: pg_sys::Oid, extra: i32, f: impl FnOnce() -> R) -> R {
    let mut saved_user = pg_sys::InvalidOid;
    let mut saved_context: i32 = 0;
    // SAFETY: plain reads and writes of the backend's current user id and security context.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        pg_sys::SetUserIdAndSecContext(user, saved_context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32 | extra);
    }
    let _restore = Restore { user: saved_user, context: saved_context };
    f()
}

struct Restore {
    user: pg_sys::Oid,
    context: i32,
}

impl Drop for Restore {
    fn drop(&mut self) {
        // SAFETY: restores what as_owner saved.
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) }
    }
}
