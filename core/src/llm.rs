//! LLM disambiguation, protocol side (no network here): the prompt for a mapping decision, the
//! request bodies of OpenAI-compatible chat completions and Ollama's `/api/chat`, parsing their
//! replies (content and token counts), validating the model's JSON answer against the real
//! columns, a per-model price table, and the cache key. The extension makes the HTTP call.

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    OpenAi,
    Ollama,
}

impl Protocol {
    /// `provider` is `openai`, `ollama` or `auto` (Ollama when the URL says `/api` or port 11434).
    pub fn choose(provider: &str, url: &str) -> Protocol {
        match provider.to_ascii_lowercase().as_str() {
            "openai" => Protocol::OpenAi,
            "ollama" => Protocol::Ollama,
            _ if url.contains("/api/chat") || url.trim_end_matches('/').ends_with("/api") || url.contains(":11434") => Protocol::Ollama,
            _ => Protocol::OpenAi,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::OpenAi => "openai",
            Protocol::Ollama => "ollama",
        }
    }

    /// The URL to POST to, from a base URL (`http://host/v1`) or a full one.
    pub fn endpoint(self, url: &str) -> String {
        let base = url.trim_end_matches('/');
        match self {
            Protocol::OpenAi if base.ends_with("/chat/completions") => base.to_string(),
            Protocol::OpenAi => format!("{base}/chat/completions"),
            Protocol::Ollama if base.ends_with("/api/chat") => base.to_string(),
            Protocol::Ollama if base.ends_with("/api") => format!("{base}/chat"),
            Protocol::Ollama => format!("{base}/api/chat"),
        }
    }
}

/// A target column offered to the model.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub column: String,
    pub data_type: String,
    pub samples: Vec<String>,
    pub score: f64,
}

/// One mapping question: which target column (if any) holds the source column's data?
#[derive(Debug, Clone, Serialize)]
pub struct Question {
    pub source_table: String,
    pub source_column: String,
    pub source_type: String,
    pub source_samples: Vec<String>,
    pub target_table: String,
    pub candidates: Vec<Candidate>,
}

pub const SYSTEM_PROMPT: &str = "You match database columns. Given a source column and candidate target columns \
(with types and sample values), answer which candidate holds the same data, or null if none does. \
Answer with JSON only: {\"target\": \"<candidate column name>\" or null, \"confidence\": <0..1>, \"reason\": \"<one sentence>\"}.";

/// The user message: the question as compact JSON.
pub fn user_prompt(q: &Question) -> String {
    json!({
        "source": {"table": q.source_table, "column": q.source_column, "type": q.source_type, "samples": q.source_samples},
        "target_table": q.target_table,
        "candidates": q.candidates.iter().map(|c| json!({"column": c.column, "type": c.data_type, "samples": c.samples})).collect::<Vec<_>>(),
    })
    .to_string()
}

/// The request body for the protocol: deterministic (temperature 0), JSON answers.
pub fn request_body(protocol: Protocol, model: &str, system: &str, user: &str) -> Value {
    let messages = json!([{"role": "system", "content": system}, {"role": "user", "content": user}]);
    match protocol {
        Protocol::OpenAi => json!({"model": model, "messages": messages, "temperature": 0, "response_format": {"type": "json_object"}}),
        Protocol::Ollama => json!({"model": model, "messages": messages, "stream": false, "format": "json", "options": {"temperature": 0}}),
    }
}

/// Key of the response cache: identical requests share it.
pub fn cache_key(protocol: Protocol, model: &str, system: &str, user: &str) -> String {
    let mut h = Sha256::new();
    for part in [protocol.as_str(), model, system, user] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// Network trouble, a timeout or a 5xx: try again later.
    #[error("LLM endpoint unreachable: {0}")]
    Transient(String),
    /// A 4xx: the URL, model or key is wrong.
    #[error("LLM endpoint refused the request: {0}")]
    Refused(String),
    /// The reply was not the protocol's JSON, or the answer was not the JSON asked for.
    #[error("LLM answer is not valid JSON: {0}")]
    Garbage(String),
    /// The model named a column that is not among the candidates.
    #[error("LLM answered column \"{0}\", which is not a candidate")]
    Hallucinated(String),
}

impl LlmError {
    pub fn outcome(&self) -> &'static str {
        match self {
            LlmError::Transient(_) => "unreachable",
            LlmError::Refused(_) => "refused",
            LlmError::Garbage(_) => "invalid_answer",
            LlmError::Hallucinated(_) => "hallucinated",
        }
    }
}

