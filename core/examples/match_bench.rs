//! Schema-matching accuracy on the shared benchmark data (GDC-SM papers, Valentine example):
//! `cargo run -p eai-core --example match_bench -- <schema-matching dir>` (bench/schema_matching.sh).
//!
//! MRR and top-1 are per source column of the ground truth (rank of its first correct target);
//! Recall@GT is Magneto's: of the N highest-scoring pairs over all source columns (N = ground-truth
//! pairs), the share that are true. The bands are those of the 1:1 assignment's decisions, as
//! map_schema routes them; their precision is over the ground truth's source columns (a decision
//! on a column the ground truth does not cover is listed, not counted), and the auto band's recall
//! is over those columns too. EAI_BENCH_VERBOSE=1 prints every miss with its signals.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use eai_core::embedding::{Embedder, EmbedderConfig};
use eai_core::matching::{assign, combine, ColumnFeatures};
use eai_core::names;

struct Table {
    columns: Vec<String>,
    values: Vec<Vec<Option<String>>>,
}

fn read_csv<R: std::io::Read>(reader: R) -> Table {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let columns: Vec<String> = rdr.headers().expect("header").iter().map(str::to_string).collect();
    let mut values = vec![Vec::new(); columns.len()];
    for rec in rdr.records().flatten() {
        for (i, col) in values.iter_mut().enumerate() {
            col.push(rec.get(i).filter(|v| !v.is_empty()).map(str::to_string));
        }
    }
    Table { columns, values }
}

fn features(table: &Table, embedder: &mut Embedder) -> Vec<ColumnFeatures> {
    let texts: Vec<String> = table.columns.iter().map(|c| names::embedding_text(c, None)).collect();
    let embeddings = embedder.embed_batch(&texts).expect("embeddings");
    table
        .columns
        .iter()
        .zip(&table.values)
        .zip(embeddings)
        .map(|((name, vals), emb)| {
            let vals: Vec<Option<&str>> = vals.iter().map(|v| v.as_deref()).collect();
            // As in the catalog: the value set in the form eai.profile stores.
            let mut f = ColumnFeatures::from_values(name, None, &vals).1;
            f = ColumnFeatures::new(name, &f.type_family, f.values.for_storage(), f.quantiles, f.length_mean, f.null_rate);
            f.with_embedding(emb)
        })
        .collect()
}

/// Decisions of the 1:1 assignment on the ground truth's source columns, per band: (made, right).
#[derive(Default, Clone, Copy)]
struct BandCounts {
    auto: (usize, usize),
    llm: (usize, usize),
    review: (usize, usize),
}

impl BandCounts {
    fn add(&mut self, other: &BandCounts) {
        for (a, b) in [(&mut self.auto, other.auto), (&mut self.llm, other.llm), (&mut self.review, other.review)] {
            a.0 += b.0;
            a.1 += b.1;
        }
    }
}

fn precision((made, right): (usize, usize)) -> String {
    if made == 0 {
        "- (0)".into()
    } else {
        format!("{:.3} ({made})", right as f64 / made as f64)
    }
}

struct Metrics {
    mrr: f64,
    top1: f64,
    recall_gt: f64,
    bands: BandCounts,
    auto_recall: f64,
    /// Auto-approved decisions on source columns the ground truth says nothing about.
    unjudged: Vec<String>,
    seconds: f64,
}

