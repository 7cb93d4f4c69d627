//! LLM calls for any purpose (`Config::complete`: a system and a user prompt, the reply parsed
//! by the caller): configuration from GUCs, the response cache, the call ledger, retries within a
//! budget, the endpoint's circuit breaker, and the HTTP request (OpenAI-compatible or Ollama, per
//! `eai_core::llm`). Every call, cached or not, is one row of `eai.llm_calls`, with its purpose.
//! The API key never appears in a message. The mapping question is src/mapping.rs's.

use std::time::{Duration, Instant, SystemTime};

use eai_core::error_taxonomy::{self, redact_secrets, ErrorClass};
use eai_core::llm::{self, LlmError, Protocol};
use eai_core::llm_ledger::LedgerEntry;
use eai_core::llm_retry::{self, NextAttempt};
use pgrx::prelude::*;

use crate::breaker::{self, Scope};
use crate::errors::EaiError;
use crate::{catalog_write, guc, llm_ledger};
use eai_core::breaker::Admission;

pub struct Config {
    url: String,
    /// The endpoint's origin (scheme://host:port): the ledger's `endpoint`, its circuit breaker.
    endpoint: String,
    model: String,
    key: Option<String>,
    protocol: Protocol,
    client: reqwest::blocking::Client,
}

/// The configured endpoint, or `None` when `eai.llm_url` is empty.
/// What an LLM call is for, as the ledger records it: `name` (`map_schema`, `nl_to_sql`, …) and
/// the run it belongs to (a mapping run), if any.
pub struct Purpose<'a> {
    pub name: &'a str,
    pub run_id: Option<i64>,
}

pub fn config() -> Option<Config> {
    let url = guc::llm_url()?;
    let client = reqwest::blocking::Client::builder()
        .timeout(guc::llm_timeout())
        // Redirects are followed only within the endpoint's own origin (scheme, host, port), at
        // most 5: the key, sent as a Bearer header, never leaves for another host. A redirect
        // elsewhere is answered as the endpoint's refusal (see `post`).
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
            if !same {
                attempt.stop()
            } else if attempt.previous().len() > 5 {
                attempt.error("more than 5 redirects")
            } else {
                attempt.follow()
            }
        }))
        .build()
        .unwrap_or_else(|e| EaiError::System(format!("could not set up the HTTP client: {e}")).report());
    let endpoint = reqwest::Url::parse(&url).map(|u| u.origin().ascii_serialization()).unwrap_or_else(|_| "invalid URL".into());
    Some(Config { protocol: Protocol::choose(&guc::llm_provider(), &url), url, endpoint, model: guc::llm_model(), key: guc::llm_api_key(), client })
}

/// Run the blocking HTTP exchange on a thread of its own and wait for it, checking for
/// interrupts every 50 ms: a cancelled query or `statement_timeout` ends the wait at once (the
/// thread finishes or times out on its own; nothing it does touches PostgreSQL). `on_cancel` runs
/// first, so that the call is in the ledger although the transaction is about to abort.
fn interruptible<T: Send + 'static>(call: impl FnOnce() -> Result<T, reqwest::Error> + Send + 'static, on_cancel: &dyn Fn()) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(call().map_err(|e| e.to_string()));
    });
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(result) => return result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if cancel_pending() {
                    on_cancel();
                }
                pgrx::check_for_interrupts!();
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Err("the HTTP exchange ended without an answer".into()),
        }
    }
}

/// Whether a cancel, a `statement_timeout` or a termination is waiting to be raised.
fn cancel_pending() -> bool {
    // SAFETY: sig_atomic_t flags set by signal handlers; read as volatile.
    unsafe { std::ptr::addr_of!(pg_sys::QueryCancelPending).read_volatile() != 0 || std::ptr::addr_of!(pg_sys::ProcDiePending).read_volatile() != 0 }
}

/// Sleeps `wait` (between attempts), in 50 ms steps that check for interrupts.
fn interruptible_sleep(wait: Duration) {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
        pgrx::check_for_interrupts!();
    }
}

