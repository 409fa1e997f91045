//! Tests of the dump reader and writer: the spec's example, exact round trips, every refusal.

use super::*;
use crate::forest::spec_tree;

/// The worked example of docs/forest-dump.md, verbatim.
const SPEC_EXAMPLE: &str = r#"{"format": "credrisk-forest/1",
 "feature_names": ["age", "income", "gender=f"],
 "trees": [{"children_left":  [1, 3, 5, -1, -1, -1, -1],
            "children_right": [2, 4, 6, -1, -1, -1, -1],
            "feature":        [0, 1, 0, -1, -1, -1, -1],
            "threshold":      [0.5, 2.0, 1.5, 0, 0, 0, 0],
            "value":          [0.64, 0.4, 0.8, 0.1, 0.5, 0.6, 0.9],
            "cover":          [10, 4, 6, 1, 3, 2, 4]}]}"#;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("f{i}")).collect()
}

#[test]
fn the_spec_example_reads_as_the_hand_checked_tree() {
    let dump = parse_dump(SPEC_EXAMPLE).unwrap();
    assert_eq!(dump.feature_names, ["age", "income", "gender=f"]);
    assert_eq!(dump.input_dtype, InputDtype::Float64);
    assert_eq!(dump.forest, Forest { n_features: 3, trees: vec![spec_tree()] });
    assert_eq!(dump.forest.predict(&[0.5, 2.0, 0.0]), 0.1);
}

/// A tree whose floats are the awkward kind: 17 significant digits, subnormal, huge, negative.
fn awkward_tree() -> Tree {
    let split = |feature, threshold, left, right, cover| Node {
        threshold,
        value: 0.0,
        cover,
        feature,
        left,
        right,
        default_left: false,
    };
    Tree {
        nodes: vec![
            split(2, 0.1 + 0.2, 1, 2, 7.000000000000001 + 3.0),
            Node { default_left: true, ..split(0, -1.0 / 3.0, 3, 4, 3.0) },
            Node::leaf(std::f64::consts::FRAC_1_PI, 7.000000000000001),
            Node::leaf(5e-324, 1.0),
            Node::leaf(0.6428571428571429, 2.0),
        ],
    }
}

