//! The `credrisk-forest/1` JSON export of a forest (docs/forest-dump.md): written so
//! independent tools (the real `shap` package, NumPy) compute on exactly our trees, and read back
//! with every structural rule checked and every float bit for bit.

mod json;

use super::{Forest, Node, Tree};
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use json::Json;
use serde::Serialize;
use std::path::Path;

/// The `format` tag of the dump.
pub const FORMAT: &str = "credrisk-forest/1";

/// Relative tolerance of "a parent's cover is the sum of its children's".
const COVER_TOLERANCE: f64 = 1e-9;

/// How inputs are compared with thresholds: `Float32` (scikit-learn's exports) means each input
/// is cast to `f32` first; credrisk's own dumps are `Float64` (the key is omitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputDtype {
    Float64,
    Float32,
}

/// A dump read back: the forest, its encoded column names (in feature-vector order) and the
/// input precision its thresholds assume.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestDump {
    pub forest: Forest,
    pub feature_names: Vec<String>,
    pub input_dtype: InputDtype,
}

/// One tree as the dump's six parallel arrays (-1 marks a leaf's children).
#[derive(Debug, Clone, PartialEq, Serialize)]
struct TreeArrays {
    children_left: Vec<i64>,
    children_right: Vec<i64>,
    feature: Vec<i64>,
    threshold: Vec<f64>,
    value: Vec<f64>,
    cover: Vec<f64>,
    /// The child a missing value (NaN) goes to, as shap's `children_default` (-1 at leaves).
    /// Optional on read: a dump without it routes missing values right.
    children_default: Vec<i64>,
}

#[derive(Serialize)]
struct DumpOut<'a> {
    format: &'static str,
    feature_names: &'a [String],
    trees: Vec<TreeArrays>,
}

impl Forest {
    /// The dump as a JSON value. Internal nodes' `value` is written as the cover-weighted mean of
    /// their children (what the format asks for), leaves' values and all thresholds and covers
    /// exactly as they are.
    pub fn to_dump(&self, feature_names: &[String]) -> Result<serde_json::Value> {
        let out = self.dump_out(feature_names)?;
        serde_json::to_value(&out).map_err(|e| Error::Internal(format!("forest dump: {e}")))
    }

    /// Writes the dump to `path` atomically (temp file + rename).
    pub fn write_dump(&self, feature_names: &[String], path: impl AsRef<Path>) -> Result<()> {
        let out = self.dump_out(feature_names)?;
        let mut file = AtomicFile::create(path.as_ref())?;
        serde_json::to_writer(file.writer(), &out).map_err(|e| Error::io(path.as_ref(), e.into()))?;
        file.commit()
    }

    /// Parses and validates dump text (see [`read_dump`]).
    pub fn from_dump(text: &str) -> std::result::Result<ForestDump, String> {
        parse_dump(text)
    }

    fn dump_out<'a>(&self, feature_names: &'a [String]) -> Result<DumpOut<'a>> {
        check_feature_names(feature_names).map_err(Error::Usage)?;
        if feature_names.len() != self.n_features {
            return Err(Error::Usage(format!(
                "{} feature names for a forest of {} features",
                feature_names.len(),
                self.n_features
            )));
        }
        if self.trees.is_empty() {
            return Err(Error::Internal("cannot export a forest without trees".into()));
        }
        let trees: Vec<TreeArrays> = self.trees.iter().map(tree_arrays).collect();
        for (t, arrays) in trees.iter().enumerate() {
            // Never write a file our own reader (or the oracle) would refuse.
            validate_tree(arrays, self.n_features)
                .map_err(|e| Error::Internal(format!("trees[{t}]: {e}")))?;
        }
        Ok(DumpOut { format: FORMAT, feature_names, trees })
    }
}

/// Reads and validates a dump file; every problem is one `BadFile` error naming the tree, array
/// and node.
pub fn read_dump(path: impl AsRef<Path>) -> Result<ForestDump> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_dump(&text).map_err(|message| Error::bad_file(path, message))
}