/// What came back: the message content and the token counts the server reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub content: String,
    pub tokens_in: i64,
    pub tokens_out: i64,
}

/// Parse an HTTP response body of the protocol.
pub fn parse_reply(protocol: Protocol, body: &str) -> Result<Reply, LlmError> {
    let v: Value = serde_json::from_str(body).map_err(|e| LlmError::Garbage(format!("response body: {e}")))?;
    let (content, tin, tout) = match protocol {
        Protocol::OpenAi => (v.pointer("/choices/0/message/content"), v.pointer("/usage/prompt_tokens"), v.pointer("/usage/completion_tokens")),
        Protocol::Ollama => (v.pointer("/message/content"), v.get("prompt_eval_count"), v.get("eval_count")),
    };
    let content = content.and_then(Value::as_str).ok_or_else(|| LlmError::Garbage("no message content in the response".into()))?;
    Ok(Reply {
        content: content.to_string(),
        tokens_in: tin.and_then(Value::as_i64).unwrap_or(0),
        tokens_out: tout.and_then(Value::as_i64).unwrap_or(0),
    })
}

/// The model's decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub target: Option<String>,
    pub confidence: f64,
    pub reason: String,
}

/// Parse the model's answer (JSON, possibly inside a ```json fence or surrounded by prose) and
/// check that the column it names is one of the candidates.
pub fn parse_answer(content: &str, candidates: &[String]) -> Result<Answer, LlmError> {
    let start = content.find('{').ok_or_else(|| LlmError::Garbage(snippet(content)))?;
    let end = content.rfind('}').filter(|&e| e > start).ok_or_else(|| LlmError::Garbage(snippet(content)))?;
    let v: Value = serde_json::from_str(&content[start..=end]).map_err(|_| LlmError::Garbage(snippet(content)))?;
    let target = match v.get("target") {
        Some(Value::String(s)) if s.is_empty() || s.eq_ignore_ascii_case("null") || s.eq_ignore_ascii_case("none") => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => return Err(LlmError::Garbage(format!("target is {other}"))),
    };
    if let Some(t) = &target {
        if !candidates.iter().any(|c| c == t) {
            return Err(LlmError::Hallucinated(t.clone()));
        }
    }
    let confidence = v.get("confidence").and_then(Value::as_f64).unwrap_or(0.5).clamp(0.0, 1.0);
    let reason = v.get("reason").and_then(Value::as_str).unwrap_or("").chars().take(500).collect();
    Ok(Answer { target, confidence, reason })
}

fn snippet(s: &str) -> String {
    let t: String = s.chars().take(80).collect();
    if s.chars().count() > 80 {
        format!("{t}…")
    } else {
        t
    }
}

/// US dollars per million tokens (input, output) of common models; local models cost nothing.
const PRICES: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-3.5-turbo", 0.50, 1.50),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-3-5-sonnet", 3.00, 15.00),
];

