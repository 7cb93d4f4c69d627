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

/// A second, real PostgreSQL cluster on this machine, as a postgres_fdw source that tests stop and
/// start (issue 14: real outages). Created once under the runtime directory (`.eai/run/source`),
/// run as the `postgres` OS user, listening only on its own socket, on the main port + 100.
/// Tests that stop it hold [`SOURCE_CLUSTER`].
pub struct SourceCluster {
    pub dir: PathBuf,
    pub port: u16,
}

/// One test at a time stops and starts the source cluster.
pub static SOURCE_CLUSTER: Mutex<()> = Mutex::new(());

fn as_postgres(program: &Path, args: &[&str]) -> std::process::Output {
    let root = std::process::Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    let mut cmd = if root {
        let mut c = std::process::Command::new("sudo");
        c.args(["-u", "postgres", "-H", "--"]).arg(program);
        c
    } else {
        std::process::Command::new(program)
    };
    cmd.args(args).current_dir("/").output().unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

impl SourceCluster {
    /// Creates it the first time, then starts it (if it is not running).
    pub fn start() -> SourceCluster {
        let run = std::fs::canonicalize(repo().join(".eai/run")).expect(".eai/run: run scripts/cluster.sh start");
        let dir = run.join("source");
        let port = server().1 + 100;
        let bin = Path::new("/usr/lib/postgresql/15/bin");
        if !dir.join("PG_VERSION").exists() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let _ = std::process::Command::new("chown").args(["postgres:postgres", dir.to_str().unwrap()]).status();
            let out =
                as_postgres(&bin.join("initdb"), &["-D", dir.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]);
            assert!(out.status.success(), "initdb of the source cluster: {}", String::from_utf8_lossy(&out.stderr));
        }
        let cluster = SourceCluster { dir, port };
        cluster.up();
        cluster
    }

    fn ctl(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["-D", self.dir.to_str().unwrap()];
        all.extend_from_slice(args);
        as_postgres(&Path::new("/usr/lib/postgresql/15/bin").join("pg_ctl"), &all)
    }

    /// Starts the cluster and waits until it accepts connections.
    pub fn up(&self) {
        if self.ctl(&["status"]).status.success() {
            return;
        }
        let opts = format!("-p {} -k {} -c listen_addresses=''", self.port, self.socket_dir());
        let log = self.dir.join("server.log");
        let out = self.ctl(&["-l", log.to_str().unwrap(), "-o", &opts, "-w", "-t", "60", "start"]);
        assert!(out.status.success(), "start the source cluster: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stops it at once (fast shutdown: its sessions are terminated).
    pub fn down(&self) {
        let out = self.ctl(&["-m", "fast", "-w", "stop"]);
        assert!(out.status.success(), "stop the source cluster: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Its socket lives in its own data directory (owned by the postgres OS user).
    pub fn socket_dir(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }

    pub fn connect(&self, dbname: &str) -> Client {
        let mut c = postgres::Config::new();
        c.host_path(self.socket_dir()).port(self.port).user("postgres").dbname(dbname);
        c.connect(NoTls).unwrap_or_else(|e| panic!("connect to the source cluster's {dbname}: {e}"))
    }

    /// A connection string for eai.add_source.
    pub fn uri(&self, dbname: &str) -> String {
        self.uri_as("postgres", dbname)
    }

    /// A connection string for eai.add_source as another role (`user` or `user:password`).
    pub fn uri_as(&self, user: &str, dbname: &str) -> String {
        format!("postgresql://{user}@/{dbname}?host={}&port={}", self.socket_dir(), self.port)
    }

    /// A fresh database on the source cluster (dropped first if left over), set up with `setup`.
    pub fn fresh_database(&self, dbname: &str, setup: &str) -> Client {
        let mut admin = self.connect("postgres");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{dbname}\" WITH (FORCE)")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE \"{dbname}\"")).unwrap();
        let mut c = self.connect(dbname);
        c.batch_execute(setup).unwrap_or_else(|e| panic!("set up {dbname}: {e}"));
        c
    }

    /// Drops a database of the source cluster (its sessions terminated).
    pub fn drop_database(&self, dbname: &str) {
        self.connect("postgres").batch_execute(&format!("DROP DATABASE IF EXISTS \"{dbname}\" WITH (FORCE)")).unwrap();
    }

    /// Makes `role` log in with a password (scram-sha-256) on the source cluster's socket; every
    /// other role keeps trust. The line goes first in pg_hba.conf, once, and the server reloads.
    pub fn require_password_for(&self, role: &str) {
        let hba = self.dir.join("pg_hba.conf");
        let line = format!("local all {role} scram-sha-256");
        let text = std::fs::read_to_string(&hba).expect("read the source cluster's pg_hba.conf");
        if !text.lines().any(|l| l == line) {
            std::fs::write(&hba, format!("{line}\n{text}")).expect("write the source cluster's pg_hba.conf");
        }
        self.connect("postgres").batch_execute("SELECT pg_reload_conf()").unwrap();
    }
}

/// Waits until `done` holds, polling every 200 ms; panics after `secs` seconds.
pub fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < std::time::Duration::from_secs(secs), "gave up waiting {secs} s for {what}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// (rows, distinct keys) of a table, the name quoted by the server.
pub fn rows(c: &mut Client, table: &str, key: &str) -> (i64, i64) {
    let sql: String =
        c.query_one("SELECT format('SELECT count(*), count(DISTINCT %I) FROM %s', $2::text, $1::text)", &[&table, &key]).unwrap().get(0);
    let r = c.query_one(&sql, &[]).unwrap();
    (r.get(0), r.get(1))
}

/// The pid of a backend of this cluster waiting for a lock on `relation` (by `backend_type`, or
/// any), if one is.
pub fn waiting_on(c: &mut Client, relation: &str, backend_type: Option<&str>) -> Option<i32> {
    c.query_opt(
        "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'relation' AND l.relation = $1::text::regclass AND NOT l.granted
            AND ($2::text IS NULL OR a.backend_type = $2) LIMIT 1",
        &[&relation, &backend_type],
    )
    .unwrap()
    .map(|r| r.get(0))
}

/// Restarts the main cluster (fast: its sessions are terminated), as `scripts/cluster.sh restart`.
pub fn restart_main_cluster() {
    let out = std::process::Command::new(repo().join("scripts/cluster.sh")).arg("restart").output().expect("scripts/cluster.sh restart");
    assert!(out.status.success(), "restart the cluster: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