/// Parses and validates dump text; the error is a sentence without the file name.
pub fn parse_dump(text: &str) -> std::result::Result<ForestDump, String> {
    let doc = json::parse(text)?;
    if !matches!(doc, Json::Object(_)) {
        return Err(format!("a {FORMAT} dump must be a JSON object, found {}", doc.kind()));
    }
    match doc.get("format") {
        Some(Json::String(f)) if f == FORMAT => {}
        Some(other) => return Err(format!("\"format\" must be \"{FORMAT}\", found {}", describe(other))),
        None => return Err(format!("missing \"format\" (expected \"{FORMAT}\")")),
    }
    let feature_names = read_feature_names(doc.get("feature_names"))?;
    let input_dtype = match doc.get("input_dtype") {
        None => InputDtype::Float64,
        Some(Json::String(s)) if s == "float64" => InputDtype::Float64,
        Some(Json::String(s)) if s == "float32" => InputDtype::Float32,
        Some(other) => {
            return Err(format!(
                "\"input_dtype\" must be \"float64\" or \"float32\", found {}",
                describe(other)
            ));
        }
    };
    let trees = match doc.get("trees") {
        Some(Json::Array(trees)) if !trees.is_empty() => trees,
        Some(Json::Array(_)) => return Err("\"trees\" is empty".into()),
        Some(other) => return Err(format!("\"trees\" must be an array, found {}", other.kind())),
        None => return Err("missing \"trees\"".into()),
    };
    let n_features = feature_names.len();
    let trees = trees
        .iter()
        .enumerate()
        .map(|(t, tree)| {
            let arrays = read_tree_arrays(tree).map_err(|e| format!("trees[{t}]: {e}"))?;
            validate_tree(&arrays, n_features).map_err(|e| format!("trees[{t}]: {e}"))?;
            Ok(arrays_to_tree(&arrays))
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    Ok(ForestDump { forest: Forest { n_features, trees }, feature_names, input_dtype })
}

fn describe(value: &Json) -> String {
    match value {
        Json::String(s) => format!("{s:?}"),
        other => other.kind().to_string(),
    }
}

fn read_feature_names(value: Option<&Json>) -> std::result::Result<Vec<String>, String> {
    let items = match value {
        Some(Json::Array(items)) => items,
        Some(other) => {
            return Err(format!("\"feature_names\" must be an array of strings, found {}", other.kind()));
        }
        None => return Err("missing \"feature_names\"".into()),
    };
    let names = items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Json::String(s) => Ok(s.clone()),
            other => Err(format!("feature_names[{i}] must be a string, found {}", other.kind())),
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    check_feature_names(&names)?;
    Ok(names)
}

fn check_feature_names(names: &[String]) -> std::result::Result<(), String> {
    if names.is_empty() {
        return Err("\"feature_names\" is empty".into());
    }
    let mut seen = std::collections::HashSet::new();
    for name in names {
        if name.is_empty() {
            return Err("\"feature_names\" has an empty name".into());
        }
        if !seen.insert(name.as_str()) {
            return Err(format!("\"feature_names\" lists {name:?} twice"));
        }
    }
    Ok(())
}

fn read_tree_arrays(tree: &Json) -> std::result::Result<TreeArrays, String> {
    if !matches!(tree, Json::Object(_)) {
        return Err(format!("must be an object, found {}", tree.kind()));
    }
    let array = |key: &str| match tree.get(key) {
        Some(Json::Array(items)) => Ok(items.as_slice()),
        Some(other) => Err(format!("{key} must be an array, found {}", other.kind())),
        None => Err(format!("missing {key}")),
    };
    let ints = |key: &str| {
        array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Json::Number { integer: Some(n), .. } => Ok(*n),
                other => Err(format!("{key}[{i}] must be an integer, found {}", describe_number(other))),
            })
            .collect::<std::result::Result<Vec<i64>, String>>()
    };
    let floats = |key: &str| {
        array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Json::Number { value, .. } => Ok(*value),
                other => Err(format!("{key}[{i}] must be a number, found {}", other.kind())),
            })
            .collect::<std::result::Result<Vec<f64>, String>>()
    };
    Ok(TreeArrays {
        children_left: ints("children_left")?,
        children_right: ints("children_right")?,
        feature: ints("feature")?,
        threshold: floats("threshold")?,
        value: floats("value")?,
        cover: floats("cover")?,
        children_default: match tree.get("children_default") {
            Some(_) => ints("children_default")?,
            None => ints("children_right")?,
        },
    })
}

fn describe_number(value: &Json) -> String {
    match value {
        Json::Number { value, .. } => format!("{value}"),
        other => other.kind().to_string(),
    }
}

