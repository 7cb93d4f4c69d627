//! In-process sentence embeddings: a tokenizer (`tokenizer.json`) and an ONNX sentence-embedding
//! model (`model.onnx`) run by ONNX Runtime, loaded from a shared library at run time. Output is
//! the attention-masked mean of the last hidden state, L2-normalised, which is what
//! sentence-transformers computes for all-MiniLM-L6-v2 and its kin.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use ort::session::Session;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Tokens beyond this are cut, unless the model folder's `sentence_bert_config.json` says otherwise.
pub const DEFAULT_MAX_TOKENS: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("ONNX Runtime library {path} could not be loaded: {reason}")]
    Runtime { path: String, reason: String },
    #[error("model file {path} could not be loaded: {reason}")]
    Model { path: String, reason: String },
    #[error("tokenizer {path} could not be loaded: {reason}")]
    Tokenizer { path: String, reason: String },
    #[error("embedding failed: {0}")]
    Inference(String),
}

/// Where an embedder's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedderConfig {
    /// Folder holding `model.onnx` (or `onnx/model.onnx`) and `tokenizer.json`.
    pub model_dir: PathBuf,
    /// Path of `libonnxruntime.so`.
    pub onnxruntime_library: PathBuf,
    /// Intra-op threads for ONNX Runtime (1 keeps a PostgreSQL backend single-threaded at rest).
    pub threads: usize,
}

pub struct Embedder {
    config: EmbedderConfig,
    session: Session,
    tokenizer: Tokenizer,
    input_names: Vec<String>,
    dimensions: usize,
}

/// The ONNX Runtime library can be loaded once per process; remember which one.
static RUNTIME: std::sync::OnceLock<Result<(PathBuf, ort::environment::Environment), String>> = std::sync::OnceLock::new();

fn runtime(path: &Path) -> Result<&'static ort::environment::Environment, EmbedError> {
    let loaded = RUNTIME.get_or_init(|| {
        let builder = ort::init_from(path).map_err(|e| e.to_string())?;
        let env = builder.with_name("eai").with_telemetry(false).build().map_err(|e| e.to_string())?;
        Ok((path.to_path_buf(), env))
    });
    match loaded {
        Ok((loaded_path, env)) if loaded_path == path => Ok(env),
        Ok((loaded_path, _)) => Err(EmbedError::Runtime {
            path: path.display().to_string(),
            reason: format!(
                "this process already loaded {}; ONNX Runtime can be loaded once per process (reconnect to switch)",
                loaded_path.display()
            ),
        }),
        Err(reason) => Err(EmbedError::Runtime { path: path.display().to_string(), reason: reason.clone() }),
    }
}

fn model_file(dir: &Path) -> PathBuf {
    let direct = dir.join("model.onnx");
    if direct.exists() {
        direct
    } else if dir.join("onnx/model.onnx").exists() {
        dir.join("onnx/model.onnx")
    } else {
        direct
    }
}

fn max_tokens(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("sentence_bert_config.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v.get("max_seq_length").and_then(|m| m.as_u64()))
        .map(|m| m as usize)
        .unwrap_or(DEFAULT_MAX_TOKENS)
}

impl Embedder {
    pub fn load(config: EmbedderConfig) -> Result<Embedder, EmbedError> {
        let env = runtime(&config.onnxruntime_library)?;
        let model_path = model_file(&config.model_dir);
        let model_err = |e: &dyn std::fmt::Display| EmbedError::Model { path: model_path.display().to_string(), reason: e.to_string() };
        if !model_path.exists() {
            return Err(model_err(&"no such file (is eai.model_dir right?)"));
        }
        let session = Session::builder(env)
            .map_err(|e| model_err(&e))?
            .with_intra_threads(config.threads.max(1))
            .map_err(|e| model_err(&e))?
            .with_inter_threads(1)
            .map_err(|e| model_err(&e))?
            .commit_from_file(&model_path)
            .map_err(|e| model_err(&e))?;
        let tok_path = config.model_dir.join("tokenizer.json");
        let tok_err = |e: &dyn std::fmt::Display| EmbedError::Tokenizer { path: tok_path.display().to_string(), reason: e.to_string() };
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| tok_err(&e))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_tokens(&config.model_dir), ..Default::default() }))
            .map_err(|e| tok_err(&e))?;
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }));
        let input_names = session.inputs().iter().map(|i| i.name().to_string()).collect();
        let mut embedder = Embedder { config, session, tokenizer, input_names, dimensions: 0 };
        embedder.dimensions = embedder.embed_batch(&["dimension probe"])?[0].len();
        Ok(embedder)
    }

    pub fn config(&self) -> &EmbedderConfig {
        &self.config
    }

    /// Length of the vectors this model produces (384 for all-MiniLM-L6-v2).
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Embed several texts in one model run.
    pub fn embed_batch<S: AsRef<str>>(&mut self, texts: &[S]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
        let encodings = self.tokenizer.encode_batch(inputs, true).map_err(|e| EmbedError::Inference(e.to_string()))?;
        let batch = encodings.len();
        let seq = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0).max(1);
        let mut ids = Array2::<i64>::zeros((batch, seq));
        let mut mask = Array2::<i64>::zeros((batch, seq));
        let mut types = Array2::<i64>::zeros((batch, seq));
        for (row, enc) in encodings.iter().enumerate() {
            for (col, ((&id, &m), &t)) in enc.get_ids().iter().zip(enc.get_attention_mask()).zip(enc.get_type_ids()).enumerate() {
                ids[[row, col]] = id as i64;
                mask[[row, col]] = m as i64;
                types[[row, col]] = t as i64;
            }
        }
        let infer = |e: ort::Error| EmbedError::Inference(e.to_string());
        let mut feed: Vec<(String, ort::value::DynValue)> = Vec::new();
        for name in &self.input_names {
            let array = match name.as_str() {
                "input_ids" => ids.clone(),
                "attention_mask" => mask.clone(),
                "token_type_ids" => types.clone(),
                other => return Err(EmbedError::Inference(format!("unsupported model input \"{other}\""))),
            };
            feed.push((name.clone(), ort::value::Tensor::from_array(array).map_err(infer)?.into_dyn()));
        }
        let outputs = self.session.run(feed).map_err(infer)?;
        let hidden = outputs[0].try_extract_array::<f32>().map_err(infer)?;
        let shape = hidden.shape().to_vec();
        if shape.len() == 2 {
            // The model already pools: [batch, dim].
            return Ok((0..batch).map(|b| l2_normalize(hidden.slice(ndarray::s![b, ..]).to_vec())).collect());
        }
        if shape.len() != 3 {
            return Err(EmbedError::Inference(format!("unexpected output shape {shape:?}")));
        }
        let dim = shape[2];
        let flat: Vec<f32> = hidden.iter().copied().collect();
        Ok((0..batch)
            .map(|b| {
                let tokens = &flat[b * seq * dim..(b + 1) * seq * dim];
                let row_mask: Vec<i64> = mask.row(b).to_vec();
                l2_normalize(mean_pool(tokens, &row_mask, dim))
            })
            .collect())
    }

    pub fn embed(&mut self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed_batch(&[text])?.remove(0))
    }
}