/// Estimated cost of a call; `None` for a model not in the table (0 for Ollama: it runs locally).
pub fn cost_usd(protocol: Protocol, model: &str, tokens_in: i64, tokens_out: i64) -> Option<f64> {
    if protocol == Protocol::Ollama {
        return Some(0.0);
    }
    let m = model.to_ascii_lowercase();
    // Longest matching prefix, so gpt-4o-mini is not priced as gpt-4o.
    PRICES
        .iter()
        .filter(|(name, _, _)| m.starts_with(name))
        .max_by_key(|(name, _, _)| name.len())
        .map(|(_, pin, pout)| (tokens_in as f64 * pin + tokens_out as f64 * pout) / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question() -> Question {
        Question {
            source_table: "bronze.shop__customers".into(),
            source_column: "country".into(),
            source_type: "text".into(),
            source_samples: vec!["US".into(), "DE".into()],
            target_table: "silver.customers".into(),
            candidates: vec![Candidate { column: "country_code".into(), data_type: "text".into(), samples: vec![], score: 0.8 }],
        }
    }

    #[test]
    fn protocols_and_endpoints() {
        assert_eq!(Protocol::choose("auto", "http://localhost:11434"), Protocol::Ollama);
        assert_eq!(Protocol::choose("auto", "http://h/api/chat"), Protocol::Ollama);
        assert_eq!(Protocol::choose("auto", "https://api.openai.com/v1"), Protocol::OpenAi);
        assert_eq!(Protocol::choose("ollama", "http://h/v1"), Protocol::Ollama);
        assert_eq!(Protocol::OpenAi.endpoint("https://api.openai.com/v1/"), "https://api.openai.com/v1/chat/completions");
        assert_eq!(Protocol::OpenAi.endpoint("http://h/v1/chat/completions"), "http://h/v1/chat/completions");
        assert_eq!(Protocol::Ollama.endpoint("http://h:11434"), "http://h:11434/api/chat");
        assert_eq!(Protocol::Ollama.endpoint("http://h:11434/api"), "http://h:11434/api/chat");
    }

    #[test]
    fn request_bodies_follow_the_protocols() {
        let u = user_prompt(&question());
        assert!(u.contains("country_code") && u.contains("\"US\""));
        let o = request_body(Protocol::OpenAi, "gpt-4o-mini", SYSTEM_PROMPT, &u);
        assert_eq!(o["messages"][1]["content"], u);
        assert_eq!(o["response_format"]["type"], "json_object");
        assert_eq!(o["temperature"], 0);
        let l = request_body(Protocol::Ollama, "llama3", SYSTEM_PROMPT, &u);
        assert_eq!(l["stream"], false);
        assert_eq!(l["format"], "json");
    }

    #[test]
    fn replies_are_parsed() {
        let openai = r#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"{\"target\":\"country_code\"}"}}],"usage":{"prompt_tokens":120,"completion_tokens":9}}"#;
        assert_eq!(
            parse_reply(Protocol::OpenAi, openai).unwrap(),
            Reply { content: "{\"target\":\"country_code\"}".into(), tokens_in: 120, tokens_out: 9 }
        );
        let ollama = r#"{"model":"llama3","message":{"role":"assistant","content":"{}"},"done":true,"prompt_eval_count":50,"eval_count":7}"#;
        assert_eq!(parse_reply(Protocol::Ollama, ollama).unwrap().tokens_in, 50);
        assert!(matches!(parse_reply(Protocol::OpenAi, "<html>502</html>"), Err(LlmError::Garbage(_))));
        assert!(matches!(parse_reply(Protocol::OpenAi, "{\"choices\":[]}"), Err(LlmError::Garbage(_))));
    }

    #[test]
    fn answers_are_validated() {
        let cands = vec!["country_code".to_string(), "region".to_string()];
        let a = parse_answer("```json\n{\"target\": \"country_code\", \"confidence\": 0.93, \"reason\": \"ISO codes\"}\n```", &cands).unwrap();
        assert_eq!((a.target.as_deref(), a.confidence), (Some("country_code"), 0.93));
        assert_eq!(parse_answer("{\"target\": null, \"reason\": \"no\"}", &cands).unwrap().target, None);
        assert_eq!(parse_answer("{\"target\": \"none\"}", &cands).unwrap().target, None);
        assert_eq!(parse_answer("{\"target\": \"nation\"}", &cands), Err(LlmError::Hallucinated("nation".into())));
        assert!(matches!(parse_answer("I think it is country_code", &cands), Err(LlmError::Garbage(_))));
        assert!(matches!(parse_answer("{\"target\": 3}", &cands), Err(LlmError::Garbage(_))));
        assert_eq!(parse_answer("{\"target\":\"region\",\"confidence\":7}", &cands).unwrap().confidence, 1.0);
    }

    #[test]
    fn prices_and_cache_keys() {
        assert!((cost_usd(Protocol::OpenAi, "gpt-4o-mini-2024-07-18", 1_000_000, 0).unwrap() - 0.15).abs() < 1e-9);
        assert!((cost_usd(Protocol::OpenAi, "gpt-4o", 0, 1_000_000).unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(cost_usd(Protocol::OpenAi, "my-local-model", 10, 10), None);
        assert_eq!(cost_usd(Protocol::Ollama, "llama3", 10, 10), Some(0.0));
        let k = cache_key(Protocol::OpenAi, "m", "s", "u");
        assert_eq!(k.len(), 64);
        assert_eq!(k, cache_key(Protocol::OpenAi, "m", "s", "u"));
        assert_ne!(k, cache_key(Protocol::Ollama, "m", "s", "u"));
        assert_ne!(cache_key(Protocol::OpenAi, "ms", "", "u"), cache_key(Protocol::OpenAi, "m", "s", "u"));
    }
}
