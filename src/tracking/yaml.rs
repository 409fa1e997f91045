//! The little YAML MLflow's file store speaks: writing block mappings with every string quoted
//! (pitfall P5), and reading the meta.yaml / MLmodel files that MLflow or we wrote (block
//! mappings, plain and quoted scalars, PyYAML's folded long lines, simple block sequences).
//! Not a general YAML parser: flow collections other than `[]`/`{}` are kept as raw text.

use std::fmt::Write as _;

/// Builds a block mapping; keys are written in the order given (MLflow sorts them; order does
/// not matter to readers).
#[derive(Default)]
pub struct YamlWriter {
    out: String,
    indent: usize,
}

impl YamlWriter {
    pub fn new() -> YamlWriter {
        YamlWriter::default()
    }

    fn key(&mut self, key: &str) {
        let _ = write!(self.out, "{:width$}{key}:", "", width = self.indent);
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        let _ = writeln!(self.out, " {}", quote(value));
        self
    }

    pub fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key);
        let _ = writeln!(self.out, " {value}");
        self
    }

    pub fn opt_int(&mut self, key: &str, value: Option<i64>) -> &mut Self {
        match value {
            Some(v) => self.int(key, v),
            None => self.null(key),
        }
    }

    pub fn null(&mut self, key: &str) -> &mut Self {
        self.raw(key, "null")
    }

    /// A value written as is (`[]`, `{}`, or a number).
    pub fn raw(&mut self, key: &str, text: &str) -> &mut Self {
        self.key(key);
        let _ = writeln!(self.out, " {text}");
        self
    }

    /// Opens a nested mapping under `key`; close it with [`YamlWriter::end`].
    pub fn map(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.out.push('\n');
        self.indent += 2;
        self
    }

    pub fn end(&mut self) -> &mut Self {
        self.indent = self.indent.saturating_sub(2);
        self
    }

    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}