/// Mean of the token vectors (`tokens` is `seq × dim`, row-major) whose mask is 1.
pub fn mean_pool(tokens: &[f32], mask: &[i64], dim: usize) -> Vec<f32> {
    let mut sum = vec![0f32; dim];
    let mut count = 0f32;
    for (t, &m) in mask.iter().enumerate() {
        if m != 0 {
            for (s, v) in sum.iter_mut().zip(&tokens[t * dim..(t + 1) * dim]) {
                *s += v;
            }
            count += 1.0;
        }
    }
    let count = count.max(1e-9);
    sum.iter_mut().for_each(|s| *s /= count);
    sum
}

/// Scale to unit length (a zero vector stays zero).
pub fn l2_normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_respects_mask() {
        let tokens = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];
        assert_eq!(mean_pool(&tokens, &[1, 1, 0], 2), vec![2.0, 3.0]);
    }

    #[test]
    fn normalisation_and_cosine() {
        let v = l2_normalize(vec![3.0, 4.0]);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert_eq!(l2_normalize(vec![0.0, 0.0]), vec![0.0, 0.0]);
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0], &[1.0]), 0.0);
    }

    /// The real model, installed by scripts/install.sh (EAI_MODEL_DIR / EAI_ONNXRUNTIME_LIBRARY
    /// override the install locations).
    fn installed() -> Option<EmbedderConfig> {
        let model_dir = std::env::var("EAI_MODEL_DIR").unwrap_or_else(|_| "/usr/local/share/eai/models/all-MiniLM-L6-v2".into());
        let lib = std::env::var("EAI_ONNXRUNTIME_LIBRARY").unwrap_or_else(|_| "/usr/local/lib/eai/libonnxruntime.so".into());
        let config = EmbedderConfig { model_dir: model_dir.into(), onnxruntime_library: lib.into(), threads: 1 };
        if config.model_dir.join("tokenizer.json").exists() && config.onnxruntime_library.exists() {
            Some(config)
        } else {
            eprintln!("model not installed: run scripts/install.sh (skipping)");
            None
        }
    }

    #[test]
    fn real_model_matches_sentence_transformers() {
        let Some(config) = installed() else { return };
        let mut e = Embedder::load(config).unwrap();
        assert_eq!(e.dimensions(), 384);
        let v = e.embed_batch(&["customer_email", "client e-mail address", "order total amount"]).unwrap();
        let sim = cosine(&v[0], &v[1]);
        assert!((sim - 0.64).abs() < 0.005, "cosine = {sim}");
        assert!(cosine(&v[0], &v[2]) < sim);
        // Batch and single runs agree (padding does not leak into the mean).
        let single = e.embed("customer_email").unwrap();
        assert!(cosine(&single, &v[0]) > 0.9999);
        let norm: f32 = single.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(e.embed_batch::<&str>(&[]).unwrap().is_empty());
        assert_eq!(e.embed("").unwrap().len(), 384);
    }
}