fn evaluate(
    source: &Table,
    target_features: &[ColumnFeatures],
    targets: &[String],
    truth: &HashSet<(String, String)>,
    embedder: &mut Embedder,
) -> Metrics {
    let started = Instant::now();
    let sf = features(source, embedder);
    let scores = combine::score_matrix(&sf, target_features, |_, _| None);
    let seconds = started.elapsed().as_secs_f64();
    let n = targets.len();
    let verbose = std::env::var("EAI_BENCH_VERBOSE").is_ok();
    let show = |i: usize, j: usize| {
        let sig = combine::signals(&sf[i], &target_features[j], None);
        format!(
            "{} {:.3} [name emb {:.2} lex {:.2}, values {:?}, types {:.1}]",
            targets[j],
            scores[i * n + j],
            sig.name_embedding.unwrap_or(0.0),
            sig.lexical,
            sig.value_overlap.map(|v| (v * 100.0).round() / 100.0),
            sig.type_compat
        )
    };
    let truth_sources: HashSet<&str> = truth.iter().map(|(s, _)| s.as_str()).collect();
    let (mut rr, mut top1, mut counted) = (0.0, 0.0, 0usize);
    for (i, name) in source.columns.iter().enumerate() {
        if !truth_sources.contains(name.as_str()) {
            continue;
        }
        counted += 1;
        let ranked = combine::ranked(&scores[i * n..(i + 1) * n]);
        if let Some(pos) = ranked.iter().position(|&j| truth.contains(&(name.clone(), targets[j].clone()))) {
            rr += 1.0 / (pos + 1) as f64;
            if pos == 0 {
                top1 += 1.0;
            } else if verbose {
                eprintln!("  miss {name}: rank {}, top {} / true {}", pos + 1, show(i, ranked[0]), show(i, ranked[pos]));
            }
        }
    }
    // Recall@GT over all pairs.
    let mut pairs: Vec<(f32, usize, usize)> =
        (0..source.columns.len()).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| (scores[i * n + j], i, j)).collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let hits = pairs.iter().take(truth.len()).filter(|(_, i, j)| truth.contains(&(source.columns[*i].clone(), targets[*j].clone()))).count();
    // The bands of the 1:1 assignment's decisions, as map_schema routes them.
    let assignment = assign::one_to_one(&scores, source.columns.len(), n, 0.0);
    let (mut bands, mut unjudged) = (BandCounts::default(), Vec::new());
    for (i, a) in assignment.iter().enumerate() {
        let Some(j) = *a else { continue };
        let row = &scores[i * n..(i + 1) * n];
        let sig = combine::signals(&sf[i], &target_features[j], None);
        let conf = combine::confidence(row[j] as f64, combine::runner_up(row, j), &sig);
        let band = combine::Band::of(conf);
        if !truth_sources.contains(source.columns[i].as_str()) {
            if band == combine::Band::AutoApproved {
                unjudged.push(format!("{} -> {} ({conf:.3})", source.columns[i], targets[j]));
            }
            continue;
        }
        let right = truth.contains(&(source.columns[i].clone(), targets[j].clone()));
        let slot = match band {
            combine::Band::AutoApproved => &mut bands.auto,
            combine::Band::Llm => &mut bands.llm,
            combine::Band::Review => &mut bands.review,
        };
        slot.0 += 1;
        slot.1 += right as usize;
        if verbose && !right && band == combine::Band::AutoApproved {
            eprintln!("  wrong auto: {} -> {} (confidence {conf:.3})", source.columns[i], show(i, j));
        }
    }
    Metrics {
        mrr: rr / counted.max(1) as f64,
        top1: top1 / counted.max(1) as f64,
        recall_gt: hits as f64 / truth.len().max(1) as f64,
        auto_recall: bands.auto.1 as f64 / counted.max(1) as f64,
        bands,
        unjudged,
        seconds,
    }
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "../shared/data/schema-matching".into()));
    if !dir.exists() {
        eprintln!("no benchmark data at {} (skipping)", dir.display());
        return;
    }
    let model_dir = std::env::var("EAI_MODEL_DIR").unwrap_or_else(|_| "/usr/local/share/eai/models/all-MiniLM-L6-v2".into());
    let lib = std::env::var("EAI_ONNXRUNTIME_LIBRARY").unwrap_or_else(|_| "/usr/local/lib/eai/libonnxruntime.so".into());
    let mut embedder = Embedder::load(EmbedderConfig { model_dir: model_dir.into(), onnxruntime_library: lib.into(), threads: 2 }).expect("model");

    // (name, source, index of its target in `targets`, ground truth)
    let mut targets: Vec<Table> = Vec::new();
    let mut cases: Vec<(String, Table, usize, HashSet<(String, String)>)> = Vec::new();
    let gdc = dir.join("gdc-sm");
    let target_path = std::fs::read_dir(gdc.join("target-tables")).expect("targets").flatten().next().expect("a target").path();
    targets.push(read_csv(flate2::read::GzDecoder::new(std::fs::File::open(&target_path).unwrap())));
    let mut papers: Vec<PathBuf> = std::fs::read_dir(gdc.join("ground-truth")).unwrap().flatten().map(|e| e.path()).collect();
    papers.sort();
    for gt in papers {
        let paper = gt.file_stem().unwrap().to_string_lossy().to_string();
        let source = read_csv(std::fs::File::open(gdc.join("input-tables").join(format!("{paper}.csv"))).unwrap());
        let truth: HashSet<(String, String)> =
            csv::Reader::from_path(&gt).unwrap().records().flatten().map(|r| (r[0].to_string(), r[1].to_string())).collect();
        cases.push((format!("gdc/{paper}"), source, 0, truth));
    }
    let val = dir.join("valentine-example");
    if val.exists() {
        let truth_json: Vec<Vec<String>> =
            serde_json::from_str(&std::fs::read_to_string(val.join("ground_truth_from_valentine_example_py.json")).unwrap()).unwrap();
        let truth = truth_json.into_iter().map(|p| (p[0].clone(), p[1].clone())).collect();
        let open = |f: &str| read_csv(std::fs::File::open(val.join(f)).unwrap());
        targets.push(open("authors2.csv"));
        cases.push(("valentine/authors".into(), open("authors1.csv"), targets.len() - 1, truth));
    }

    println!("{:<20} {:>5} {:>5} {:>6} {:>6} {:>10} {:>11} {:>8}", "table", "cols", "MRR", "top-1", "R@GT", "auto prec", "auto recall", "seconds");
    // Each target is profiled and embedded once, however many sources map onto it.
    let mut target_features: HashMap<usize, Vec<ColumnFeatures>> = HashMap::new();
    let mut sums = [0.0f64; 5];
    let (mut gdc_bands, mut gdc_n, mut unjudged) = (BandCounts::default(), 0usize, Vec::new());
    for (name, source, t, truth) in &cases {
        let target = &targets[*t];
        let tf = target_features.entry(*t).or_insert_with(|| features(target, &mut embedder));
        let m = evaluate(source, tf, &target.columns, truth, &mut embedder);
        println!(
            "{:<20} {:>5} {:>5.3} {:>6.3} {:>6.3} {:>10} {:>11.3} {:>8.2}",
            name,
            source.columns.len(),
            m.mrr,
            m.top1,
            m.recall_gt,
            precision(m.bands.auto),
            m.auto_recall,
            m.seconds
        );
        if name.starts_with("gdc/") {
            gdc_n += 1;
            sums[0] += m.mrr;
            sums[1] += m.top1;
            sums[2] += m.recall_gt;
            sums[3] += m.auto_recall;
            sums[4] += m.seconds;
            gdc_bands.add(&m.bands);
            unjudged.extend(m.unjudged.iter().map(|u| format!("{name}: {u}")));
        }
    }
    if gdc_n > 0 {
        let k = gdc_n as f64;
        println!(
            "{:<20} {:>5} {:>5.3} {:>6.3} {:>6.3} {:>10} {:>11.3} {:>8.2}",
            "GDC mean",
            "",
            sums[0] / k,
            sums[1] / k,
            sums[2] / k,
            precision(gdc_bands.auto),
            sums[3] / k,
            sums[4] / k
        );
    }
    if gdc_n > 0 {
        let (a, l, r) = (gdc_bands.auto, gdc_bands.llm, gdc_bands.review);
        println!("\nGDC, 1:1 decisions on ground-truth columns by band (precision, decisions):");
        println!(
            "  auto-approved (> {:.2}) {}   LLM ({:.2}-{:.2}) {}   review (< {:.2}) {}",
            combine::AUTO,
            precision(a),
            combine::LLM,
            combine::AUTO,
            precision(l),
            combine::LLM,
            precision(r)
        );
        if !unjudged.is_empty() {
            println!("  auto-approved on columns the ground truth does not cover (not counted above):");
            unjudged.iter().for_each(|u| println!("    {u}"));
            println!("  auto precision if all of those were wrong: {:.3}", a.1 as f64 / (a.0 + unjudged.len()) as f64);
        }
        let k = gdc_n as f64;
        // For bench/schema_matching.sh, which prints eai against Valentine's matchers.
        println!("EAI_SUMMARY {:.4},{:.4},{:.4},{:.4}", sums[0] / k, sums[1] / k, sums[2] / k, sums[4] / k);
    }
}