/// Every rule of the format: equal lengths, a tree rooted at 0 whose children come after their
/// parent, features in range, finite thresholds, probabilities in [0, 1], positive covers that
/// add up.
fn validate_tree(a: &TreeArrays, n_features: usize) -> std::result::Result<(), String> {
    let n = a.children_left.len();
    let lengths = [
        a.children_right.len(),
        a.feature.len(),
        a.threshold.len(),
        a.value.len(),
        a.cover.len(),
        a.children_default.len(),
    ];
    if n == 0 || lengths.iter().any(|&len| len != n) {
        return Err(format!(
            "the node arrays must be non-empty and of equal length (children_left {n}, \
             children_right {}, feature {}, threshold {}, value {}, cover {}, children_default {})",
            lengths[0], lengths[1], lengths[2], lengths[3], lengths[4], lengths[5]
        ));
    }
    if n >= Node::LEAF as usize {
        return Err(format!("{n} nodes is more than a tree may hold"));
    }
    let mut has_parent = vec![false; n];
    for i in 0..n {
        check_node_numbers(a, i)?;
        let (left, right) = (a.children_left[i], a.children_right[i]);
        if (left == -1) != (right == -1) {
            return Err(format!("node {i} has exactly one child set to -1 (left {left}, right {right})"));
        }
        if left == -1 {
            continue;
        }
        let default = a.children_default[i];
        if default != left && default != right {
            return Err(format!("children_default[{i}] = {default} is neither child of node {i}"));
        }
        let feature = a.feature[i];
        if feature < 0 || feature as usize >= n_features {
            return Err(format!("feature[{i}] = {feature} is outside 0..{}", n_features - 1));
        }
        if !a.threshold[i].is_finite() {
            return Err(format!("threshold[{i}] = {} is not finite", a.threshold[i]));
        }
        for (name, child) in [("children_left", left), ("children_right", right)] {
            if child <= i as i64 || child as usize >= n {
                return Err(format!("{name}[{i}] = {child} is not a node index after {i} and below {n}"));
            }
            if std::mem::replace(&mut has_parent[child as usize], true) {
                return Err(format!("node {child} has two parents"));
            }
        }
        check_cover_sum(a, i, left as usize, right as usize)?;
    }
    // Each node but the root has one parent of smaller index, so all are reachable from node 0.
    if let Some(orphan) = (1..n).find(|&i| !has_parent[i]) {
        return Err(format!("node {orphan} is not reachable from the root"));
    }
    Ok(())
}

fn check_node_numbers(a: &TreeArrays, i: usize) -> std::result::Result<(), String> {
    let value = a.value[i];
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("value[{i}] = {value} is not a class-1 probability in [0, 1]"));
    }
    let cover = a.cover[i];
    if !(cover.is_finite() && cover > 0.0) {
        return Err(format!("cover[{i}] = {cover} must be a finite number > 0"));
    }
    Ok(())
}

fn check_cover_sum(a: &TreeArrays, i: usize, left: usize, right: usize) -> std::result::Result<(), String> {
    let (parent, sum) = (a.cover[i], a.cover[left] + a.cover[right]);
    if (parent - sum).abs() > COVER_TOLERANCE * parent {
        return Err(format!(
            "cover[{i}] = {parent} differs from the sum of its children's covers ({} + {} = {sum})",
            a.cover[left], a.cover[right]
        ));
    }
    Ok(())
}

fn arrays_to_tree(a: &TreeArrays) -> Tree {
    let nodes = (0..a.children_left.len())
        .map(|i| {
            if a.children_left[i] == -1 {
                Node::leaf(a.value[i], a.cover[i])
            } else {
                Node {
                    threshold: a.threshold[i],
                    value: a.value[i],
                    cover: a.cover[i],
                    feature: a.feature[i] as u32,
                    left: a.children_left[i] as u32,
                    right: a.children_right[i] as u32,
                    default_left: a.children_default[i] == a.children_left[i],
                }
            }
        })
        .collect();
    Tree { nodes }
}

fn tree_arrays(tree: &Tree) -> TreeArrays {
    let n = tree.nodes.len();
    let child_index = |c: u32| if c == Node::LEAF { -1 } else { i64::from(c) };
    let mut value: Vec<f64> = tree.nodes.iter().map(|node| node.value).collect();
    // Children come after their parent, so a reverse sweep sees children first.
    // A malformed tree keeps its values here and is refused by `validate_tree` afterwards.
    for i in (0..n).rev() {
        let node = &tree.nodes[i];
        let (l, r) = (node.left as usize, node.right as usize);
        if !node.is_leaf() && l > i && r > i && l < n && r < n {
            let (cl, cr) = (tree.nodes[l].cover, tree.nodes[r].cover);
            value[i] = (cl * value[l] + cr * value[r]) / (cl + cr);
        }
    }
    TreeArrays {
        children_left: tree.nodes.iter().map(|node| child_index(node.left)).collect(),
        children_right: tree.nodes.iter().map(|node| child_index(node.right)).collect(),
        feature: tree
            .nodes
            .iter()
            .map(|node| if node.is_leaf() { -1 } else { i64::from(node.feature) })
            .collect(),
        threshold: tree.nodes.iter().map(|node| if node.is_leaf() { 0.0 } else { node.threshold }).collect(),
        value,
        cover: tree.nodes.iter().map(|node| node.cover).collect(),
        children_default: tree
            .nodes
            .iter()
            .map(|node| child_index(if node.default_left { node.left } else { node.right }))
            .collect(),
    }
}

#[cfg(test)]
mod tests;
