//! The trained model as a unit (its schema + fitted preprocessing + forest + decision threshold +
//! provenance) and its on-disk payload `model.crm`: a versioned binary file with a SHA-256
//! checksum, so a corrupt, truncated or newer-format file is one clear error on load, never a
//! panic. The schema travels inside the payload's JSON header as the TOML text users write; a
//! model from before schemas were stored has none and is the built-in Chilean table's.

use crate::error::{Error, Result};
use crate::features::{Encoder, SavedEncoder};
use crate::forest::{Forest, Node, Tree};
use crate::fsutil::AtomicFile;
use crate::schema::{Applicant, Schema, builtin};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// The payload's file name inside a model directory.
pub const PAYLOAD_FILE: &str = "model.crm";
/// The model's schema as a readable file beside the payload (the payload's copy is the one used).
pub const SCHEMA_FILE: &str = "schema.toml";
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

/// The payload's JSON header. Adding the optional `schema` kept the format version: older
/// credrisk builds ignore the key (and refuse a non-Chilean model as a features mismatch).
#[derive(Serialize, Deserialize)]
struct Header {
    encoder: SavedEncoder,
    threshold: f64,
    info: ModelInfo,
    n_features: usize,
    /// The schema as TOML; absent in models written before schemas were stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schema: Option<String>,
}

impl Model {
    /// The schema the model was trained on: what its inputs are and how they read.
    pub fn schema(&self) -> &Arc<Schema> {
        self.encoder.schema()
    }

