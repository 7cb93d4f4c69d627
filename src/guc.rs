//! Every GUC eai defines, with typed getters. Paths that make the server load code or read
//! files (`eai.model_dir`, `eai.onnxruntime_library`) are superuser-only.

use std::ffi::CString;
use std::path::PathBuf;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Defaults match where scripts/install.sh puts the files.
pub const DEFAULT_MODEL_DIR: &std::ffi::CStr = c"/usr/local/share/eai/models/all-MiniLM-L6-v2";
pub const DEFAULT_ONNXRUNTIME_LIBRARY: &std::ffi::CStr = c"/usr/local/lib/eai/libonnxruntime.so";

static MODEL_DIR: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(DEFAULT_MODEL_DIR));
static ONNXRUNTIME_LIBRARY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(DEFAULT_ONNXRUNTIME_LIBRARY));
static EMBED_THREADS: GucSetting<i32> = GucSetting::<i32>::new(1);
static PROGRESS_ROWS: GucSetting<i32> = GucSetting::<i32>::new(100_000);
static SYNC_PROMOTION_MAX_ROWS: GucSetting<i32> = GucSetting::<i32>::new(100_000);
static WORKER_DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"postgres"));
static WORKER_NAPTIME_MS: GucSetting<i32> = GucSetting::<i32>::new(1000);
static PROFILE_SAMPLE_ROWS: GucSetting<i32> = GucSetting::<i32>::new(100_000);
static LLM_URL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static LLM_MODEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"gpt-4o-mini"));
static LLM_API_KEY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static LLM_PROVIDER: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"auto"));
static LLM_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
static LLM_MAX_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(3);
static LLM_RETRY_BUDGET_MS: GucSetting<i32> = GucSetting::<i32>::new(15_000);
static ANOMALY_FALSE_POSITIVE_TARGET: GucSetting<f64> = GucSetting::<f64>::new(0.05);
static INCIDENT_WINDOW_S: GucSetting<i32> = GucSetting::<i32>::new(3600);
static INCIDENT_LINEAGE_WINDOW_S: GucSetting<i32> = GucSetting::<i32>::new(86_400);
static RETRY_INITIAL_INTERVAL_MS: GucSetting<i32> = GucSetting::<i32>::new(1_000);
static RETRY_LONG_INITIAL_INTERVAL_MS: GucSetting<i32> = GucSetting::<i32>::new(60_000);
static RETRY_BACKOFF_COEFFICIENT: GucSetting<f64> = GucSetting::<f64>::new(2.0);
static RETRY_MAX_INTERVAL_MS: GucSetting<i32> = GucSetting::<i32>::new(3_600_000);
static RETRY_MAX_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(10);
static BREAKER_CONSECUTIVE_FAILURES: GucSetting<i32> = GucSetting::<i32>::new(5);
static BREAKER_FAILURE_RATE: GucSetting<f64> = GucSetting::<f64>::new(0.5);
static BREAKER_WINDOW: GucSetting<i32> = GucSetting::<i32>::new(20);
static BREAKER_OPEN_FOR_MS: GucSetting<i32> = GucSetting::<i32>::new(60_000);
static BREAKER_PROBE_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
static NL_STATEMENT_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
static HEAL_MIN_SUCCESS_RATE: GucSetting<f64> = GucSetting::<f64>::new(0.8);
static HEAL_MAX_ACTIONS_PER_HOUR: GucSetting<i32> = GucSetting::<i32>::new(10);
static CANARY_MAX_DROP: GucSetting<f64> = GucSetting::<f64>::new(0.2);

