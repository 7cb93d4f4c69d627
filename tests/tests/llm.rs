//! LLM disambiguation against a local HTTP stand-in that speaks the real protocols (OpenAI chat
//! completions, Ollama /api/chat). The stand-in is the only mock in the project: no model server
//! runs here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use eai_integration_tests::*;

/// What the stand-in received: (path, authorization header, body).
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// Serve `reply(body) -> (status, response body)` on 127.0.0.1; returns the port and the requests seen.
fn stand_in(reply: fn(&str) -> (u16, String)) -> (u16, Seen) {
    serve(move |body| {
        let (status, response) = reply(body);
        (status, response, String::new())
    })
}

/// As `stand_in`, with extra header lines (`Name: value\r\n`) in each response.
fn serve(reply: impl Fn(&str) -> (u16, String, String) + Send + 'static) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
            let (mut length, mut auth) = (0usize, String::new());
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                let lower = l.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = l["authorization:".len()..].trim().to_string();
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let body = String::from_utf8_lossy(&body).to_string();
            let (status, response, headers) = reply(&body);
            log.lock().unwrap().push((path, auth, body));
            let mut out = stream;
            let _ = write!(
                out,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{response}",
                response.len()
            );
        }
    });
    (port, seen)
}

fn openai(content: &str) -> String {
    serde_like(&format!(
        r#"{{"id":"chatcmpl-1","object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant","content":{}}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":120,"completion_tokens":20,"total_tokens":140}}}}"#,
        json_string(content)
    ))
}

fn json_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn serde_like(s: &str) -> String {
    s.to_string()
}

/// Tables whose `country` → `country_code` decision lands in the 0.70–0.85 band.
fn setup(c: &mut Client) {
    c.batch_execute(
        "CREATE TABLE src (cust_id text, country text);
         INSERT INTO src VALUES ('1', 'US'), ('2', 'DE'), ('3', 'FR');
         CREATE TABLE tgt (customer_id integer, country_code char(2), region text);",
    )
    .unwrap();
}

