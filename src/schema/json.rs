//! Strict JSON reading for applicant input: the text becomes a `serde_json::Value` as usual, but
//! an object that repeats a key is reported (with the key's path) instead of silently keeping
//! the last value, so an ambiguous customer is refused rather than guessed at.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// Why a text is not acceptable JSON input.
#[derive(Debug)]
pub enum JsonError {
    /// Not JSON at all (syntax, encoding, depth, trailing characters).
    Syntax(serde_json::Error),
    /// Valid JSON whose objects repeat keys: the paths of the repeated keys (`customer.age`,
    /// `customers[2].income`, `lang`), each once, in the order they were met.
    DuplicateKeys(Vec<String>),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(e) => write!(f, "{e}"),
            JsonError::DuplicateKeys(paths) => {
                write!(f, "repeated key{} {}", if paths.len() == 1 { "" } else { "s" }, paths.join(", "))
            }
        }
    }
}

/// The message for one repeated key.
pub const DUPLICATE_KEY: &str = "appears more than once in its object; send each key once";

/// Parses `bytes` as one JSON value, refusing repeated keys anywhere in it.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let duplicates = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { path: None, duplicates: &duplicates }
        .deserialize(&mut deserializer)
        .map_err(JsonError::Syntax)?;
    deserializer.end().map_err(JsonError::Syntax)?;
    let mut duplicates = duplicates.into_inner();
    if duplicates.is_empty() {
        return Ok(value);
    }
    let mut seen = std::collections::HashSet::new();
    duplicates.retain(|p| seen.insert(p.clone()));
    Err(JsonError::DuplicateKeys(duplicates))
}

/// Where a value sits: its parent and its key or index. Built on the stack as the parser
/// descends, turned into text only when a repeated key is found.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

impl Path<'_> {
    fn render(&self) -> String {
        let mut steps = Vec::new();
        let mut node = Some(self);
        while let Some(n) = node {
            steps.push(&n.step);
            node = n.parent;
        }
        let mut out = String::new();
        for step in steps.into_iter().rev() {
            match step {
                Step::Key(k) if out.is_empty() => out.push_str(k),
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

#[derive(Clone, Copy)]
struct Strict<'p, 'd> {
    path: Option<&'p Path<'p>>,
    duplicates: &'d RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_, '_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            let path = Path { parent: self.path, step: Step::Index(items.len()) };
            match seq.next_element_seed(Strict { path: Some(&path), duplicates: self.duplicates })? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = Path { parent: self.path, step: Step::Key(&key) };
            let value = map.next_value_seed(Strict { path: Some(&path), duplicates: self.duplicates })?;
            if object.contains_key(&key) {
                self.duplicates.borrow_mut().push(path.render());
            } else {
                object.insert(key, value);
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_serde_json_reads() {
        let text = br#"{"a": [1, -2, 3.5, "x", null, true, {"b": {}}], "c": 18446744073709551615}"#;
        assert_eq!(parse_strict(text).unwrap(), serde_json::from_slice::<Value>(text).unwrap());
        assert_eq!(parse_strict(b" 7 ").unwrap(), json!(7));
    }

    #[test]
    fn syntax_errors_and_trailing_text_are_refused() {
        for bad in [&b"{"[..], b"[1,]", b"{} {}", b"\xff", b"NaN", b""] {
            assert!(matches!(parse_strict(bad), Err(JsonError::Syntax(_))), "{bad:?}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(parse_strict(deep.as_bytes()), Err(JsonError::Syntax(_))));
    }

    /// serde_json keeps the last of two equal keys; we name them instead, wherever they are.
    #[test]
    fn repeated_keys_are_named_by_path() {
        let text = br#"{"customer": {"age": 45, "age": 46, "x": {"k": 1, "k": 2}},
                        "customers": [{}, {"income": 1, "income": 2}], "lang": "es", "lang": "en"}"#;
        match parse_strict(text) {
            Err(JsonError::DuplicateKeys(paths)) => {
                assert_eq!(paths, ["customer.age", "customer.x.k", "customers[1].income", "lang"])
            }
            other => panic!("{other:?}"),
        }
        let thrice = br#"{"a": 1, "a": 2, "a": 3}"#;
        assert_eq!(parse_strict(thrice).unwrap_err().to_string(), "repeated key a");
    }
}
