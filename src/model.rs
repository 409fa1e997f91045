//! The trained model as a unit (fitted preprocessing + forest + decision threshold + provenance)
//! and its on-disk payload `model.crm`: a versioned binary file with a SHA-256 checksum, so a
//! corrupt, truncated or newer-format file is one clear error on load, never a panic.

use crate::error::{Error, Result};
use crate::features::Encoder;
use crate::forest::{Forest, Node, Tree};
use crate::fsutil::AtomicFile;
use crate::schema::Applicant;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// The payload's file name inside a model directory.
pub const PAYLOAD_FILE: &str = "model.crm";
/// The payload format, as named in the MLmodel flavor.
pub const PAYLOAD_FORMAT: &str = "credrisk-model/1";
const MAGIC: &[u8; 16] = b"CREDRISK-MODEL\0\0";
/// Version 2 added each node's missing-value side; version 1 files (no missing values) still load.
const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 16 + 4 + 8 + 32;

/// Where a model came from and how it was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelInfo {
    pub credrisk_version: String,
    pub created_ms: i64,
    /// The forest's hyperparameters, as logged to MLflow.
    pub params: serde_json::Value,
    /// Held-out metrics of the training run (`metrics.json`).
    pub metrics: serde_json::Value,
    pub n_train: usize,
    /// SHA-256 of the training data file.
    pub data_sha256: String,
    /// The MLflow run the model was trained in (None: trained without tracking, or a model
    /// written before credrisk recorded it). The loader refuses a model whose run differs from
    /// the run its URI names.
    #[serde(default)]
    pub run_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub encoder: Encoder,
    pub forest: Forest,
    /// `approved` iff P(approved) >= threshold.
    pub threshold: f64,
    pub info: ModelInfo,
}

#[derive(Serialize, Deserialize)]
struct Header {
    encoder: Encoder,
    threshold: f64,
    info: ModelInfo,
    n_features: usize,
}

impl Model {
    /// P(approved) for one applicant.
    pub fn probability(&self, a: &Applicant) -> f64 {
        self.forest.predict(&self.encoder.encode(a))
    }

    /// Writes `dir/model.crm` atomically (the directory must exist).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let body = self.encode_body()?;
        let mut file = AtomicFile::create(dir.join(PAYLOAD_FILE))?;
        let digest = Sha256::digest(&body);
        let write = |f: &mut AtomicFile| -> std::io::Result<()> {
            f.write_all(MAGIC)?;
            f.write_all(&FORMAT_VERSION.to_le_bytes())?;
            f.write_all(&(body.len() as u64).to_le_bytes())?;
            f.write_all(&digest)?;
            f.write_all(&body)
        };
        write(&mut file).map_err(|e| Error::io(dir.join(PAYLOAD_FILE), e))?;
        file.commit()
    }

    /// Loads `dir/model.crm` (or the file itself when given a file path).
    pub fn load(path: &Path) -> Result<Model> {
        let file = if path.is_dir() { path.join(PAYLOAD_FILE) } else { path.to_path_buf() };
        let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
        Model::decode(&bytes).map_err(|message| Error::bad_file(&file, message))
    }

    fn encode_body(&self) -> Result<Vec<u8>> {
        let header = Header {
            encoder: self.encoder.clone(),
            threshold: self.threshold,
            info: self.info.clone(),
            n_features: self.forest.n_features,
        };
        let json = serde_json::to_vec(&header).map_err(|e| Error::Internal(format!("model header: {e}")))?;
        let mut body = Vec::with_capacity(json.len() + 64 * self.n_nodes());
        body.extend_from_slice(&(json.len() as u64).to_le_bytes());
        body.extend_from_slice(&json);
        body.extend_from_slice(&(self.forest.trees.len() as u64).to_le_bytes());
        for tree in &self.forest.trees {
            body.extend_from_slice(&(tree.nodes.len() as u64).to_le_bytes());
            for n in &tree.nodes {
                for f in [n.threshold, n.value, n.cover] {
                    body.extend_from_slice(&f.to_le_bytes());
                }
                for u in [n.feature, n.left, n.right] {
                    body.extend_from_slice(&u.to_le_bytes());
                }
                body.push(u8::from(n.default_left));
            }
        }
        Ok(body)
    }

    fn n_nodes(&self) -> usize {
        self.forest.trees.iter().map(|t| t.nodes.len()).sum()
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Model, String> {
        if bytes.len() < HEADER_LEN || &bytes[..16] != MAGIC {
            return Err("not a credrisk model file (bad magic or too short)".into());
        }
        let mut r = Reader { bytes: &bytes[16..] };
        let version = r.u32()?;
        if version != FORMAT_VERSION && version != 1 {
            return Err(format!(
                "model format version {version} is not supported by this credrisk (it reads version {FORMAT_VERSION}); {}",
                if version > FORMAT_VERSION { "upgrade credrisk" } else { "retrain the model" }
            ));
        }
        let body_len = r.u64()? as usize;
        let digest = r.take(32)?.to_vec();
        if r.bytes.len() != body_len {
            return Err(format!(
                "truncated or padded: body is {} bytes, header says {body_len}",
                r.bytes.len()
            ));
        }
        if Sha256::digest(r.bytes).as_slice() != digest.as_slice() {
            return Err("checksum mismatch: the file is corrupt".into());
        }
        decode_body(r.bytes, version)
    }
}

