"""The chaos benchmark of issue 14 (bench/chaos.sh runs it): a pipeline fed by a CSV file and a
postgres_fdw source on a second real cluster, while a seeded series of faults is injected for
real: the source cluster stopped and started, its backend terminated in the middle of a read, a
statement timeout while the source is locked, a lock held on silver, a deadlock, the source at its
connection limit, a password changed and a privilege revoked at the source, a remote column
widened and narrowed, CSV columns renamed, added and removed, ragged CSV rows, an LLM endpoint
answering 429 with Retry-After, 503, hanging, or with malformed JSON.

Two runs of the same series, side by side:
  eai       self-healing as shipped (eai.heal() ticks, as the worker or pg_cron would run it);
  baseline  what a user has without it: a scheduler re-running the ingest and the promotion of
            every source blindly at each tick, with eai's own healing switched off (no retries,
            no breakers, schema changes never followed, one LLM attempt).
A fault is healed automatically when its work recovers within the window with nobody acting; then
the bench plays the person (the documented fix) and measures the recovery. At the end it counts
rows lost and doubled in silver and quarantine against every record the sources sent.

Waits are shortened for the bench (eai.retry_initial_interval = 200 ms, long interval 1 s,
maximum 2 s, breaker open for 2 s); the defaults are in docs/healing.md.
"""

import argparse
import http.server
import json
import os
import random
import socketserver
import statistics
import subprocess
import threading
import time

import psycopg2

RUN = os.environ["EAI_RUN"]
PGHOST = os.environ["PGHOST"]
PGPORT = int(os.environ["PGPORT"])
SRC_DIR = os.path.join(RUN, "source")
SRC_PORT = PGPORT + 100
BIN = "/usr/lib/postgresql/15/bin"
WINDOW = 12.0  # seconds a fault may take to heal by itself
TICK = 0.25

# Each rename takes a name not used before (a name that comes back is not a rename eai
# recognises yet: docs/healing.md).
RENAMES = {
    "email": ["email_address", "e_mail", "contact_email", "mail_address", "email_addr", "emailaddress", "electronic_mail",
              "email_id", "mail"],
    "city": ["town", "city_name", "home_city", "municipality", "city_or_town", "locality", "city_town", "place", "town_name"],
}


def as_postgres(*cmd):
    root = os.geteuid() == 0
    full = (["sudo", "-u", "postgres", "-H", "--"] if root else []) + list(cmd)
    return subprocess.run(full, cwd="/", capture_output=True, text=True)