#[test]
fn a_written_dump_reads_back_bit_for_bit() {
    let forest = Forest { n_features: 3, trees: vec![awkward_tree(), spec_tree()] };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forest.json");
    forest.write_dump(&names(3), &path).unwrap();
    let back = read_dump(&path).unwrap();
    assert_eq!(back.feature_names, names(3));
    for (ours, theirs) in forest.trees.iter().zip(&back.forest.trees) {
        assert_eq!(ours.nodes.len(), theirs.nodes.len());
        for (a, b) in ours.nodes.iter().zip(&theirs.nodes) {
            assert_eq!((a.left, a.right, a.cover.to_bits()), (b.left, b.right, b.cover.to_bits()));
            assert_eq!(a.default_left, b.default_left);
            if a.is_leaf() {
                assert_eq!(a.value.to_bits(), b.value.to_bits());
            } else {
                assert_eq!((a.feature, a.threshold.to_bits()), (b.feature, b.threshold.to_bits()));
            }
        }
    }
    // Internal values are the cover-weighted means of the children, as the format asks.
    let root = &back.forest.trees[0].nodes;
    let inner = (1.0 * 5e-324 + 2.0 * 0.6428571428571429) / 3.0;
    assert_eq!(root[1].value, inner);
    let (c1, c2) = (3.0, 7.000000000000001);
    assert_eq!(root[0].value, (c1 * inner + c2 * std::f64::consts::FRAC_1_PI) / (c1 + c2));
    assert_eq!(back.forest.trees[1].nodes[2].value, (2.0 * 0.6 + 4.0 * 0.9) / 6.0);
    // Writing again gives the same bytes.
    let again = dir.path().join("again.json");
    back.forest.write_dump(&names(3), &again).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn to_dump_has_the_format_fields() {
    let forest = Forest { n_features: 3, trees: vec![spec_tree()] };
    let v = forest.to_dump(&names(3)).unwrap();
    assert_eq!(v["format"], "credrisk-forest/1");
    assert_eq!(v["trees"][0]["children_left"], serde_json::json!([1, 3, 5, -1, -1, -1, -1]));
    assert_eq!(v["trees"][0]["feature"], serde_json::json!([0, 1, 0, -1, -1, -1, -1]));
    assert_eq!(v["trees"][0]["cover"], serde_json::json!([10.0, 4.0, 6.0, 1.0, 3.0, 2.0, 4.0]));
    assert!(forest.to_dump(&names(2)).unwrap_err().to_string().contains("2 feature names for a forest of 3"));
}

#[test]
fn a_float32_export_says_so() {
    let text = SPEC_EXAMPLE.replacen("\"trees\"", "\"input_dtype\": \"float32\", \"trees\"", 1);
    assert_eq!(parse_dump(&text).unwrap().input_dtype, InputDtype::Float32);
}

/// Each broken variant of the spec example and a phrase its error must contain.
#[test]
fn every_broken_rule_is_a_precise_error() {
    let cases: &[(&str, &str, &str)] = &[
        ("\"credrisk-forest/1\"", "\"credrisk-forest/2\"", "\"format\" must be \"credrisk-forest/1\""),
        ("[\"age\", \"income\", \"gender=f\"]", "[\"age\", \"age\", \"x\"]", "lists \"age\" twice"),
        ("\"cover\":          [10, 4, 6, 1, 3, 2, 4]", "\"cover\": [10, 4, 6, 1, 3, 2]", "equal length"),
        (
            "[1, 3, 5, -1, -1, -1, -1]",
            "[1, 3, 7, -1, -1, -1, -1]",
            "children_left[2] = 7 is not a node index",
        ),
        (
            "[2, 4, 6, -1, -1, -1, -1]",
            "[2, 4, 1, -1, -1, -1, -1]",
            "children_right[2] = 1 is not a node index after 2",
        ),
        ("[2, 4, 6, -1, -1, -1, -1]", "[2, 4, -1, -1, -1, -1, -1]", "node 2 has exactly one child set to -1"),
        ("[2, 4, 6, -1, -1, -1, -1]", "[2, 4, 5, -1, -1, -1, -1]", "node 5 has two parents"),
        ("[0, 1, 0, -1, -1, -1, -1]", "[0, 3, 0, -1, -1, -1, -1]", "feature[1] = 3 is outside 0..2"),
        ("[10, 4, 6, 1, 3, 2, 4]", "[10, 4, 6, 1, 3, 2, 5]", "cover[2] = 6 differs from the sum"),
        ("[10, 4, 6, 1, 3, 2, 4]", "[10, 4, 6, 1, 3, 0, 6]", "cover[5] = 0 must be a finite number > 0"),
        ("0.64, 0.4", "1.64, 0.4", "value[0] = 1.64 is not a class-1 probability"),
        ("[1, 3, 5,", "[1.5, 3, 5,", "children_left[0] must be an integer, found 1.5"),
        ("[0.5, 2.0,", "[0.5, \"2.0\",", "threshold[1] must be a number, found a string"),
        ("\"cover\"", "\"kover\"", "trees[0]: missing cover"),
        ("}]}", "}]", "invalid JSON at line 8"),
    ];
    for (from, to, phrase) in cases {
        assert!(SPEC_EXAMPLE.contains(from), "{from}");
        let err = parse_dump(&SPEC_EXAMPLE.replacen(from, to, 1)).unwrap_err();
        assert!(err.contains(phrase), "{to}: {err}");
    }
    assert!(parse_dump("[]").unwrap_err().contains("must be a JSON object"));
    let empty = SPEC_EXAMPLE.split("\"trees\"").next().unwrap().to_string() + "\"trees\": []}";
    assert!(parse_dump(&empty).unwrap_err().contains("\"trees\" is empty"));
}

#[test]
fn a_missing_or_corrupt_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forest.json");
    assert!(read_dump(&path).unwrap_err().to_string().contains("forest.json"));
    std::fs::write(&path, &SPEC_EXAMPLE[..100]).unwrap();
    let err = read_dump(&path).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("forest.json: invalid JSON"), "{err}");
}

#[test]
fn an_invalid_forest_is_never_written() {
    let mut tree = spec_tree();
    tree.nodes[4].cover = 30.0;
    let forest = Forest { n_features: 3, trees: vec![tree] };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forest.json");
    let err = forest.write_dump(&names(3), &path).unwrap_err();
    assert!(err.to_string().contains("cover[1] = 4 differs"), "{err}");
    assert!(!path.exists());
}