    /// P(approved) for one applicant.
    pub fn probability(&self, a: &Applicant) -> f64 {
        self.forest.predict(&self.encoder.encode(a.values()))
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

    /// Loads `dir/model.crm` (or the file itself when given a file path), after
    /// [`Model::check_file`].
    pub fn load(path: &Path) -> Result<Model> {
        let file = Model::check_file(path)?;
        let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
        Model::decode(&bytes).map_err(|message| Error::bad_file(&file, message))
    }

    /// Checks `dir/model.crm` (or the file) without reading its body, and returns its path: a
    /// regular file (a FIFO would block the reader) whose header has the magic, a version this
    /// credrisk reads and a body length that matches the file's size. What is left to go wrong
    /// (checksum, contents) needs the whole file.
    pub fn check_file(path: &Path) -> Result<std::path::PathBuf> {
        use std::io::Read;
        let file = if path.is_dir() { path.join(PAYLOAD_FILE) } else { path.to_path_buf() };
        let meta = std::fs::metadata(&file).map_err(|e| Error::io(&file, e))?;
        if !meta.is_file() {
            return Err(Error::bad_file(&file, "is not a regular file"));
        }
        let mut header = Vec::with_capacity(HEADER_LEN);
        let opened = std::fs::File::open(&file).map_err(|e| Error::io(&file, e))?;
        opened.take(HEADER_LEN as u64).read_to_end(&mut header).map_err(|e| Error::io(&file, e))?;
        let header = FixedHeader::parse(&header).map_err(|message| Error::bad_file(&file, message))?;
        let body = meta.len().saturating_sub(HEADER_LEN as u64);
        header.check_body_len(body).map_err(|message| Error::bad_file(&file, message))?;
        Ok(file)
    }

    fn encode_body(&self) -> Result<Vec<u8>> {
        let header = Header {
            encoder: self.encoder.saved(),
            threshold: self.threshold,
            info: self.info.clone(),
            n_features: self.forest.n_features,
            schema: Some(self.schema().to_toml()),
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
        let header = FixedHeader::parse(bytes)?;
        let body = &bytes[HEADER_LEN..];
        header.check_body_len(body.len() as u64)?;
        if Sha256::digest(body).as_slice() != header.digest.as_slice() {
            return Err("checksum mismatch: the file is corrupt".into());
        }
        decode_body(body, header.version)
    }
}

/// The fixed header in front of the payload's body: magic, format version, body length, SHA-256.
struct FixedHeader {
    version: u32,
    body_len: u64,
    digest: [u8; 32],
}

impl FixedHeader {
    /// Reads the header from the first [`HEADER_LEN`] bytes of `bytes`.
    fn parse(bytes: &[u8]) -> std::result::Result<FixedHeader, String> {
        if bytes.len() < HEADER_LEN || &bytes[..16] != MAGIC {
            return Err("not a credrisk model file (bad magic or too short)".into());
        }
        let mut r = Reader { bytes: &bytes[16..HEADER_LEN] };
        let version = r.u32()?;
        if version != FORMAT_VERSION && version != 1 {
            return Err(format!(
                "model format version {version} is not supported by this credrisk (it reads version {FORMAT_VERSION}); {}",
                if version > FORMAT_VERSION { "upgrade credrisk" } else { "retrain the model" }
            ));
        }
        let body_len = r.u64()?;
        let mut digest = [0u8; 32];
        digest.copy_from_slice(r.take(32)?);
        Ok(FixedHeader { version, body_len, digest })
    }

    fn check_body_len(&self, actual: u64) -> std::result::Result<(), String> {
        if actual == self.body_len {
            return Ok(());
        }
        Err(format!("truncated or padded: body is {actual} bytes, header says {}", self.body_len))
    }
}

fn decode_body(body: &[u8], version: u32) -> std::result::Result<Model, String> {
    let mut r = Reader { bytes: body };
    let json_len = r.u64()? as usize;
    let header: Header =
        serde_json::from_slice(r.take(json_len)?).map_err(|e| format!("bad model header: {e}"))?;
    let schema = match &header.schema {
        None => builtin(),
        Some(text) => Arc::new(Schema::from_toml(text).map_err(|e| format!("bad stored schema: {e}"))?),
    };
    let encoder = Encoder::from_saved(schema, header.encoder)?;
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

    fn model() -> Model {
        // The seed's example customer, defined once in examples/customer.json.
        let body: serde_json::Value =
            serde_json::from_str(include_str!("../examples/customer.json")).unwrap();
        let a = builtin().parse_applicant(&body["customer"]).unwrap();
        let table = ApplicantTable::from_applicants(builtin(), &[a], Some(vec![true]));
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
        let json = |e: &Encoder| serde_json::to_string(&e.saved()).unwrap();
        assert_eq!(json(&back.encoder), json(&m.encoder));
        assert_eq!(back.schema(), m.schema());
    }

    /// Rewrites the saved model's header with `edit` (checksum recomputed), so a test can make
    /// a model from before schemas were stored, or one whose stored schema is damaged.
    fn with_header(dir: &Path, edit: impl Fn(&mut serde_json::Value)) {
        let path = dir.join(PAYLOAD_FILE);
        let bytes = std::fs::read(&path).unwrap();
        let body = &bytes[HEADER_LEN..];
        let json_len = u64::from_le_bytes(body[..8].try_into().unwrap()) as usize;
        let mut header: serde_json::Value = serde_json::from_slice(&body[8..8 + json_len]).unwrap();
        edit(&mut header);
        let json = serde_json::to_vec(&header).unwrap();
        let mut new_body = (json.len() as u64).to_le_bytes().to_vec();
        new_body.extend_from_slice(&json);
        new_body.extend_from_slice(&body[8 + json_len..]);
        let mut out = bytes[..20].to_vec();
        out.extend_from_slice(&(new_body.len() as u64).to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&new_body));
        out.extend_from_slice(&new_body);
        std::fs::write(&path, out).unwrap();
    }

    #[test]
    fn a_model_without_a_stored_schema_is_the_builtin_tables() {
        let dir = tempfile::tempdir().unwrap();
        model().save(dir.path()).unwrap();
        with_header(dir.path(), |h| {
            h.as_object_mut().unwrap().remove("schema");
        });
        let back = Model::load(dir.path()).unwrap();
        assert!(Arc::ptr_eq(back.schema(), &builtin()));
    }

    #[test]
    fn a_corrupt_stored_schema_is_a_corrupt_model() {
        let dir = tempfile::tempdir().unwrap();
        model().save(dir.path()).unwrap();
        type Damage = fn(&str) -> String;
        let cases: [(&str, Damage); 3] = [
            ("unknown type", |t| t.replacen("type = \"integer\"", "type = \"integr\"", 1)),
            ("do not match", |t| t.replacen("\"f\",", "\"female\",", 1)),
            ("bad stored schema", |_| "name = ".into()),
        ];
        for (expected, damage) in cases {
            model().save(dir.path()).unwrap();
            with_header(dir.path(), |h| {
                let text = h["schema"].as_str().unwrap().to_string();
                h["schema"] = serde_json::Value::String(damage(&text));
            });
            let err = Model::load(dir.path()).unwrap_err();
            assert!(matches!(err, Error::BadFile { .. }), "{err}");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(expected), "{expected}: {err}");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
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
            // Everything but the checksum is found from the header and the file's size alone.
            match Model::check_file(dir.path()) {
                Err(e) => assert!(e.to_string().contains(expected), "{e}"),
                Ok(_) => assert_eq!(expected, "checksum"),
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_being_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join(PAYLOAD_FILE);
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        for checked in [Model::check_file(dir.path()).map(|_| ()), Model::load(dir.path()).map(|_| ())] {
            let e = checked.unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
            assert_eq!(e.exit_code(), 2);
        }
    }

    #[test]
    fn a_tree_that_points_backwards_is_rejected() {
        let mut tree = model().forest.trees[0].clone();
        tree.nodes[0].left = 0;
        assert!(check_tree(&tree, 40).is_err());
    }
}