impl Config {
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Remove the key (and any password) from a message.
    fn clean(&self, message: &str) -> String {
        let mut m = redact_secrets(message);
        if let Some(k) = self.key.as_deref().filter(|k| k.len() >= 4) {
            m = m.replace(k, "********");
        }
        m
    }

    /// One HTTP exchange: the reply, and how long the endpoint asked to wait (`Retry-After`) when
    /// it was busy.
    fn post(&self, body: &serde_json::Value, on_cancel: &dyn Fn()) -> (Result<llm::Reply, LlmError>, Option<Duration>) {
        let mut req = self.client.post(self.protocol.endpoint(&self.url)).json(body);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let exchange = interruptible(
            move || {
                let resp = req.send()?;
                let status = resp.status();
                let header = |name| resp.headers().get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).map(str::to_string);
                let (location, retry_after) = (header(reqwest::header::LOCATION), header(reqwest::header::RETRY_AFTER));
                Ok((status, location, retry_after, resp.text()?))
            },
            on_cancel,
        );
        match exchange {
            Err(e) => (Err(LlmError::Transient(self.clean(&e))), None),
            Ok((status, location, retry_after, text)) => {
                let asked = retry_after.as_deref().and_then(|v| llm_retry::retry_after(v, SystemTime::now()));
                (self.reply(status, location, text), asked)
            }
        }
    }

    fn reply(&self, status: reqwest::StatusCode, location: Option<String>, text: String) -> Result<llm::Reply, LlmError> {
        if status.is_redirection() {
            return Err(LlmError::Refused(self.clean(&format!(
                "HTTP {status}: the endpoint redirects to another origin ({}); eai does not follow it with the key. Set eai.llm_url to the final address",
                location.as_deref().unwrap_or("no Location")
            ))));
        }
        if !status.is_success() && error_taxonomy::classify_http(status.as_u16()) == ErrorClass::Transient {
            return Err(LlmError::Transient(format!("HTTP {status}")));
        }
        if !status.is_success() {
            let snippet: String = text.chars().take(200).collect();
            return Err(LlmError::Refused(self.clean(&format!("HTTP {status}: {snippet}"))));
        }
        llm::parse_reply(self.protocol, &text)
    }

    /// One completion for `purpose`: the system and user prompts, the reply's content parsed by
    /// `parse`. From the cache when an identical request was answered (and parsed) before. Every
    /// attempt is one ledger row, named after the role that caused it (also when it fails, is
    /// retried or cancelled); a transient failure is retried within eai.llm_max_attempts and
    /// eai.llm_retry_budget_ms, as long as the endpoint asks (`Retry-After`) when it says. The
    /// endpoint's circuit breaker is asked first.
    pub fn complete<T>(&self, purpose: &Purpose, system: &str, user: &str, parse: &dyn Fn(&str) -> Result<T, LlmError>) -> Result<T, LlmError> {
        llm_ledger::drain_some();
        let key = llm::cache_key(self.protocol, &self.model, system, user);
        let caller = catalog_write::current_role();
        let vxid = llm_ledger::current_vxid();
        let entry = |attempt: i32, started: Instant| LedgerEntry {
            call_uuid: llm_ledger::new_uuid(),
            vxid: vxid.clone(),
            called_at: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            called_by: caller.clone(),
            run_id: purpose.run_id,
            purpose: purpose.name.into(),
            protocol: self.protocol.as_str().into(),
            endpoint: self.endpoint.clone(),
            model: self.model.clone(),
            request_hash: key.clone(),
            attempt,
            tokens_in: 0,
            tokens_out: 0,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            cost_usd: None,
            cache_hit: false,
            outcome: "ok".into(),
            error: None,
        };
        let finish = |mut e: LedgerEntry, failed: Option<&LlmError>| {
            if let Some(err) = failed {
                e.outcome = err.outcome().into();
                e.error = Some(self.clean(&err.to_string()));
            }
            llm_ledger::record(&e);
        };
        let started = Instant::now();
        let cached =
            Spi::get_one_with_args::<String>("SELECT response FROM eai.llm_cache WHERE request_hash = $1", &[key.as_str().into()]).ok().flatten();
        if let Some(content) = cached {
            let answer = parse(&content);
            finish(LedgerEntry { cache_hit: true, cost_usd: Some(0.0), ..entry(1, started) }, answer.as_ref().err());
            return answer;
        }
        // A role that may not see the key spends it only on a model whose cost eai can put on its name.
        if !unsafe { pg_sys::superuser() } && llm::cost_usd(self.protocol, &self.model, 0, 0).is_none() {
            let refused = LlmError::Refused(format!(
                "model {} has no price in eai's table, so the cost of a call could not be put on {caller}'s name; only a superuser may use it (SET eai.llm_model to a priced model)",
                self.model
            ));
            finish(entry(1, started), Some(&refused));
            return Err(refused);
        }
        // The endpoint's circuit breaker: open, it is not called (the pair goes to review);
        // at the end of its open period, this call is its one probe, with one attempt.
        let max_attempts = match breaker::admit(Scope::Llm, &self.endpoint) {
            Admission::Refuse(why) => return Err(LlmError::Transient(format!("the LLM endpoint {} was not called: {why}", self.endpoint))),
            Admission::Probe => 1,
            Admission::Allow => guc::llm_max_attempts(),
        };
        let body = llm::request_body(self.protocol, &self.model, system, user);
        let result = self.call(&body, &key, parse, max_attempts, started, &entry, &finish);
        breaker::record(Scope::Llm, &self.endpoint, matches!(result, Err(LlmError::Transient(_))));
        result
    }

    /// The attempts of one call (at most `max_attempts`), each one ledger row.
    #[allow(clippy::too_many_arguments)]
    fn call<T>(
        &self,
        body: &serde_json::Value,
        key: &str,
        parse: &dyn Fn(&str) -> Result<T, LlmError>,
        max_attempts: u32,
        started: Instant,
        entry: &dyn Fn(i32, Instant) -> LedgerEntry,
        finish: &dyn Fn(LedgerEntry, Option<&LlmError>),
    ) -> Result<T, LlmError> {
        let mut attempt: i32 = 1;
        loop {
            let attempt_started = Instant::now();
            let cancelled = || {
                let e = entry(attempt, attempt_started);
                llm_ledger::spool_only(&LedgerEntry {
                    outcome: "cancelled".into(),
                    error: Some("the statement was cancelled (or timed out) while the endpoint was answering".into()),
                    ..e
                });
            };
            let (reply, asked) = self.post(body, &cancelled);
            let answer = reply.clone().and_then(|r| parse(&r.content));
            let (tokens_in, tokens_out) = reply.as_ref().map(|r| (r.tokens_in, r.tokens_out)).unwrap_or((0, 0));
            let cost = llm::cost_usd(self.protocol, &self.model, tokens_in, tokens_out);
            finish(LedgerEntry { tokens_in, tokens_out, cost_usd: cost, ..entry(attempt, attempt_started) }, answer.as_ref().err());
            match (&reply, &answer) {
                (Ok(r), Ok(_)) => {
                    catalog_write::as_owner(|_| {
                        Spi::run_with_args(
                            "INSERT INTO eai.llm_cache (request_hash, protocol, model, response, tokens_in, tokens_out)
                             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_hash) DO NOTHING",
                            &[
                                key.into(),
                                self.protocol.as_str().into(),
                                self.model.as_str().into(),
                                r.content.as_str().into(),
                                r.tokens_in.into(),
                                r.tokens_out.into(),
                            ],
                        )
                    })
                    .unwrap_or_else(|e| EaiError::catalog("cache the LLM answer", e).report());
                    return answer;
                }
                (_, Err(LlmError::Transient(message))) => {
                    match llm_retry::next_attempt(attempt as u32, max_attempts, started.elapsed(), guc::llm_retry_budget(), asked) {
                        NextAttempt::After(wait) => {
                            interruptible_sleep(wait);
                            attempt += 1;
                        }
                        NextAttempt::GiveUp(why) => return Err(LlmError::Transient(format!("{message}; {why}"))),
                    }
                }
                _ => return answer,
            }
        }
    }
}