/// A YAML string scalar that PyYAML reads back as exactly `s`, always as a string: single-quoted
/// (only `'` needs escaping), or double-quoted with escapes when it holds line breaks, tabs or
/// other characters single quotes cannot carry.
pub fn quote(s: &str) -> String {
    let needs_escapes =
        s.chars().any(|c| c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}');
    if !needs_escapes {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A parsed YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// Any scalar, quoted or plain, as its text (`'1'` and `1` both read as "1").
    Str(String),
    Map(Vec<(String, Value)>),
    Seq(Vec<Value>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string value of `key`, if present and not null.
    pub fn str_of(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The integer value of `key` (MLflow writes ints; a float like `1.0` is accepted as well).
    pub fn int_of(&self, key: &str) -> Option<i64> {
        let text = self.str_of(key)?;
        text.parse::<i64>().ok().or_else(|| text.parse::<f64>().ok().map(|f| f as i64))
    }

    pub fn entries(&self) -> &[(String, Value)] {
        match self {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }
}

struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// The largest YAML file read (MLmodel, meta.yaml): MLflow's own are a few kilobytes.
pub const MAX_YAML_BYTES: u64 = 16 << 20;
/// The deepest nesting parsed: MLflow's files nest 4 deep; a hostile file 10,000 deep must be an
/// error, not a stack overflow.
pub const MAX_DEPTH: usize = 64;

/// Parses a YAML document made of block mappings. Errors name the line.
pub fn parse(text: &str) -> Result<Value, String> {
    let lines: Vec<Line> = text
        .lines()
        .map(|l| l.trim_end())
        .filter(|l| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('#') && t != "---" && t != "..."
        })
        .map(|l| Line { indent: l.len() - l.trim_start_matches(' ').len(), text: l.trim_start_matches(' ') })
        .collect();
    let mut pos = 0;
    if lines.is_empty() {
        return Ok(Value::Null);
    }
    let value = parse_block(&lines, &mut pos, lines[0].indent, 0)?;
    if pos < lines.len() {
        return Err(format!("unexpected indentation at {:?}", lines[pos].text));
    }
    Ok(value)
}

fn parse_block(lines: &[Line], pos: &mut usize, indent: usize, depth: usize) -> Result<Value, String> {
    if depth >= MAX_DEPTH {
        return Err(format!("nested more than {MAX_DEPTH} levels deep at {:?}", lines[*pos].text));
    }
    if lines[*pos].text.starts_with("- ") || lines[*pos].text == "-" {
        parse_seq(lines, pos, indent)
    } else {
        parse_map(lines, pos, indent, depth)
    }
}

fn parse_map(lines: &[Line], pos: &mut usize, indent: usize, depth: usize) -> Result<Value, String> {
    let mut entries = Vec::new();
    while *pos < lines.len() && lines[*pos].indent == indent {
        let line = &lines[*pos];
        let (key, rest) =
            split_key(line.text).ok_or_else(|| format!("expected 'key: value' at {:?}", line.text))?;
        *pos += 1;
        let value = if rest.is_empty() {
            match lines.get(*pos) {
                Some(next) if next.indent > indent => parse_block(lines, pos, next.indent, depth + 1)?,
                Some(next) if next.indent == indent && next.text.starts_with("- ") => {
                    parse_seq(lines, pos, indent)?
                }
                _ => Value::Null,
            }
        } else {
            parse_scalar(rest, lines, pos, indent)?
        };
        entries.push((key, value));
    }
    Ok(Value::Map(entries))
}

fn parse_seq(lines: &[Line], pos: &mut usize, indent: usize) -> Result<Value, String> {
    let mut items = Vec::new();
    while *pos < lines.len() && lines[*pos].indent == indent && lines[*pos].text.starts_with('-') {
        let item = lines[*pos].text[1..].trim_start();
        *pos += 1;
        items.push(if item.is_empty() { Value::Null } else { parse_scalar(item, lines, pos, indent)? });
    }
    Ok(Value::Seq(items))
}

/// Splits `key: rest` (the key may be quoted); `None` when the line is no mapping entry.
fn split_key(text: &str) -> Option<(String, &str)> {
    if text.starts_with(['\'', '"']) {
        let (key, len) = read_quoted(text)?;
        let rest = text[len..].strip_prefix(':')?;
        return Some((key, rest.trim()));
    }
    let colon = text.find(": ").or_else(|| text.ends_with(':').then(|| text.len() - 1))?;
    Some((text[..colon].trim_end().to_string(), text[colon + 1..].trim()))
}

/// A scalar starting at `first`; PyYAML folds long scalars onto more-indented lines.
fn parse_scalar(first: &str, lines: &[Line], pos: &mut usize, indent: usize) -> Result<Value, String> {
    let mut text = first.to_string();
    while *pos < lines.len() && lines[*pos].indent > indent && !is_closed(&text) {
        let quoted = text.starts_with(['\'', '"']);
        if !quoted && (lines[*pos].text.contains(": ") || lines[*pos].text.ends_with(':')) {
            return Err(format!("mapping inside a plain scalar at {:?}", lines[*pos].text));
        }
        text.push(' ');
        text.push_str(lines[*pos].text);
        *pos += 1;
    }
    if text.starts_with(['\'', '"']) {
        let (value, len) =
            read_quoted(&text).ok_or_else(|| format!("unterminated quoted string {text:?}"))?;
        if !text[len..].trim().is_empty() && !text[len..].trim_start().starts_with('#') {
            return Err(format!("text after a quoted string: {text:?}"));
        }
        return Ok(Value::Str(value));
    }
    let plain = match text.find(" #") {
        Some(cut) => text[..cut].trim_end(),
        None => text.as_str(),
    };
    Ok(match plain {
        "null" | "Null" | "NULL" | "~" | "" => Value::Null,
        "[]" => Value::Seq(Vec::new()),
        "{}" => Value::Map(Vec::new()),
        other => Value::Str(other.to_string()),
    })
}

/// Whether `text` is complete: a plain scalar continues on deeper lines; a quoted one until
/// its closing quote.
fn is_closed(text: &str) -> bool {
    if text.starts_with(['\'', '"']) { read_quoted(text).is_some() } else { false }
}

/// Reads a quoted scalar at the start of `text`: (value, bytes consumed).
fn read_quoted(text: &str) -> Option<(String, usize)> {
    let quote = text.chars().next()?;
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            if quote == '\'' && chars.peek().map(|&(_, n)| n) == Some('\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            return Some((out, i + 1));
        }
        if quote == '"' && c == '\\' {
            let (_, e) = chars.next()?;
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                ' ' => out.push(' '),
                '/' => out.push('/'),
                'x' | 'u' | 'U' => {
                    let width = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = (0..width).filter_map(|_| chars.next().map(|(_, h)| h)).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            }
            continue;
        }
        out.push(c);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_registry_meta_written_by_mlflow() {
        let text = "aliases:\n  champion: '1'\ncreation_timestamp: 1795769067604\ndescription: null\n\
                    name: credrisk-model\nworkspace: default\ntags: []\n";
        let v = parse(text).unwrap();
        assert_eq!(v.get("aliases").unwrap().str_of("champion"), Some("1"));
        assert_eq!(v.int_of("creation_timestamp"), Some(1_795_769_067_604));
        assert_eq!(v.get("description"), Some(&Value::Null));
        assert_eq!(v.str_of("name"), Some("credrisk-model"));
        assert_eq!(v.get("tags"), Some(&Value::Seq(vec![])));
    }

    #[test]
    fn reads_nested_flavors_and_folded_lines() {
        let text = "artifact_path: model\nflavors:\n  credrisk:\n    data: model.crm\n    model_format: bin\n\
                    run_id: abc\nnote: a long plain\n  continued line\nq: 'it''s\n  folded'\n";
        let v = parse(text).unwrap();
        let flavor = v.get("flavors").unwrap().get("credrisk").unwrap();
        assert_eq!(flavor.str_of("data"), Some("model.crm"));
        assert_eq!(v.str_of("run_id"), Some("abc"));
        assert_eq!(v.str_of("note"), Some("a long plain continued line"));
        assert_eq!(v.str_of("q"), Some("it's folded"));
    }

    #[test]
    fn written_strings_read_back_exactly() {
        let tricky =
            ["2024", "it's", "a: b", "# not a comment", "line1\nline2\ttab \"q\" \\", "null", "ñandú", ""];
        let mut w = YamlWriter::new();
        for (i, s) in tricky.iter().enumerate() {
            w.str(&format!("k{i}"), s);
        }
        w.map("nested").int("n", -5).str("s", "x").end().null("z");
        let v = parse(&w.finish()).unwrap();
        for (i, s) in tricky.iter().enumerate() {
            assert_eq!(v.str_of(&format!("k{i}")), Some(*s));
        }
        assert_eq!(v.get("nested").unwrap().int_of("n"), Some(-5));
        assert_eq!(v.get("z"), Some(&Value::Null));
    }

    #[test]
    fn block_sequences_at_the_key_indent() {
        let v = parse("items:\n- a\n- 'b c'\nafter: 1\n").unwrap();
        assert_eq!(v.get("items"), Some(&Value::Seq(vec![Value::Str("a".into()), Value::Str("b c".into())])));
        assert_eq!(v.int_of("after"), Some(1));
    }

    #[test]
    fn nesting_past_the_limit_is_an_error_not_a_stack_overflow() {
        let deep: String = (0..10_000).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        let err = parse(&deep).unwrap_err();
        assert!(err.contains("nested more than 64 levels"), "{err}");
        let fine: String = (0..MAX_DEPTH).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in ["just text", "a: 'unterminated", "a: 1\n    b: 2\n  c: 3"] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
