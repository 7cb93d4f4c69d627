//! LLM calls for mapping disambiguation: configuration from GUCs, the response cache, the call
//! ledger, and the HTTP request (OpenAI-compatible or Ollama, per `eai_core::llm`). Every call,
//! cached or not, is one row of `eai.llm_calls`. The API key never appears in a message.

use std::time::Instant;

use eai_core::error_taxonomy::redact_secrets;
use eai_core::llm::{self, Answer, LlmError, Protocol, Question};
use pgrx::prelude::*;

use crate::{catalog_write, guc};

pub struct Config {
    url: String,
    model: String,
    key: Option<String>,
    protocol: Protocol,
    client: reqwest::blocking::Client,
}

/// The configured endpoint, or `None` when `eai.llm_url` is empty.
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
        .unwrap_or_else(|e| error!("eai: could not set up the HTTP client: {e}"));
    Some(Config { protocol: Protocol::choose(&guc::llm_provider(), &url), url, model: guc::llm_model(), key: guc::llm_api_key(), client })
}

/// Run the blocking HTTP exchange on a thread of its own and wait for it, checking for
/// interrupts every 50 ms: a cancelled query or `statement_timeout` ends the wait at once (the
/// thread finishes or times out on its own; nothing it does touches PostgreSQL).
fn interruptible<T: Send + 'static>(call: impl FnOnce() -> Result<T, reqwest::Error> + Send + 'static) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(call().map_err(|e| e.to_string()));
    });
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(result) => return result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                pgrx::check_for_interrupts!();
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Err("the HTTP exchange ended without an answer".into()),
        }
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

    fn post(&self, body: &serde_json::Value) -> Result<llm::Reply, LlmError> {
        let mut req = self.client.post(self.protocol.endpoint(&self.url)).json(body);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let (status, location, text) = interruptible(move || {
            let resp = req.send()?;
            let status = resp.status();
            let location = resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
            Ok((status, location, resp.text()?))
        })
        .map_err(|e| LlmError::Transient(self.clean(&e)))?;
        if status.is_redirection() {
            return Err(LlmError::Refused(self.clean(&format!(
                "HTTP {status}: the endpoint redirects to another origin ({}); eai does not follow it with the key. Set eai.llm_url to the final address",
                location.as_deref().unwrap_or("no Location")
            ))));
        }
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(LlmError::Transient(format!("HTTP {status}")));
        }
        if !status.is_success() {
            let snippet: String = text.chars().take(200).collect();
            return Err(LlmError::Refused(self.clean(&format!("HTTP {status}: {snippet}"))));
        }
        llm::parse_reply(self.protocol, &text)
    }

    /// Ask the question, from the cache when an identical request was answered before; record
    /// the call in the ledger.
    pub fn ask(&self, q: &Question, run_id: i64) -> Result<Answer, LlmError> {
        let user = llm::user_prompt(q);
        let key = llm::cache_key(self.protocol, &self.model, llm::SYSTEM_PROMPT, &user);
        let candidates: Vec<String> = q.candidates.iter().map(|c| c.column.clone()).collect();
        let started = Instant::now();
        let cached =
            Spi::get_one_with_args::<String>("SELECT response FROM eai.llm_cache WHERE request_hash = $1", &[key.as_str().into()]).ok().flatten();
        let (reply, cache_hit) = match cached {
            Some(content) => (Ok(llm::Reply { content, tokens_in: 0, tokens_out: 0 }), true),
            None => (self.post(&llm::request_body(self.protocol, &self.model, llm::SYSTEM_PROMPT, &user)), false),
        };
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let answer = reply.clone().and_then(|r| llm::parse_answer(&r.content, &candidates));
        let (tokens_in, tokens_out) = reply.as_ref().map(|r| (r.tokens_in, r.tokens_out)).unwrap_or((0, 0));
        let cost = if cache_hit { Some(0.0) } else { llm::cost_usd(self.protocol, &self.model, tokens_in, tokens_out) };
        let outcome = match &answer {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        let error = answer.as_ref().err().map(|e| self.clean(&e.to_string()));
        catalog_write::as_owner(|caller| {
            Spi::connect_mut(|client| {
                client.update(
                    "INSERT INTO eai.llm_calls (run_id, purpose, protocol, model, request_hash, tokens_in, tokens_out, latency_ms,
                                            cost_usd, cache_hit, outcome, error, called_by)
                 VALUES ($1, 'map_schema', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    None,
                    &[
                        run_id.into(),
                        self.protocol.as_str().into(),
                        self.model.as_str().into(),
                        key.as_str().into(),
                        tokens_in.into(),
                        tokens_out.into(),
                        latency_ms.into(),
                        cost.into(),
                        cache_hit.into(),
                        outcome.into(),
                        error.into(),
                        caller.into(),
                    ],
                )?;
                if let (Ok(r), false, Ok(_)) = (&reply, cache_hit, &answer) {
                    client.update(
                        "INSERT INTO eai.llm_cache (request_hash, protocol, model, response, tokens_in, tokens_out)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_hash) DO NOTHING",
                        None,
                        &[
                            key.as_str().into(),
                            self.protocol.as_str().into(),
                            self.model.as_str().into(),
                            r.content.as_str().into(),
                            r.tokens_in.into(),
                            r.tokens_out.into(),
                        ],
                    )?;
                }
                Ok::<_, pgrx::spi::Error>(())
            })
        })
        .unwrap_or_else(|e| error!("eai: could not record the LLM call: {e}"));
        answer
    }
}