class SourceCluster:
    def start(self):
        if not os.path.exists(os.path.join(SRC_DIR, "PG_VERSION")):
            os.makedirs(SRC_DIR, exist_ok=True)
            subprocess.run(["chown", "postgres:postgres", SRC_DIR])
            r = as_postgres(f"{BIN}/initdb", "-D", SRC_DIR, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
            assert r.returncode == 0, r.stderr
        self.up()

    def up(self):
        if as_postgres(f"{BIN}/pg_ctl", "-D", SRC_DIR, "status").returncode == 0:
            return
        r = as_postgres(f"{BIN}/pg_ctl", "-D", SRC_DIR, "-l", os.path.join(SRC_DIR, "server.log"),
                        "-o", f"-p {SRC_PORT} -k {SRC_DIR} -c listen_addresses=''", "-w", "-t", "60", "start")
        assert r.returncode == 0, r.stderr

    def down(self):
        as_postgres(f"{BIN}/pg_ctl", "-D", SRC_DIR, "-m", "fast", "-w", "stop")

    def require_password_for(self, role):
        """`role` logs in with a password (scram-sha-256) on the socket; every other role keeps trust."""
        hba = os.path.join(SRC_DIR, "pg_hba.conf")
        line = f"local all {role} scram-sha-256"
        with open(hba) as f:
            text = f.read()
        if line not in text.splitlines():
            with open(hba, "w") as f:
                f.write(line + "\n" + text)
        c = self.connect("postgres")
        c.cursor().execute("SELECT pg_reload_conf()")
        c.close()

    def connect(self, db):
        c = psycopg2.connect(host=SRC_DIR, port=SRC_PORT, user="postgres", dbname=db)
        c.autocommit = True
        return c


class Llm:
    """The one stand-in allowed: an HTTP endpoint speaking the OpenAI protocol on 127.0.0.1."""

    def __init__(self):
        self.script = []  # replies to give next: "429", "503", "hang", "garbage"; then good ones
        llm = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                kind = llm.script.pop(0) if llm.script else "ok"
                if kind == "hang":
                    time.sleep(2)
                if kind in ("429", "503"):
                    self.send_response(int(kind))
                    if kind == "429":
                        self.send_header("Retry-After", "1")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return
                content = "I think country_code" if kind == "garbage" else json.dumps(
                    {"target": "country_code", "confidence": 0.93, "reason": "ISO country codes"})
                body = json.dumps({"choices": [{"message": {"content": content}}],
                                   "usage": {"prompt_tokens": 10, "completion_tokens": 5}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except BrokenPipeError:
                    pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Bench:
    def __init__(self, mode, seed, faults, source, llm, only=None):
        self.mode, self.source, self.llm, self.only = mode, source, llm, only
        self.rng = random.Random(seed)
        self.n_faults = faults
        self.db = f"eai_bench_chaos_{mode}"
        self.dir = os.path.join(RUN, "bench-chaos", mode)
        self.next_order = 1
        self.next_contact = 1
        self.contacts = []  # every contact the file ever held: (id, email, city)
        self.columns = {"email": "email", "city": "city"}  # silver column -> current CSV header name
        self.extra_columns = []
        self.ragged = False
        self.results = []
        self.renames = {"faults": 0, "followed": 0, "wrong": 0}

    # -- plumbing
    def sql(self, q, args=None, fetch=True):
        cur = self.c.cursor()
        cur.execute(q, args)
        return cur.fetchall() if fetch and cur.description else None

    def one(self, q, args=None):
        rows = self.sql(q, args)
        return rows[0][0] if rows else None

    def settings(self):
        common = ("SET client_min_messages = error; SET eai.retry_initial_interval = '200ms'; SET eai.retry_long_initial_interval = '1s';"
                  " SET eai.retry_max_interval = '2s'; SET eai.breaker_open_for = '2s'; SET eai.llm_timeout_ms = 800;"
                  f" SET eai.llm_url = 'http://127.0.0.1:{self.llm.port}/v1'; SET eai.llm_retry_budget_ms = 5000;")
        if self.mode == "baseline":
            common += (" SET eai.retry_max_attempts = 1; SET eai.breaker_consecutive_failures = 0; SET eai.breaker_window = 0;"
                       " SET eai.llm_max_attempts = 1;")
        self.sql(common, fetch=False)

    def setup(self):
        admin = psycopg2.connect(host=PGHOST, port=PGPORT, user="postgres", dbname="postgres")
        admin.autocommit = True
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        admin.cursor().execute(f"CREATE DATABASE {self.db}")
        admin.close()
        self.c = psycopg2.connect(host=PGHOST, port=PGPORT, user="postgres", dbname=self.db)
        self.c.autocommit = True
        self.sql("SET client_min_messages = warning; CREATE EXTENSION eai CASCADE", fetch=False)
        self.settings()
        r = self.source.connect("postgres")
        r.cursor().execute(f"DROP DATABASE IF EXISTS chaos_{self.mode} WITH (FORCE)")
        r.cursor().execute(f"CREATE DATABASE chaos_{self.mode}")
        r.cursor().execute("DO $$ BEGIN CREATE ROLE chaos_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        r.cursor().execute("ALTER ROLE chaos_reader PASSWORD 'chaos-0' CONNECTION LIMIT -1")
        r.close()
        self.source.require_password_for("chaos_reader")
        self.passwords = 0
        self._remote = None
        self.remote.cursor().execute("CREATE TABLE orders (id int PRIMARY KEY, qty integer, note text); GRANT SELECT ON orders TO chaos_reader")
        self.add_orders(5)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.add_contacts(5)
        self.sql("SELECT * FROM eai.add_source('pg', %s)",
                 (f"postgresql://chaos_reader:chaos-0@/chaos_{self.mode}?host={SRC_DIR}&port={SRC_PORT}",))
        self.sql("SELECT * FROM eai.add_source('csv', %s)", (os.path.join(self.dir, "contacts.csv"),))
        self.sql("SELECT * FROM eai.ingest('pg')")
        self.sql("SELECT * FROM eai.ingest('csv')")
        self.sql("SELECT * FROM eai.create_pipeline('orders', 'bronze.pg__orders', 'silver.orders', dedup_key => '{id}')")
        self.sql("SELECT * FROM eai.create_pipeline('contacts', 'bronze.csv__contacts', 'silver.contacts', dedup_key => '{id}')")
        if self.mode == "baseline":
            for change in ("new_column", "renamed_column", "removed_column", "widened_type", "narrowed_type"):
                for p in ("orders", "contacts"):
                    self.sql("SELECT * FROM eai.set_drift_contract(%s, %s, 'freeze', 'never')", (p, change))
        self.llm_pairs = 0

    @property
    def remote(self):
        # The source cluster is stopped and started by the faults: reconnect when it went away.
        if self._remote is not None:
            try:
                self._remote.cursor().execute("SELECT 1")
            except psycopg2.Error:
                self._remote = None
        if self._remote is None:
            for _ in range(50):
                try:
                    self._remote = self.source.connect(f"chaos_{self.mode}")
                    break
                except psycopg2.Error:
                    time.sleep(0.2)
        return self._remote

    def add_orders(self, n):
        cur = self.remote.cursor()
        for _ in range(n):
            cur.execute("INSERT INTO orders VALUES (%s, %s, 'o')", (self.next_order, self.next_order % 90 + 1))
            self.next_order += 1

    def write_contacts(self):
        header = ["id", self.columns["email"], self.columns["city"]] + self.extra_columns
        lines = [",".join(header)]
        for (i, e, city) in self.contacts:
            row = [str(i), e, city] + ["x" for _ in self.extra_columns]
            lines.append(",".join(row))
        if self.ragged:
            # Two fields more than the header, whatever columns it has gained.
            lines.append(",".join(["999999"] + ["broken"] * (len(header) + 1)))
        path = os.path.join(self.dir, "contacts.csv")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o644)

    def add_contacts(self, n):
        for _ in range(n):
            i = self.next_contact
            self.contacts.append((i, f"person{i}@example.org", ["Paris", "Lyon", "Nantes", "Lille"][i % 4]))
            self.next_contact += 1
        self.write_contacts()

    def tick(self):
        """What runs on its own between faults."""
        try:
            if self.mode == "eai":
                self.sql("SELECT * FROM eai.heal()")
            else:
                self.sql("SELECT * FROM eai.ingest('pg')")
                self.sql("SELECT * FROM eai.ingest('csv')")
                self.sql("SELECT * FROM eai.promote_queued()")
        except psycopg2.Error:
            pass

    def wait(self, recovered, window):
        t0 = time.monotonic()
        while time.monotonic() - t0 < window:
            if recovered():
                return time.monotonic() - t0
            self.tick()
            time.sleep(TICK)
        return None

    def escalations(self):
        return self.one("SELECT count(*) FROM eai.escalations") or 0

    # -- faults: each returns (class, recovered predicate, the person's fix)
    def has_order(self, i):
        return lambda: self.one("SELECT count(*) FROM silver.orders WHERE id = %s", (i,)) == 1

    def contact_ok(self, i, column):
        return lambda: self.one(f"SELECT count(*) FROM silver.contacts WHERE id = %s AND {column} IS NOT NULL", (i,)) == 1

    def f_source_down(self):
        self.add_orders(1)
        i = self.next_order - 1
        self.source.down()
        self.sql("SELECT * FROM eai.ingest('pg')")
        time.sleep(0.5)
        self.source.up()
        return "transient", self.has_order(i), lambda: (self.sql("SELECT eai.reset_breaker('source', 'pg') FROM eai.breakers WHERE target = 'pg' AND state <> 'closed'"),
                                                        self.sql("SELECT * FROM eai.ingest('pg')"))

    def f_lock_timeout(self):
        self.add_orders(1)
        i = self.next_order - 1
        holder = psycopg2.connect(host=PGHOST, port=PGPORT, user="postgres", dbname=self.db)
        cur = holder.cursor()
        cur.execute("BEGIN; LOCK TABLE silver.orders IN ACCESS EXCLUSIVE MODE")
        self.sql("SET lock_timeout = '300ms'", fetch=False)
        self.sql("SELECT * FROM eai.ingest('pg')")
        self.sql("RESET lock_timeout", fetch=False)
        threading.Timer(0.5, lambda: (holder.rollback(), holder.close())).start()
        return "transient", self.has_order(i), lambda: self.sql("SELECT * FROM eai.ingest('pg')")

    def f_privilege(self):
        self.add_orders(1)
        i = self.next_order - 1
        self.remote.cursor().execute("REVOKE SELECT ON orders FROM chaos_reader")
        self.sql("SELECT * FROM eai.ingest('pg')")
        fix = lambda: (self.remote.cursor().execute("GRANT SELECT ON orders TO chaos_reader"), self.sql("SELECT * FROM eai.ingest('pg')"))
        return "configuration", self.has_order(i), fix

    def f_widen(self):
        t = self.one("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'bronze.pg__orders'::regclass AND attname = 'qty'")
        if t == "bigint":  # widened already: widen the note instead (text stays text): inject a plain outage
            return self.f_source_down()
        self.remote.cursor().execute("ALTER TABLE orders ALTER COLUMN qty TYPE bigint")
        cur = self.remote.cursor()
        cur.execute("INSERT INTO orders VALUES (%s, 5000000000, 'big')", (self.next_order,))
        i = self.next_order
        self.next_order += 1
        self.sql("SELECT * FROM eai.ingest('pg')")
        fix = lambda: (self.sql("SELECT * FROM eai.refresh_source('pg')"),
                       self.sql("SELECT eai._alter_column_type('bronze.pg__orders', 'qty', 'bigint')"),
                       self.sql("SELECT eai._alter_column_type('silver.orders', 'qty', 'bigint')"),
                       self.sql("SELECT * FROM eai.ingest('pg')"))
        return "schema_drift", self.has_order(i), fix

    def f_rename(self):
        silver = self.rng.choice(sorted(RENAMES))
        self.used = getattr(self, "used", set())
        options = [n for n in RENAMES[silver] if n not in self.used]
        if not options:
            silver = "email" if silver == "city" else "city"
            options = [n for n in RENAMES[silver] if n not in self.used]
        new = self.rng.choice(options)
        self.used.add(new)
        old = self.columns[silver]
        self.columns[silver] = new
        self.add_contacts(2)
        i = self.next_contact - 1
        self.sql("SELECT * FROM eai.ingest('csv')")
        self.renames["faults"] += 1
        before = self.one("SELECT coalesce(max(remediation_id), 0) FROM eai.remediations")

        def recovered():
            return self.contact_ok(i, silver)()

        def fix():
            # The person approves a proposed rename, or (no proposal) points silver at the new name.
            pid = self.one("SELECT remediation_id FROM eai.remediations WHERE status = 'proposed' AND action = 'remap_column' "
                           "AND columns ->> 'bronze' = %s ORDER BY remediation_id DESC LIMIT 1", (new,))
            if pid:
                self.sql("SELECT * FROM eai.approve_remediation(%s)", (pid,))
            else:
                pid = self.one("SELECT pipeline_id FROM eai.pipelines WHERE name = 'contacts'")
                self.sql("SELECT eai._set_column_source(%s, %s, %s, %s, 'bench person', 'renamed')", (pid, silver, new, new))
        self._rename = (silver, new, old, before)
        return "schema_drift", recovered, fix

    def after_rename(self):
        silver, new, old, before = self._rename
        rows = self.sql("SELECT status, decided_by, columns ->> 'bronze', columns ->> 'silver' FROM eai.remediations "
                        "WHERE remediation_id > %s AND action = 'remap_column'", (before,)) or []
        for status, decided_by, b, s in rows:
            if b == new and s == silver:
                self.renames["followed"] += 1
            elif status == "applied" and (decided_by or "").startswith("eai"):
                self.renames["wrong"] += 1

    def f_new_column(self):
        # A name never used before (a removed column's name does not come back here).
        self.columns_made = getattr(self, "columns_made", 0) + 1
        name = f"extra_{self.columns_made}"
        self.extra_columns.append(name)
        self.add_contacts(1)
        i = self.next_contact - 1
        self.sql("SELECT * FROM eai.ingest('csv')")
        silver_col = lambda: self.one("SELECT columns ->> 'silver' FROM eai.remediations WHERE columns ->> 'bronze' = %s "
                                      "AND status = 'applied' LIMIT 1", (name,))

        def recovered():
            col = silver_col()
            return bool(col) and self.one(f'SELECT count(*) FROM silver.contacts WHERE id = %s AND "{col}" IS NOT NULL', (i,)) == 1

        def fix():
            pid = self.one("SELECT remediation_id FROM eai.remediations WHERE status = 'proposed' AND columns ->> 'bronze' = %s", (name,))
            if pid:
                self.sql("SELECT * FROM eai.approve_remediation(%s)", (pid,))
            else:
                p = self.one("SELECT pipeline_id FROM eai.pipelines WHERE name = 'contacts'")
                self.sql("SELECT eai._add_silver_column(%s, %s, 'text')", (p, name))
                self.sql("SELECT eai._set_column_source(%s, %s, %s, %s, 'bench person', 'new column')", (p, name, name, name))
                self.sql("SELECT eai._remediation_write(NULL, ROW(NULL, NULL, %s, 'contacts', 'new_column', 'add_column', "
                         "jsonb_build_object('bronze', %s::text, 'silver', %s::text), '{}', NULL, NULL, NULL, 'applied', 'bench person', 'by hand', "
                         "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::eai.remediations)", (p, name, name))
        return "schema_drift", recovered, fix

    def f_ragged(self):
        self.ragged = True
        self.add_contacts(1)
        i = self.next_contact - 1
        self.sql("SELECT * FROM eai.ingest('csv')")

        def fix():
            self.ragged = False
            self.write_contacts()
            self.sql("SELECT * FROM eai.ingest('csv')")
        return "bad_data", self.contact_ok(i, "id"), fix

    def llm_fault(self, script, klass):
        # A pair of tables of its own (no earlier decision lifts it): country -> country_code
        # scores in the middle band, so map_schema asks the LLM.
        self.llm_pairs += 1
        n = self.llm_pairs
        self.sql(f"CREATE TABLE public.src_{n} (cust_id text, country text); INSERT INTO public.src_{n} VALUES ('1', 'US'), ('2', 'DE'), ('3', 'FR');"
                 f" CREATE TABLE public.tgt_{n} (customer_id integer, country_code char(2), region text)", fetch=False)
        self.sql("DELETE FROM eai.llm_cache", fetch=False)
        self.llm.script = list(script)
        start = self.one("SELECT coalesce(max(mapping_id), 0) FROM eai.mappings")
        try:
            self.sql(f"SELECT * FROM eai.map_schema('public.src_{n}', 'public.tgt_{n}')")
        except psycopg2.Error:
            pass
        decided = lambda: self.one("SELECT count(*) FROM eai.mappings WHERE mapping_id > %s AND source_column = 'country' "
                                   "AND status = 'approved'", (start,)) == 1

        def fix():
            mid = self.one("SELECT mapping_id FROM eai.mappings WHERE mapping_id > %s AND source_column = 'country' "
                           "ORDER BY mapping_id DESC LIMIT 1", (start,))
            if mid:
                self.sql("SELECT * FROM eai.approve_mapping(%s)", (mid,))
        return klass, decided, fix

    def f_llm_429(self):
        return self.llm_fault(["429"], "transient")

    def f_llm_503(self):
        return self.llm_fault(["503"], "transient")

    def f_llm_hang(self):
        return self.llm_fault(["hang"], "transient")

    def f_llm_garbage(self):
        return self.llm_fault(["garbage"], "bad_data")

    def remote_admin(self):
        return self.source.connect(f"chaos_{self.mode}")

    def ingest_in_background(self):
        """The pg ingest in a session of its own (it waits for the source): returns the thread."""
        def run():
            c = psycopg2.connect(host=PGHOST, port=PGPORT, user="postgres", dbname=self.db)
            c.autocommit = True
            try:
                c.cursor().execute("SET client_min_messages = error; SELECT * FROM eai.ingest('pg')")
            except psycopg2.Error:
                pass  # postgres_fdw's 08000 after a lost connection: the failure is in the spool
            c.close()
        t = threading.Thread(target=run)
        t.start()
        return t

    def f_terminated(self):
        # The source's backend is terminated while it waits, in the middle of the read, for a lock
        # another session holds at the source (57P01).
        self.add_orders(1)
        i = self.next_order - 1
        holder = self.remote_admin()
        holder.autocommit = False
        holder.cursor().execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        t = self.ingest_in_background()
        admin = self.source.connect("postgres")
        for _ in range(100):
            cur = admin.cursor()
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = %s AND usename = 'chaos_reader' AND wait_event_type = 'Lock'", (f"chaos_{self.mode}",))
            if cur.fetchone()[0] > 0:
                break
            time.sleep(0.05)
        admin.close()
        t.join()
        holder.rollback()
        holder.close()
        return "transient", self.has_order(i), lambda: self.sql("SELECT * FROM eai.ingest('pg')")

    def f_statement_timeout(self):
        # The source is locked by another session; the ingest's statement_timeout cancels it (57014).
        self.add_orders(1)
        i = self.next_order - 1
        holder = self.remote_admin()
        holder.autocommit = False
        holder.cursor().execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        self.sql("SET statement_timeout = '400ms'", fetch=False)
        try:
            self.sql("SELECT * FROM eai.ingest('pg')")
        except psycopg2.Error:
            pass
        self.sql("RESET statement_timeout", fetch=False)
        threading.Timer(0.5, lambda: (holder.rollback(), holder.close())).start()
        return "transient", self.has_order(i), lambda: self.sql("SELECT * FROM eai.ingest('pg')")

    def f_deadlock(self):
        # A queued promotion holds its queue row and waits for silver; another session holds silver
        # and waits for the queue row (40P01; the promotion is the victim).
        self.add_orders(1)
        i = self.next_order - 1
        self.sql("SET eai.sync_promotion_max_rows = 0", fetch=False)
        self.sql("SELECT * FROM eai.ingest('pg')")
        self.sql("RESET eai.sync_promotion_max_rows", fetch=False)
        other = psycopg2.connect(host=PGHOST, port=PGPORT, user="postgres", dbname=self.db)
        other.autocommit = True
        cur = other.cursor()
        cur.execute("SET deadlock_timeout = '1min'")
        cur.execute("BEGIN")
        cur.execute("LOCK TABLE silver.orders IN SHARE MODE")

        def promote():
            c = psycopg2.connect(host=PGHOST, port=PGPORT, user="postgres", dbname=self.db)
            c.autocommit = True
            try:
                c.cursor().execute("SET client_min_messages = error; SET deadlock_timeout = '1s';"
                                   " SET eai.retry_initial_interval = '200ms'; SELECT * FROM eai.promote_queued('orders')")
            except psycopg2.Error:
                pass
            c.close()
        t = threading.Thread(target=promote)
        t.start()
        for _ in range(100):
            if self.one("SELECT count(*) FROM pg_locks WHERE relation = 'silver.orders'::regclass AND NOT granted"):
                break
            time.sleep(0.05)
        cur.execute("SELECT 1 FROM eai.promotion_queue FOR UPDATE")
        cur.execute("ROLLBACK")
        other.close()
        t.join()
        return "transient", self.has_order(i), lambda: self.sql("SELECT * FROM eai.requeue_batch('orders', b) FROM "
                                                                "(SELECT bronze_batch AS b FROM eai.promotion_queue q JOIN eai.pipelines p "
                                                                "USING (pipeline_id) WHERE p.name = 'orders' AND q.state = 'dead_letter') x")

    def f_connection_limit(self):
        # The source refuses the reader's connections (53300, its CONNECTION LIMIT reached), for
        # half a second.
        self.add_orders(1)
        i = self.next_order - 1
        admin = self.source.connect("postgres")
        admin.cursor().execute("ALTER ROLE chaos_reader CONNECTION LIMIT 0")
        self.sql("SELECT postgres_fdw_disconnect_all()")
        self.sql("SELECT * FROM eai.ingest('pg')")
        threading.Timer(0.5, lambda: (admin.cursor().execute("ALTER ROLE chaos_reader CONNECTION LIMIT -1"), admin.close())).start()
        return "transient", self.has_order(i), lambda: self.sql("SELECT * FROM eai.ingest('pg')")

    def f_password(self):
        # The reader's password is changed at the source (28P01); the person fixes the user mapping.
        self.add_orders(1)
        i = self.next_order - 1
        self.passwords += 1
        new = f"chaos-{self.passwords}"
        admin = self.source.connect("postgres")
        admin.cursor().execute(f"ALTER ROLE chaos_reader PASSWORD '{new}'")
        admin.close()
        self.sql("SELECT postgres_fdw_disconnect_all()")
        self.sql("SELECT * FROM eai.ingest('pg')")
        def fix():
            stmt = self.one("SELECT format('ALTER USER MAPPING FOR CURRENT_USER SERVER %%I OPTIONS (SET password %%L)', server, %s::text) "
                            "FROM eai.sources WHERE source = 'pg'", (new,))
            self.sql(stmt, fetch=False)
            self.sql("SELECT * FROM eai.ingest('pg')")
        return "configuration", self.has_order(i), fix

    def f_removed_column(self):
        # A column the export had is gone: silver keeps it (NULL from now on); the records go on.
        if not self.extra_columns:
            self.columns_made = getattr(self, "columns_made", 0) + 1
            self.extra_columns.append(f"extra_{self.columns_made}")
            self.add_contacts(1)
            self.sql("SELECT * FROM eai.ingest('csv')")
        self.extra_columns.pop(0)
        self.add_contacts(1)
        i = self.next_contact - 1
        self.sql("SELECT * FROM eai.ingest('csv')")
        return "schema_drift", self.contact_ok(i, "id"), lambda: self.sql("SELECT * FROM eai.ingest('csv')")

    def f_narrowed(self):
        # A remote column's type narrowed (text -> varchar(n)): silver keeps its type, a person is
        # told; the records go on.
        self.narrowed = getattr(self, "narrowed", 0) + 1
        width = {1: 20, 2: 10}.get(self.narrowed, 8)
        self.remote.cursor().execute(f"ALTER TABLE orders ALTER COLUMN note TYPE varchar({width})")
        self.add_orders(1)
        i = self.next_order - 1
        self.sql("SELECT * FROM eai.refresh_source('pg')")
        self.sql("SELECT * FROM eai.ingest('pg')")
        return "schema_drift", self.has_order(i), lambda: self.sql("SELECT * FROM eai.ingest('pg')")

    def series(self):
        if self.only:
            return self.only
        kinds = (["source_down"] * 6 + ["terminated"] * 3 + ["statement_timeout"] * 3 + ["lock_timeout"] * 4 + ["deadlock"] * 2
                 + ["connection_limit"] * 3 + ["password"] * 2 + ["privilege"] * 2 + ["widen"] * 2 + ["narrowed"] * 2
                 + ["rename"] * 10 + ["new_column"] * 3 + ["removed_column"] * 2 + ["ragged"] * 4
                 + ["llm_429"] * 5 + ["llm_503"] * 4 + ["llm_hang"] * 3 + ["llm_garbage"] * 4)
        while len(kinds) < self.n_faults:
            kinds.append(self.rng.choice(["source_down", "lock_timeout", "rename", "llm_503"]))
        self.rng.shuffle(kinds)
        return kinds[: self.n_faults]

    def run(self):
        self.setup()
        for n, kind in enumerate(self.series(), 1):
            esc_before = self.escalations()
            t0 = time.monotonic()  # from the fault's start (an outage's own length included)
            klass, recovered, fix = getattr(self, "f_" + kind)()
            auto = self.wait(recovered, WINDOW)
            escalated = self.escalations() > esc_before
            person = None
            if auto is not None:
                auto = time.monotonic() - t0
            else:
                fix()
                took = self.wait(recovered, 20.0)
                person = (time.monotonic() - t0) if took is not None else None
            if kind == "rename":
                self.after_rename()
            self.results.append({"kind": kind, "class": klass, "auto": auto is not None, "escalated": escalated,
                                 "recovery": auto if auto is not None else person, "recovered": auto is not None or person is not None})
            print(f"  [{self.mode}] {n:2d} {kind:13s} {klass:13s} " + (
                f"healed alone in {auto:.1f} s" if auto is not None else
                f"needed a person, recovered in {person:.1f} s" if person is not None else "NOT recovered"), flush=True)
        # Every record the sources sent: in silver or in quarantine, once.
        self.tick()
        self.sql("SELECT * FROM eai.ingest('pg')")
        self.sql("SELECT * FROM eai.ingest('csv')")
        self.sql("SELECT * FROM eai.promote_queued()")
        kept = lambda table, pipeline: {int(r[0]) for r in self.sql(
            f"SELECT id::text FROM {table} UNION SELECT q.row ->> 'id' FROM eai.quarantine q JOIN eai.pipelines p USING (pipeline_id) "
            "WHERE p.name = %s AND q.status = 'quarantined' AND q.row ->> 'id' ~ '^[0-9]+$'", (pipeline,))}
        self.lost = (len(set(range(1, self.next_order)) - kept("silver.orders", "orders"))
                     + len({c[0] for c in self.contacts} - kept("silver.contacts", "contacts")))
        self.doubled = (self.one("SELECT count(*) - count(DISTINCT id) FROM silver.orders")
                        + self.one("SELECT count(*) - count(DISTINCT id) FROM silver.contacts"))
        self.remote.close()
        self.c.close()


def report(runs):
    classes = sorted({r["class"] for b in runs for r in b.results})
    print()
    print(f"{'class':14s} {'mode':9s} {'faults':>6s} {'healed alone':>12s} {'escalated':>9s} {'median s':>9s} {'worst s':>8s} {'needed person':>13s}")
    for k in classes + ["all"]:
        for b in runs:
            rs = [r for r in b.results if k == "all" or r["class"] == k]
            if not rs:
                continue
            times = [r["recovery"] for r in rs if r["recovery"] is not None]
            alone = sum(r["auto"] for r in rs)
            print(f"{k:14s} {b.mode:9s} {len(rs):6d} {alone:12d} {sum(r['escalated'] for r in rs):9d} "
                  f"{(statistics.median(times) if times else float('nan')):9.1f} {(max(times) if times else float('nan')):8.1f} "
                  f"{(len(rs) - alone) / len(rs):13.0%}")
    print()
    for b in runs:
        print(f"{b.mode:9s} rows lost {b.lost}, rows doubled {b.doubled}; renames: {b.renames['followed']} of {b.renames['faults']} "
              f"recognised, {b.renames['wrong']} wrong auto-remap(s); not recovered: {sum(not r['recovered'] for r in b.results)}")
    eai, base = runs[0], runs[1] if len(runs) > 1 else None
    tr = [r for r in eai.results if r["class"] == "transient"]
    share = lambda b: sum(not r["auto"] for r in b.results) / len(b.results)
    print()
    print(f"transient healed alone (eai): {sum(r['auto'] for r in tr)}/{len(tr)} = {sum(r['auto'] for r in tr) / max(len(tr), 1):.0%} (aim >= 95%)")
    print(f"share of failures that needed a person: eai {share(eai):.0%} (aim < 30%)" + (
        f", baseline {share(base):.0%}; ratio baseline/eai {share(base) / max(share(eai), 1e-9):.1f}x" if base else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--faults", type=int, default=68)
    ap.add_argument("--modes", default="eai,baseline")
    ap.add_argument("--only", default="", help="run these faults, in this order, instead of the series (kinds, comma-separated)")
    a = ap.parse_args()
    source = SourceCluster()
    source.start()
    llm = Llm()
    runs = []
    for mode in a.modes.split(","):
        print(f"== {mode}: {a.faults} faults, seed {a.seed}", flush=True)
        b = Bench(mode, a.seed, a.faults, source, llm, [k for k in a.only.split(",") if k])
        b.run()
        runs.append(b)
    report(runs)


if __name__ == "__main__":
    main()