fn decode_body(body: &[u8], version: u32) -> std::result::Result<Model, String> {
    let mut r = Reader { bytes: body };
    let json_len = r.u64()? as usize;
    let header: Header =
        serde_json::from_slice(r.take(json_len)?).map_err(|e| format!("bad model header: {e}"))?;
    let encoder = header.encoder.validated()?;
    if header.n_features != encoder.n_features() {
        return Err("the forest and the encoding disagree on the number of features".into());
    }
    let n_trees = r.u64()? as usize;
    let mut trees = Vec::with_capacity(n_trees.min(100_000));
    for t in 0..n_trees {
        let n_nodes = r.u64()? as usize;
        let mut nodes = Vec::with_capacity(n_nodes.min(r.bytes.len() / 36));
        for _ in 0..n_nodes {
            let (threshold, value, cover) = (r.f64()?, r.f64()?, r.f64()?);
            let (feature, left, right) = (r.u32()?, r.u32()?, r.u32()?);
            let default_left = match version {
                1 => false,
                _ => match r.take(1)?[0] {
                    0 => false,
                    1 => true,
                    other => return Err(format!("tree {t}: bad missing-value flag {other}")),
                },
            };
            nodes.push(Node { threshold, value, cover, feature, left, right, default_left });
        }
        let tree = Tree { nodes };
        check_tree(&tree, header.n_features).map_err(|e| format!("tree {t}: {e}"))?;
        trees.push(tree);
    }
    if !r.bytes.is_empty() || trees.is_empty() {
        return Err("malformed forest section".into());
    }
    if !(0.0..=1.0).contains(&header.threshold) {
        return Err(format!("threshold {} is not a probability", header.threshold));
    }
    let forest = Forest { n_features: header.n_features, trees };
    Ok(Model { encoder, forest, threshold: header.threshold, info: header.info })
}

/// The structural guarantees prediction and TreeSHAP rely on, so that a crafted file cannot make
/// them index out of bounds or loop.
pub fn check_tree(tree: &Tree, n_features: usize) -> std::result::Result<(), String> {
    if tree.nodes.is_empty() {
        return Err("no nodes".into());
    }
    for (i, n) in tree.nodes.iter().enumerate() {
        if !(n.value.is_finite() && n.cover.is_finite() && n.cover > 0.0) {
            return Err(format!("node {i} has a non-finite value or a cover that is not positive"));
        }
        if n.is_leaf() {
            if n.right != Node::LEAF {
                return Err(format!("node {i} has one child"));
            }
            continue;
        }
        let children_ok =
            [n.left, n.right].iter().all(|&c| (c as usize) > i && (c as usize) < tree.nodes.len());
        if !children_ok || n.feature as usize >= n_features || n.threshold.is_nan() {
            return Err(format!("node {i} has a child, feature or threshold out of range"));
        }
    }
    Ok(())
}

/// A bounds-checked little-endian cursor.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err("unexpected end of file".into());
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn f64(&mut self) -> std::result::Result<f64, String> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ApplicantTable;
    use crate::features::Encoder;
    use serde_json::json;

    fn model() -> Model {
        let a = Applicant::from_json(&json!({
            "age": 45, "gender": "f", "region": "Maule", "education_level": "media",
            "marital_status": "casado", "housing_status": "arriendo", "dependents": 2,
            "income": 800000, "employment_years": 6, "credit_history_months": 84, "num_loans": 2,
            "avg_monthly_payment": 150000, "delinquency_rate": 0.05, "credit_inquiries": 1,
            "regional_cpi": 0.034, "regional_unemployment": 0.086
        }))
        .unwrap();
        let table = ApplicantTable { applicants: vec![a], approval_score: None, approved: Some(vec![true]) };
        let encoder = Encoder::fit(&table).unwrap();
        let split = Node {
            threshold: 600_000.0,
            value: 0.5,
            cover: 4.0,
            feature: 7,
            left: 1,
            right: 2,
            default_left: false,
        };
        let tree = Tree { nodes: vec![split, Node::leaf(0.25, 2.0), Node::leaf(0.75, 2.0)] };
        let forest = Forest { n_features: encoder.n_features(), trees: vec![tree.clone(), tree] };
        Model { encoder, forest, threshold: 0.5, info: ModelInfo { n_train: 1, ..Default::default() } }
    }

    #[test]
    fn round_trips_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let m = model();
        m.save(dir.path()).unwrap();
        let back = Model::load(dir.path()).unwrap();
        assert_eq!(back.forest, m.forest);
        assert_eq!((back.threshold, &back.info), (m.threshold, &m.info));
        // NaN (an unseen category's rate) is not equal to itself: compare the serialised encoders.
        let json = |e: &Encoder| serde_json::to_string(e).unwrap();
        assert_eq!(json(&back.encoder), json(&m.encoder));
    }

    #[test]
    fn corrupt_truncated_and_newer_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        model().save(dir.path()).unwrap();
        let path = dir.path().join(PAYLOAD_FILE);
        let good = std::fs::read(&path).unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (good[..good.len() - 10].to_vec(), "truncated"),
            (
                {
                    let mut b = good.clone();
                    let n = b.len();
                    b[n - 3] ^= 0xff;
                    b
                },
                "checksum",
            ),
            (
                {
                    let mut b = good.clone();
                    b[16] = 3;
                    b
                },
                "upgrade credrisk",
            ),
            (b"{\"json\": true}".to_vec(), "not a credrisk model"),
            (Vec::new(), "not a credrisk model"),
        ];
        for (bytes, expected) in cases {
            std::fs::write(&path, &bytes).unwrap();
            let err = Model::load(dir.path()).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn a_tree_that_points_backwards_is_rejected() {
        let mut tree = model().forest.trees[0].clone();
        tree.nodes[0].left = 0;
        assert!(check_tree(&tree, 40).is_err());
    }
}
