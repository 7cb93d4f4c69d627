//! Helpers for eai's integration tests: they talk to the real local cluster that
//! `scripts/cluster.sh start` runs (settings from `.eai/env`), each test in a database of its own,
//! and write the files the server reads under the cluster's runtime directory (`.eai/run`), which
//! the `postgres` OS user can read wherever the checkout is.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use postgres::{Client, NoTls};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// (host or socket dir, port) from the environment, else from `.eai/env`.
fn server() -> (String, u16) {
    let mut host = std::env::var("PGHOST").ok();
    let mut port = std::env::var("PGPORT").ok();
    if host.is_none() || port.is_none() {
        let env = std::fs::read_to_string(repo().join(".eai/env")).expect(".eai/env is missing: run scripts/cluster.sh start (scripts/test.sh does)");
        for line in env.lines() {
            let value = |l: &str| l.split_once('=').map(|(_, v)| v.trim_matches('\'').to_string());
            if line.starts_with("export PGHOST=") {
                host = host.or_else(|| value(line));
            } else if line.starts_with("export PGPORT=") {
                port = port.or_else(|| value(line));
            }
        }
    }
    (host.expect("PGHOST"), port.expect("PGPORT").parse().expect("PGPORT is a number"))
}

pub fn config(dbname: &str) -> postgres::Config {
    let (host, port) = server();
    let mut c = postgres::Config::new();
    c.host_path(&host).port(port).user("postgres").dbname(dbname);
    c
}

pub fn connect(dbname: &str) -> Client {
    config(dbname).connect(NoTls).unwrap_or_else(|e| panic!("connect to {dbname}: {e}"))
}

/// A connection that records every NOTICE/WARNING message it receives.
pub fn connect_recording(dbname: &str) -> (Client, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let client = config(dbname).notice_callback(move |n| sink.lock().unwrap().push(n.message().to_string())).connect(NoTls).expect("connect");
    (client, seen)
}

/// The socket directory and port, for connection strings that point back at this cluster.
pub fn server_address() -> (String, u16) {
    server()
}

/// A fresh database `eai_it_<name>` (dropped first if left over) with `CREATE EXTENSION eai CASCADE`.
pub fn fresh_db(name: &str) -> (String, Client) {
    let db = format!("eai_it_{name}");
    let mut admin = connect("postgres");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE \"{db}\"")).unwrap();
    let mut client = connect(&db);
    client.batch_execute("SET client_min_messages = warning; CREATE EXTENSION eai CASCADE; RESET client_min_messages").unwrap();
    (db, client)
}

/// An empty scratch folder under the runtime directory, readable by the server.
pub fn scratch_dir(name: &str) -> PathBuf {
    let run = std::fs::canonicalize(repo().join(".eai/run")).expect(".eai/run: run scripts/cluster.sh start");
    let dir = run.join("it").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    set_readable(&run.join("it"));
    set_readable(&dir);
    dir
}

fn set_readable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

pub fn write(dir: &Path, file: &str, content: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(file);
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    p
}

/// A file of raw bytes (UTF-16, binary, …), readable by the server.
pub fn write_bytes(dir: &Path, file: impl AsRef<std::ffi::OsStr>, content: &[u8]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(file.as_ref());
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    p
}

/// A bronze table's row count, the name quoted by the server.
pub fn bronze_count(client: &mut Client, bronze_table: &str) -> i64 {
    let sql: String = client.query_one("SELECT format('SELECT count(*) FROM bronze.%I', $1::text)", &[&bronze_table]).unwrap().get(0);
    client.query_one(&sql, &[]).unwrap().get(0)
}

/// One batch row as (status, rows_read, rows_written, error_sqlstate, error_class).
pub type Batch = (String, i64, i64, Option<String>, Option<String>);

pub fn ingest(client: &mut Client, source: &str) -> Vec<(String, Batch)> {
    client
        .query("SELECT table_name, status, rows_read, rows_written, error_sqlstate, error_class FROM eai.ingest($1) ORDER BY table_name", &[&source])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))))
        .collect()
}