fn country_decision(c: &mut Client) -> (String, Option<String>, Option<String>, Option<String>) {
    // Rows a volatile function inserts are not visible to the rest of its statement: two queries.
    c.query("SELECT * FROM eai.map_schema('src', 'tgt')", &[]).unwrap();
    let r = c
        .query_one(
            "SELECT status, target_column, reason, decided_by FROM eai.mappings
              WHERE source_column = 'country' ORDER BY mapping_id DESC LIMIT 1",
            &[],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

#[test]
fn an_llm_resolves_the_middle_band_and_is_accounted_for() {
    let (port, seen) = stand_in(|_| (200, openai(r#"{"target": "country_code", "confidence": 0.92, "reason": "two-letter ISO codes"}"#)));
    let (_db, mut c) = fresh_db("llm_ok");
    setup(&mut c);
    c.batch_execute(&format!(
        "SET eai.llm_url = 'http://127.0.0.1:{port}/v1'; SET eai.llm_model = 'gpt-4o-mini'; SET eai.llm_api_key = 'sk-test-123456'"
    ))
    .unwrap();
    let (status, target, reason, by) = country_decision(&mut c);
    assert_eq!((status.as_str(), target.as_deref(), by.as_deref()), ("approved", Some("country_code"), Some("eai:llm:gpt-4o-mini")));
    assert!(reason.unwrap().contains("ISO"));
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "/v1/chat/completions");
        assert_eq!(seen[0].1, "Bearer sk-test-123456");
        assert!(seen[0].2.contains("\"model\":\"gpt-4o-mini\"") && seen[0].2.contains("country_code"));
    }
    let r = c.query_one("SELECT tokens_in, tokens_out, cost_usd, cache_hit, outcome FROM eai.llm_calls", &[]).unwrap();
    assert_eq!((r.get::<_, i64>(0), r.get::<_, i64>(1), r.get::<_, bool>(3), r.get::<_, String>(4)), (120, 20, false, "ok".into()));
    assert!((r.get::<_, f64>(2) - (120.0 * 0.15 + 20.0 * 0.60) / 1e6).abs() < 1e-12);
    // The same question again: served from the cache, no HTTP request.
    let (status, _, _, _) = country_decision(&mut c);
    assert_eq!(status, "approved");
    assert_eq!(seen.lock().unwrap().len(), 1);
    let hits: i64 = c.query_one("SELECT count(*) FROM eai.llm_calls WHERE cache_hit", &[]).unwrap().get(0);
    assert_eq!(hits, 1);
    let usage: i64 = c.query_one("SELECT calls FROM eai.llm_usage", &[]).unwrap().get(0);
    assert_eq!(usage, 2);
}

#[test]
fn garbage_and_hallucinations_go_to_review() {
    let (port, _) = stand_in(|_| (200, openai("I believe the answer is country_code.")));
    let (_db, mut c) = fresh_db("llm_garbage");
    setup(&mut c);
    c.batch_execute(&format!("SET eai.llm_url = 'http://127.0.0.1:{port}/v1'")).unwrap();
    let (status, target, reason, by) = country_decision(&mut c);
    assert_eq!((status.as_str(), target.as_deref(), by), ("pending", Some("country_code"), None));
    assert!(reason.unwrap().contains("not valid JSON"));

    let (port, _) = stand_in(|_| (200, openai(r#"{"target": "nation_iso", "confidence": 0.99, "reason": "sure"}"#)));
    c.batch_execute(&format!("SET eai.llm_url = 'http://127.0.0.1:{port}/v1'")).unwrap();
    let (status, target, reason, _) = country_decision(&mut c);
    assert_eq!((status.as_str(), target.as_deref()), ("pending", Some("country_code")), "a hallucinated column is never used");
    assert!(reason.unwrap().contains("nation_iso"));
    let outcomes: Vec<String> = c.query("SELECT outcome FROM eai.llm_calls ORDER BY call_id", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(outcomes, vec!["invalid_answer", "hallucinated"]);
    // Each is a failure of class bad_data, handled by review (not retried).
    let failures: Vec<(String, String, String)> = c
        .query("SELECT stage, class, action FROM eai.failures ORDER BY failure_id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(failures, vec![("llm".into(), "bad_data".into(), "none".into()); 2]);
    let cached: i64 = c.query_one("SELECT count(*) FROM eai.llm_cache", &[]).unwrap().get(0);
    assert_eq!(cached, 0, "invalid answers are not cached");
}

#[test]
fn a_dead_endpoint_is_transient_and_the_run_finishes_without_leaking_the_key() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // closed again
    let (_db, mut c) = fresh_db("llm_dead");
    setup(&mut c);
    c.batch_execute(&format!(
        "SET eai.llm_url = 'http://127.0.0.1:{port}/v1'; SET eai.llm_api_key = 'sk-very-secret-key'; SET eai.llm_timeout_ms = 2000"
    ))
    .unwrap();
    let decisions: i64 = c.query_one("SELECT count(*) FROM eai.map_schema('src', 'tgt')", &[]).unwrap().get(0);
    assert_eq!(decisions, 2, "the run finishes");
    let r = c.query_one("SELECT status, reason FROM eai.mappings WHERE source_column = 'country'", &[]).unwrap();
    assert_eq!(r.get::<_, String>(0), "pending");
    assert!(r.get::<_, String>(1).contains("unreachable"));
    let all: String = c
        .query_one("SELECT string_agg(coalesce(error, '') || reason, ' ') FROM eai.llm_calls, eai.mappings WHERE reason IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(!all.contains("sk-very-secret-key"), "{all}");
    // Tried again within eai.llm_max_attempts (3), each attempt a ledger row.
    let outcomes: Vec<(i32, String)> =
        c.query("SELECT attempt, outcome FROM eai.llm_calls ORDER BY call_id", &[]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(outcomes, vec![(1, "unreachable".into()), (2, "unreachable".into()), (3, "unreachable".into())]);
    // Each attempt is a transient failure in eai.failures, the key stripped there too.
    let failures: Vec<(String, String, i32, String)> = c
        .query("SELECT stage, class, attempt, message FROM eai.failures ORDER BY failure_id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        failures.iter().map(|f| (f.0.as_str(), f.1.as_str(), f.2)).collect::<Vec<_>>(),
        vec![("llm", "transient", 1), ("llm", "transient", 2), ("llm", "transient", 3)]
    );
    assert!(failures.iter().all(|f| !f.3.contains("sk-very-secret-key")), "{failures:?}");
    // Non-superusers cannot read the key.
    c.batch_execute(
        "DROP ROLE IF EXISTS eai_it_reader; CREATE ROLE eai_it_reader; GRANT USAGE ON SCHEMA eai TO eai_it_reader; SET ROLE eai_it_reader",
    )
    .unwrap();
    let shown = c.query("SHOW eai.llm_api_key", &[]);
    assert!(shown.is_err(), "non-superusers cannot SHOW the key");
    c.batch_execute("RESET ROLE; DROP OWNED BY eai_it_reader; DROP ROLE eai_it_reader").ok();
}

#[test]
fn ollama_speaks_its_own_protocol() {
    let (port, seen) = stand_in(|_| {
        (
            200,
            format!(
                r#"{{"model":"llama3","created_at":"2026-01-01T00:00:00Z","message":{{"role":"assistant","content":{}}},"done":true,"prompt_eval_count":80,"eval_count":12}}"#,
                json_string(r#"{"target":"country_code","confidence":0.8,"reason":"codes"}"#)
            ),
        )
    });
    let (_db, mut c) = fresh_db("llm_ollama");
    setup(&mut c);
    c.batch_execute(&format!("SET eai.llm_url = 'http://127.0.0.1:{port}'; SET eai.llm_provider = 'ollama'; SET eai.llm_model = 'llama3'")).unwrap();
    let (status, target, _, by) = country_decision(&mut c);
    assert_eq!((status.as_str(), target.as_deref(), by.as_deref()), ("approved", Some("country_code"), Some("eai:llm:llama3")));
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, "/api/chat");
    assert!(seen[0].2.contains("\"stream\":false"));
    let r = c.query_one("SELECT protocol, tokens_in, tokens_out, cost_usd FROM eai.llm_calls", &[]).unwrap();
    assert_eq!((r.get::<_, String>(0), r.get::<_, i64>(1), r.get::<_, i64>(2), r.get::<_, f64>(3)), ("ollama".into(), 80, 12, 0.0));
}

#[test]
fn a_redirect_to_another_host_never_carries_the_key() {
    // The other origin would answer well; it must never be asked.
    let (other, other_seen) = stand_in(|_| (200, openai(r#"{"target": "country_code", "confidence": 0.92, "reason": "x"}"#)));
    let location = format!("Location: http://127.0.0.1:{other}/v1/chat/completions\r\n");
    let (port, seen) = serve(move |_| (307, String::new(), location.clone()));
    let (_db, mut c) = fresh_db("llm_redirect");
    setup(&mut c);
    c.batch_execute(&format!("SET eai.llm_url = 'http://127.0.0.1:{port}/v1'; SET eai.llm_api_key = 'sk-redirect-secret'")).unwrap();
    let (status, _, reason, _) = country_decision(&mut c);
    assert_eq!(status, "pending", "a refused endpoint leaves the decision to a person");
    assert!(reason.unwrap_or_default().contains("redirect"));
    assert_eq!(seen.lock().unwrap().len(), 1, "the endpoint was asked once");
    assert!(other_seen.lock().unwrap().is_empty(), "the other host was never asked: {:?}", other_seen.lock().unwrap());
    let error: String = c.query_one("SELECT error FROM eai.llm_calls", &[]).unwrap().get(0);
    assert!(error.contains("another origin") && !error.contains("sk-redirect-secret"), "{error}");
}

/// A stand-in that answers the n-th request (0-based) with `reply(n)`.
fn serve_nth(reply: impl Fn(usize) -> (u16, String, String) + Send + 'static) -> (u16, Seen) {
    let n = std::sync::atomic::AtomicUsize::new(0);
    serve(move |_| reply(n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)))
}

fn ok_answer() -> String {
    openai(r#"{"target": "country_code", "confidence": 0.92, "reason": "two-letter ISO codes"}"#)
}

#[test]
fn retry_after_is_honoured_within_the_retry_budget_and_not_beyond() {
    // Busy once, asking for a second: the second attempt answers.
    let (port, seen) = serve_nth(|n| if n == 0 { (429, "{}".into(), "Retry-After: 1\r\n".into()) } else { (200, ok_answer(), String::new()) });
    let (_db, mut c) = fresh_db("llm_retry_after");
    setup(&mut c);
    c.batch_execute(&format!("SET eai.llm_url = 'http://127.0.0.1:{port}/v1'")).unwrap();
    let (status, target, _, _) = country_decision(&mut c);
    assert_eq!((status.as_str(), target.as_deref()), ("approved", Some("country_code")));
    assert_eq!(seen.lock().unwrap().len(), 2);
    let rows: Vec<(i32, String, Option<String>)> = c
        .query("SELECT attempt, outcome, error FROM eai.llm_calls ORDER BY call_id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((rows[0].0, rows[0].1.as_str()), (1, "unreachable"));
    assert!(rows[0].2.as_deref().unwrap_or("").contains("429"), "{rows:?}");
    assert_eq!((rows[1].0, rows[1].1.as_str()), (2, "ok"));

    // Asking for an hour, beyond the budget: no second attempt, and the reason says why.
    let (port, seen) = serve_nth(|_| (503, "{}".into(), "Retry-After: 3600\r\n".into()));
    let (_db, mut c) = fresh_db("llm_retry_beyond");
    setup(&mut c);
    c.batch_execute(&format!("SET eai.llm_url = 'http://127.0.0.1:{port}/v1'")).unwrap();
    let (status, _, reason, _) = country_decision(&mut c);
    assert_eq!(status, "pending");
    let reason = reason.unwrap_or_default();
    assert!(reason.contains("3600.0 s") && reason.contains("retry budget"), "{reason}");
    assert_eq!(seen.lock().unwrap().len(), 1, "not asked again");
}

/// The circuit breaker of an LLM endpoint (issue 14, item 4): an endpoint that keeps answering
/// 503 opens its breaker; the next run does not call it at all (the pair goes to review, saying
/// why); after the open period one probe, with one attempt, goes through.
#[test]
fn an_endpoint_that_keeps_failing_is_not_called_until_its_probe() {
    let (port, seen) = serve_nth(|_| (503, "{}".into(), String::new()));
    let (_db, mut c) = fresh_db("llm_breaker");
    setup(&mut c);
    c.batch_execute(&format!(
        "SET eai.llm_url = 'http://127.0.0.1:{port}/v1'; SET eai.llm_retry_budget_ms = 5000; SET eai.breaker_consecutive_failures = 3;
         SET eai.breaker_open_for = '2s'; SET client_min_messages = error"
    ))
    .unwrap();
    let (status, _, _, _) = country_decision(&mut c);
    assert_eq!(status, "pending");
    assert_eq!(seen.lock().unwrap().len(), 3, "three attempts");
    let state: (String, String) =
        c.query_one("SELECT state, target FROM eai.breakers WHERE scope = 'llm'", &[]).map(|r| (r.get(0), r.get(1))).unwrap();
    assert_eq!(state, ("open".into(), format!("http://127.0.0.1:{port}")));
    let (status, _, reason, _) = country_decision(&mut c);
    assert_eq!(status, "pending");
    assert!(reason.as_deref().unwrap_or("").contains("not called") && reason.as_deref().unwrap_or("").contains("circuit breaker"), "{reason:?}");
    assert_eq!(seen.lock().unwrap().len(), 3, "not called while open");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    country_decision(&mut c);
    assert_eq!(seen.lock().unwrap().len(), 4, "one probe, one attempt");
    let moves: Vec<(String, String)> = c
        .query("SELECT from_state, to_state FROM eai.breaker_transitions ORDER BY transition_id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(moves, vec![("closed".into(), "open".into()), ("open".into(), "half_open".into()), ("half_open".into(), "open".into())]);
    let endpoints: Vec<Option<String>> = c.query("SELECT DISTINCT endpoint FROM eai.llm_calls", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(endpoints, vec![Some(format!("http://127.0.0.1:{port}"))], "the ledger names the endpoint's origin, nothing more");
}

#[test]
fn a_cancelled_call_is_in_the_ledger_once() {
    let (port, seen) = serve_nth(|_| {
        std::thread::sleep(std::time::Duration::from_secs(3));
        (200, ok_answer(), String::new())
    });
    let (_db, mut c) = fresh_db("llm_cancelled");
    setup(&mut c);
    c.batch_execute(&format!("SET eai.llm_url = 'http://127.0.0.1:{port}/v1'; SET eai.llm_timeout_ms = 30000")).unwrap();
    c.batch_execute("SET statement_timeout = '1s'").unwrap();
    let err = c.query("SELECT * FROM eai.map_schema('src', 'tgt')", &[]).unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
    c.batch_execute("RESET statement_timeout").unwrap();
    let rows: i64 = c.query_one("SELECT count(*) FROM eai.llm_calls", &[]).unwrap().get(0);
    assert_eq!(rows, 0, "the cancelled statement's own row was rolled back");
    // The next call records it (its spool file outlived the transaction), and the one after that
    // removes the file without counting it twice.
    let (status, _, _, _) = country_decision(&mut c);
    assert_eq!(status, "approved");
    country_decision(&mut c);
    let outcomes: Vec<(String, String)> = c
        .query("SELECT outcome, called_by::text FROM eai.llm_calls WHERE NOT cache_hit ORDER BY called_at", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(outcomes, vec![("cancelled".into(), "postgres".into()), ("ok".into(), "postgres".into())]);
    assert_eq!(seen.lock().unwrap().len(), 2);
    // The cancelled call is one transient failure, recorded with its ledger row, once.
    let failures: Vec<(String, String)> =
        c.query("SELECT stage, class FROM eai.failures", &[]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(failures, vec![("llm".into(), "transient".into())]);
}

#[test]
fn a_role_that_cannot_see_the_key_pays_in_its_own_name_and_only_for_priced_models() {
    let (port, seen) = serve_nth(|_| (200, ok_answer(), String::new()));
    let (_db, mut c) = fresh_db("llm_attribution");
    setup(&mut c);
    c.batch_execute(&format!(
        "DROP ROLE IF EXISTS llm_it_engineer; CREATE ROLE llm_it_engineer IN ROLE eai_engineer;
         GRANT SELECT ON src, tgt TO llm_it_engineer;
         SET eai.llm_url = 'http://127.0.0.1:{port}/v1'; SET eai.llm_api_key = 'sk-attribution-key';
         SET ROLE llm_it_engineer; SET eai.llm_model = 'someones-private-model'"
    ))
    .unwrap();
    let (status, _, reason, _) = country_decision(&mut c);
    assert_eq!(status, "pending");
    assert!(reason.unwrap_or_default().contains("no price"));
    assert!(seen.lock().unwrap().is_empty(), "an unpriced model is not called for a role that is not superuser");
    c.batch_execute("SET eai.llm_model = 'gpt-4o'").unwrap();
    let (status, _, _, _) = country_decision(&mut c);
    assert_eq!(status, "approved");
    c.batch_execute("RESET ROLE").unwrap();
    let rows: Vec<(String, String, String, Option<f64>)> = c
        .query("SELECT model, outcome, called_by::text, cost_usd FROM eai.llm_calls ORDER BY call_id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((rows[0].1.as_str(), rows[0].2.as_str(), rows[0].3), ("refused", "llm_it_engineer", None));
    assert_eq!((rows[1].0.as_str(), rows[1].1.as_str(), rows[1].2.as_str()), ("gpt-4o", "ok", "llm_it_engineer"));
    assert!(rows[1].3.unwrap_or(0.0) > 0.0, "{rows:?}");
    c.batch_execute("DROP OWNED BY llm_it_engineer; DROP ROLE llm_it_engineer").unwrap();
}
