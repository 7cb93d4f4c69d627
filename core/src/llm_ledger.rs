//! The LLM ledger's spool format. Every call (cached, failed, retried or cancelled) is first
//! written as one small file, outside any transaction, and then as a row of `eai.llm_calls`; a
//! drainer inserts the rows whose transaction ended without them (a cancel, an error after the
//! call) and removes the files of rows that are in. So a call that cost money is never missing
//! from the ledger, and never counted twice (`call_uuid` is unique).

use serde::{Deserialize, Serialize};

use crate::error_taxonomy::ErrorClass;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Unique per call attempt: the row's `call_uuid`.
    pub call_uuid: String,
    /// The virtual transaction id (`pg_locks.virtualxid`) of the statement that made the call:
    /// its file is drained only once that transaction is over.
    pub vxid: String,
    /// Seconds since the epoch.
    pub called_at: f64,
    pub called_by: String,
    pub run_id: Option<i64>,
    pub purpose: String,
    pub protocol: String,
    /// The endpoint's origin (scheme://host:port); empty in files of older versions.
    #[serde(default)]
    pub endpoint: String,
    pub model: String,
    pub request_hash: String,
    pub attempt: i32,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub latency_ms: f64,
    pub cost_usd: Option<f64>,
    pub cache_hit: bool,
    pub outcome: String,
    pub error: Option<String>,
}

impl LedgerEntry {
    /// The file name of its spool file.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.call_uuid)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a ledger entry serialises")
    }

    pub fn from_json(text: &str) -> Result<LedgerEntry, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The class of a call that failed (a row of `eai.failures`), `None` for one that did not:
    /// an unreachable endpoint (network, timeout, 408/429/5xx) or a cancelled statement is
    /// transient, a refusal (another 4xx, no price for the role) is configuration, an answer that
    /// is not what was asked (not the JSON, a column that is not a candidate) is bad data.
    pub fn failure_class(&self) -> Option<ErrorClass> {
        match self.outcome.as_str() {
            "ok" => None,
            "unreachable" | "cancelled" => Some(ErrorClass::Transient),
            "refused" => Some(ErrorClass::Configuration),
            "invalid_answer" | "hallucinated" => Some(ErrorClass::BadData),
            _ => Some(ErrorClass::Internal),
        }
    }
}

/// A random (version 4) UUID in its text form, from 16 random bytes.
pub fn uuid_v4(bytes: [u8; 16]) -> String {
    uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LedgerEntry {
        LedgerEntry {
            call_uuid: uuid_v4([7; 16]),
            vxid: "3/1234".into(),
            called_at: 1_700_000_000.25,
            called_by: "al\"ice; --".into(),
            run_id: Some(4),
            purpose: "map_schema".into(),
            protocol: "openai".into(),
            endpoint: "http://127.0.0.1:9".into(),
            model: "gpt-4o-mini".into(),
            request_hash: "ab".repeat(32),
            attempt: 2,
            tokens_in: 120,
            tokens_out: 20,
            latency_ms: 12.5,
            cost_usd: None,
            cache_hit: false,
            outcome: "cancelled".into(),
            error: Some("canceling statement due to user request".into()),
        }
    }

    #[test]
    fn an_entry_survives_its_file() {
        let e = entry();
        assert_eq!(LedgerEntry::from_json(&e.to_json()).unwrap(), e);
        assert!(e.file_name().ends_with(".json") && !e.file_name().contains('/'));
        assert!(LedgerEntry::from_json("{\"call_uuid\": 1}").is_err());
    }

    #[test]
    fn failed_calls_have_a_class_and_good_ones_none() {
        let mut e = entry();
        assert_eq!(e.failure_class(), Some(ErrorClass::Transient));
        for (outcome, class) in [
            ("ok", None),
            ("unreachable", Some(ErrorClass::Transient)),
            ("refused", Some(ErrorClass::Configuration)),
            ("invalid_answer", Some(ErrorClass::BadData)),
            ("hallucinated", Some(ErrorClass::BadData)),
        ] {
            e.outcome = outcome.into();
            assert_eq!(e.failure_class(), class, "{outcome}");
        }
    }

    #[test]
    fn uuids_are_version_4_and_differ_with_their_bytes() {
        let a = uuid_v4([0; 16]);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, uuid_v4([1; 16]));
    }
}