pub fn register() {
    GucRegistry::define_string_guc(
        c"eai.model_dir",
        c"Folder of the sentence-embedding model (model.onnx + tokenizer.json).",
        c"Any ONNX sentence-embedding model with a tokenizer.json can be dropped in. Read once per backend.",
        &MODEL_DIR,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"eai.onnxruntime_library",
        c"Path of libonnxruntime.so, loaded once per backend.",
        c"Installed from the PyPI onnxruntime wheel by scripts/install.sh.",
        &ONNXRUNTIME_LIBRARY,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"eai.embed_threads",
        c"ONNX Runtime intra-op threads per backend for embeddings.",
        c"Read when the model loads (first eai.embed call of a backend).",
        &EMBED_THREADS,
        1,
        64,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"eai.progress_rows",
        c"Report ingest progress with a NOTICE every this many rows (0 = never).",
        c"",
        &PROGRESS_ROWS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"eai.sync_promotion_max_rows",
        c"A bronze batch of at most this many rows is promoted in the ingesting transaction; a larger one is queued.",
        c"Queued batches are promoted by eai.promote_queued() (pg_cron) or eai.run_pipeline.",
        &SYNC_PROMOTION_MAX_ROWS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    // A server-start setting can only be defined while shared_preload_libraries loads eai (which
    // is also the only way the worker runs); loaded later, eai leaves it undefined.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        GucRegistry::define_string_guc(
            c"eai.worker_database",
            c"Database whose queued promotions the eai promotion worker runs (eai must be in shared_preload_libraries).",
            c"Read when the server starts.",
            &WORKER_DATABASE,
            GucContext::Postmaster,
            GucFlags::default(),
        );
    }
    GucRegistry::define_int_guc(
        c"eai.worker_naptime_ms",
        c"How long the eai promotion worker sleeps when the queue is empty.",
        c"",
        &WORKER_NAPTIME_MS,
        10,
        3_600_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"eai.profile_sample_rows",
        c"eai.profile reads at most this many rows of a table (a random sample when it has more).",
        c"Tables are sampled with TABLESAMPLE BERNOULLI; views and foreign tables by ORDER BY random().",
        &PROFILE_SAMPLE_ROWS,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"eai.llm_url",
        c"LLM endpoint for mapping disambiguation: an OpenAI-compatible base URL (…/v1) or Ollama (…:11434). Empty: no LLM.",
        c"Superuser-only: it makes the server send data to that address.",
        &LLM_URL,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"eai.llm_model",
        c"Model name sent to the LLM endpoint.",
        c"",
        &LLM_MODEL,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"eai.llm_api_key",
        c"API key for the LLM endpoint (sent as a Bearer token). Superuser-only, hidden, never printed.",
        c"",
        &LLM_API_KEY,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY | GucFlags::NO_SHOW_ALL,
    );
    GucRegistry::define_string_guc(
        c"eai.llm_provider",
        c"Protocol of the LLM endpoint: openai, ollama, or auto (from the URL).",
        c"",
        &LLM_PROVIDER,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"eai.llm_timeout_ms",
        c"Timeout of one LLM call, in milliseconds; a timeout is a transient error (the pair goes to review).",
        c"",
        &LLM_TIMEOUT_MS,
        100,
        600_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"eai.llm_max_attempts",
        c"Attempts of one LLM call at most when the endpoint fails transiently (network, timeout, 5xx, 429); each is a row of eai.llm_calls.",
        c"",
        &LLM_MAX_ATTEMPTS,
        1,
        10,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"eai.llm_retry_budget_ms",
        c"Time one LLM call may spend on its attempts and the waits between them, in milliseconds; a Retry-After beyond what is left ends the call.",
        c"",
        &LLM_RETRY_BUDGET_MS,
        0,
        600_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"eai.anomaly_false_positive_target",
        c"Highest share of false positives among labelled anomalies before a metric's threshold rises (eai.label_anomaly).",
        c"Thresholds only rise above the detector's default; eai.revert_threshold undoes a change.",
        &ANOMALY_FALSE_POSITIVE_TARGET,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"eai.incident_window",
        c"Anomalies this close in time are one incident, whatever their tables.",
        c"",
        &INCIDENT_WINDOW_S,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"eai.incident_lineage_window",
        c"Anomalies of tables on one lineage chain (or of one table) this close in time are one incident.",
        c"",
        &INCIDENT_LINEAGE_WINDOW_S,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    // Retries of work eai takes again by itself (queued promotions, ingests): docs/healing.md.
    GucRegistry::define_int_guc(
        c"eai.retry_initial_interval",
        c"Wait before the second attempt of work that failed transiently (or by schema drift); each later wait is eai.retry_backoff_coefficient times longer.",
        c"Waits are shortened by up to a fifth at random, so that work which failed together is not retried together.",
        &RETRY_INITIAL_INTERVAL_MS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"eai.retry_long_initial_interval",
        c"Wait before the second attempt of work that failed for lack of a resource (disk, memory, a limit) or by its configuration (a password, a file, a privilege).",
        c"",
        &RETRY_LONG_INITIAL_INTERVAL_MS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_float_guc(
        c"eai.retry_backoff_coefficient",
        c"Each wait between retries is this many times the one before.",
        c"",
        &RETRY_BACKOFF_COEFFICIENT,
        1.0,
        100.0,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"eai.retry_max_interval",
        c"No wait between retries is longer than this.",
        c"",
        &RETRY_MAX_INTERVAL_MS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"eai.retry_max_attempts",
        c"Attempts in all (the first included) before failed work is parked as a dead letter for a person (eai.requeue_batch).",
        c"Bad data and internal errors are never retried: they are parked at once.",
        &RETRY_MAX_ATTEMPTS,
        1,
        1000,
        GucContext::Suset,
        GucFlags::default(),
    );
    // Circuit breakers per source and per LLM endpoint: docs/healing.md.
    GucRegistry::define_int_guc(
        c"eai.breaker_consecutive_failures",
        c"A source or LLM endpoint that fails this many times in a row is paused (its circuit breaker opens); 0: never by this rule.",
        c"Failures that count: transient, resource and configuration ones (the target could not be reached or refused); bad data reached it.",
        &BREAKER_CONSECUTIVE_FAILURES,
        0,
        1000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"eai.breaker_failure_rate",
        c"A source or LLM endpoint whose last eai.breaker_window attempts failed at least this often is paused.",
        c"",
        &BREAKER_FAILURE_RATE,
        0.0,
        1.0,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"eai.breaker_window",
        c"Attempts the failure rate of a circuit breaker is taken over (0: no rate rule).",
        c"",
        &BREAKER_WINDOW,
        0,
        1000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"eai.breaker_open_for",
        c"How long an open circuit breaker refuses its target's work before it lets one probe through.",
        c"",
        &BREAKER_OPEN_FOR_MS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"eai.breaker_probe_timeout",
        c"How long the probe of a half-open source may take to answer (its first row): past it, the probe fails (57014) and the breaker opens again. 0: no timeout of its own.",
        c"The rest of the ingest, once the source answered, is not bound by it.",
        &BREAKER_PROBE_TIMEOUT_MS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"eai.nl_statement_timeout",
        c"How long eai.ask may run the query it composed for a question; past it the query is cancelled (57014). 0: no timeout of its own.",
        c"A sooner statement_timeout of the session stays in force.",
        &NL_STATEMENT_TIMEOUT_MS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    // Schema heals: safeguards and the canary (docs/healing.md).
    GucRegistry::define_float_guc(
        c"eai.heal_min_success_rate",
        c"A kind of schema heal is applied by itself only while this share of its last 10 outcomes succeeded; below it, eai proposes instead.",
        c"",
        &HEAL_MIN_SUCCESS_RATE,
        0.0,
        1.0,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"eai.heal_max_actions_per_hour",
        c"Schema heals eai applies by itself per pipeline per hour at most; beyond, it proposes.",
        c"",
        &HEAL_MAX_ACTIONS_PER_HOUR,
        0,
        10_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"eai.canary_max_drop",
        c"A schema heal is reverted by itself when the first batch after it quarantines this much more (a share of its rows), or silver's validity score falls by this much.",
        c"",
        &CANARY_MAX_DROP,
        0.0,
        1.0,
        GucContext::Suset,
        GucFlags::default(),
    );
}

fn string(setting: &GucSetting<Option<CString>>, default: &std::ffi::CStr) -> String {
    setting.get().unwrap_or_else(|| default.to_owned()).to_string_lossy().into_owned()
}

pub fn model_dir() -> PathBuf {
    string(&MODEL_DIR, DEFAULT_MODEL_DIR).into()
}

pub fn onnxruntime_library() -> PathBuf {
    string(&ONNXRUNTIME_LIBRARY, DEFAULT_ONNXRUNTIME_LIBRARY).into()
}

pub fn embed_threads() -> usize {
    EMBED_THREADS.get().max(1) as usize
}

pub fn progress_rows() -> u64 {
    PROGRESS_ROWS.get().max(0) as u64
}

pub fn worker_database() -> String {
    string(&WORKER_DATABASE, c"postgres")
}

pub fn worker_naptime() -> std::time::Duration {
    std::time::Duration::from_millis(WORKER_NAPTIME_MS.get().max(10) as u64)
}

pub fn profile_sample_rows() -> i64 {
    PROFILE_SAMPLE_ROWS.get().max(1) as i64
}

fn optional(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting.get().map(|c| c.to_string_lossy().trim().to_string()).filter(|s| !s.is_empty())
}

pub fn llm_url() -> Option<String> {
    optional(&LLM_URL)
}

pub fn llm_model() -> String {
    optional(&LLM_MODEL).unwrap_or_else(|| "gpt-4o-mini".into())
}

pub fn llm_api_key() -> Option<String> {
    optional(&LLM_API_KEY)
}

pub fn llm_provider() -> String {
    optional(&LLM_PROVIDER).unwrap_or_else(|| "auto".into())
}

pub fn llm_timeout() -> std::time::Duration {
    std::time::Duration::from_millis(LLM_TIMEOUT_MS.get().max(100) as u64)
}

pub fn llm_max_attempts() -> u32 {
    LLM_MAX_ATTEMPTS.get().clamp(1, 10) as u32
}

pub fn llm_retry_budget() -> std::time::Duration {
    std::time::Duration::from_millis(LLM_RETRY_BUDGET_MS.get().max(0) as u64)
}

pub fn anomaly_false_positive_target() -> f64 {
    ANOMALY_FALSE_POSITIVE_TARGET.get().clamp(0.0, 1.0)
}

/// (time window, lineage window) of incident grouping, in seconds.
pub fn incident_windows() -> (f64, f64) {
    (INCIDENT_WINDOW_S.get().max(0) as f64, INCIDENT_LINEAGE_WINDOW_S.get().max(0) as f64)
}

/// The retry policies (eai.retry_* GUCs).
pub fn retry_policies() -> eai_core::retry_policy::Policies {
    use eai_core::retry_policy::{Policies, Policy};
    use std::time::Duration;
    let ms = |g: &GucSetting<i32>| Duration::from_millis(g.get().max(0) as u64);
    let base = Policy {
        initial: ms(&RETRY_INITIAL_INTERVAL_MS),
        coefficient: RETRY_BACKOFF_COEFFICIENT.get(),
        max_interval: ms(&RETRY_MAX_INTERVAL_MS),
        max_attempts: RETRY_MAX_ATTEMPTS.get().max(1) as u32,
    };
    Policies { base, long: Policy { initial: ms(&RETRY_LONG_INITIAL_INTERVAL_MS), ..base } }
}

/// The circuit breakers' settings (eai.breaker_* GUCs).
pub fn breaker_settings() -> eai_core::breaker::Settings {
    eai_core::breaker::Settings {
        consecutive_failures: BREAKER_CONSECUTIVE_FAILURES.get().max(0) as u32,
        failure_rate: BREAKER_FAILURE_RATE.get(),
        window: BREAKER_WINDOW.get().max(0) as usize,
        open_for: std::time::Duration::from_millis(BREAKER_OPEN_FOR_MS.get().max(0) as u64),
    }
}

/// The probe of a half-open source: how long it may take to answer (eai.breaker_probe_timeout), in ms; 0: no limit.
pub fn breaker_probe_timeout_ms() -> i32 {
    BREAKER_PROBE_TIMEOUT_MS.get().max(0)
}

/// How long eai.ask may run a question's query (eai.nl_statement_timeout), in ms; 0: no limit.
pub fn nl_statement_timeout_ms() -> i32 {
    NL_STATEMENT_TIMEOUT_MS.get().max(0)
}

pub fn heal_min_success_rate() -> f64 {
    HEAL_MIN_SUCCESS_RATE.get().clamp(0.0, 1.0)
}

pub fn heal_max_actions_per_hour() -> usize {
    HEAL_MAX_ACTIONS_PER_HOUR.get().max(0) as usize
}

pub fn canary_max_drop() -> f64 {
    CANARY_MAX_DROP.get().clamp(0.0, 1.0)
}
