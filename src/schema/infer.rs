//! Drafting a schema from a table: each column's cells are profiled as they stream by (types
//! seen, range, gaps, distinct texts up to a limit), then every column becomes a feature of the
//! type it looks like, except the label a user names. The draft is for a person to review.

use super::{Categories, Category, Column, Kind, Labels, Positive, Role, Schema, fold};
use std::collections::HashMap;

/// A text column with at most this many distinct values is a category; with more, an id.
pub const MAX_CATEGORIES: usize = 50;

/// One cell as a reader found it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seen<'a> {
    /// No value (Parquet null, empty CSV cell).
    Null,
    /// Untyped text (a CSV cell): a number, a boolean or a text, whichever it reads as.
    Cell(&'a str),
    /// A typed string (a Parquet utf8 value): always text.
    Text(&'a str),
    Integer(i64),
    Number(f64),
    Boolean(bool),
}

/// What one column's cells looked like.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    rows: u64,
    nulls: u64,
    integers: u64,
    numbers: u64,
    booleans: u64,
    texts: u64,
    min: f64,
    max: f64,
    /// Distinct texts and their counts, until there are more than [`MAX_CATEGORIES`].
    distinct: HashMap<String, u64>,
    too_many: bool,
}

impl Profile {
    pub fn new(name: impl Into<String>) -> Profile {
        Profile {
            name: name.into(),
            rows: 0,
            nulls: 0,
            integers: 0,
            numbers: 0,
            booleans: 0,
            texts: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            distinct: HashMap::new(),
            too_many: false,
        }
    }

    pub fn observe(&mut self, cell: Seen<'_>) {
        self.rows += 1;
        match cell {
            Seen::Null => self.nulls += 1,
            Seen::Cell(s) => {
                let t = s.trim();
                if t.is_empty() {
                    self.nulls += 1;
                } else if let Ok(i) = t.parse::<i64>() {
                    self.number(i as f64, true);
                    // A column mixing numbers and words may still be a small category.
                    self.remember(t);
                } else if let Some(f) = t.parse::<f64>().ok().filter(|f| f.is_finite()) {
                    self.number(f, false);
                    self.remember(t);
                } else if let Some(b) = boolean_word(t) {
                    self.boolean(b);
                } else {
                    self.text(t);
                }
            }
            Seen::Text(s) if s.trim().is_empty() => self.nulls += 1,
            Seen::Text(s) => self.text(s.trim()),
            Seen::Integer(i) => self.number(i as f64, true),
            Seen::Number(f) if f.is_nan() => self.nulls += 1,
            Seen::Number(f) => self.number(f, false),
            Seen::Boolean(b) => self.boolean(b),
        }
    }

    fn number(&mut self, v: f64, integer: bool) {
        if integer {
            self.integers += 1;
        } else {
            self.numbers += 1;
        }
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    fn boolean(&mut self, b: bool) {
        self.booleans += 1;
        self.remember(if b { "true" } else { "false" });
    }

    fn text(&mut self, t: &str) {
        self.texts += 1;
        self.remember(t);
    }

    fn remember(&mut self, t: &str) {
        if self.too_many {
            return;
        }
        if let Some(n) = self.distinct.get_mut(t) {
            *n += 1;
        } else if self.distinct.len() < MAX_CATEGORIES + 1 {
            self.distinct.insert(t.to_string(), 1);
        } else {
            self.too_many = true;
        }
    }

    fn has_gaps(&self) -> bool {
        self.nulls > 0
    }

    /// The type the cells read as, with a note on what was seen.
    fn kind(&self) -> Result<(Kind, String), String> {
        let values = self.rows - self.nulls;
        if values == 0 {
            return Err(format!(
                "column {:?} has no values at all; drop it or describe it by hand",
                self.name
            ));
        }
        if self.booleans == values {
            return Ok((Kind::Boolean, "true/false".into()));
        }
        if self.texts == 0 && self.booleans == 0 {
            let observed = format!("observed {} to {}", self.min, self.max);
            let (min, max) = (widen_down(self.min), widen_up(self.max));
            return Ok(if self.numbers == 0 {
                (Kind::Integer { min: min as i64, max: max as i64 }, observed)
            } else {
                (Kind::Number { min, max }, observed)
            });
        }
        if self.too_many || self.distinct.len() > MAX_CATEGORIES {
            return Ok((Kind::Text, format!("more than {MAX_CATEGORIES} distinct texts: an id column")));
        }
        let categories = categories(&self.distinct).map_err(|m| format!("column {:?}: {m}", self.name))?;
        let note = format!("{} categories seen", categories.len());
        Ok((Kind::Category(categories), note))
    }
}

fn boolean_word(t: &str) -> Option<bool> {
    match t {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// The texts as categories in alphabetical order. Spellings that differ only in case or accents
/// are one category, spelled as its most frequent spelling (matching ignores case and accents, so
/// the others need no variant).
fn categories(distinct: &HashMap<String, u64>) -> Result<Categories, String> {
    let mut by_key: HashMap<String, Vec<(&str, u64)>> = HashMap::new();
    for (text, &n) in distinct {
        by_key.entry(fold(text)).or_default().push((text.as_str(), n));
    }
    let mut values: Vec<Category> = by_key
        .into_values()
        .map(|mut spellings| {
            spellings.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            Category::plain(spellings[0].0)
        })
        .collect();
    values.sort_by(|a, b| a.canonical.cmp(&b.canonical));
    Categories::new(values)
}

/// A lower bound widened to what is plausibly possible: 0 for non-negative data, else the
/// negated next power of ten.
fn widen_down(min: f64) -> f64 {
    if min >= 0.0 { 0.0 } else { -widen_up(-min) }
}

/// An upper bound widened to the next power of ten (75 → 100, 0.87 → 1, 18424 → 100000).
fn widen_up(max: f64) -> f64 {
    if max <= 0.0 {
        0.0
    } else if max <= 1.0 {
        1.0
    } else {
        10f64.powf(max.log10().ceil())
    }
}

/// A drafted schema and, per column (table order), a note on what was seen.
#[derive(Debug, Clone)]
pub struct Draft {
    pub schema: Schema,
    pub notes: Vec<String>,
}

impl Draft {
    /// The draft as a schema file with each column's note as a comment.
    pub fn to_toml(&self) -> String {
        let text = self.schema.to_toml();
        let mut out = String::with_capacity(text.len() + 64 * self.notes.len());
        let mut notes = self.notes.iter();
        for line in text.lines() {
            out.push_str(line);
            out.push('\n');
            if line == "[[column]]"
                && let Some(note) = notes.next()
            {
                out.push_str("# ");
                out.push_str(note);
                out.push('\n');
            }
        }
        out
    }
}

/// Drafts a schema named `name` from profiled columns: every column a feature of the type it
/// looks like (integer, number, boolean, category; an id when text has too many values),
/// nullable where it had gaps, ranges widened from what was seen; `label` the label column
/// with `positive` (a spelling of its positive value) as the positive class.
pub fn infer(name: &str, profiles: &[Profile], label: &str, positive: &str) -> Result<Draft, String> {
    if !profiles.iter().any(|p| p.name == label) {
        let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
        return Err(format!("--label {label}: no such column; the columns are {}", names.join(", ")));
    }
    let mut columns = Vec::new();
    let mut notes = Vec::new();
    for p in profiles {
        let (kind, mut note) = p.kind()?;
        let mut column = Column::feature(p.name.as_str(), kind);
        column.labels = Labels { es: p.name.clone(), en: p.name.clone() };
        column.nullable = p.has_gaps();
        if column.nullable {
            note += &format!("; {} of {} rows empty", p.nulls, p.rows);
        }
        if p.name == label {
            if p.has_gaps() {
                return Err(format!(
                    "the label column {label:?} has {} empty cells; every row needs a label",
                    p.nulls
                ));
            }
            column.nullable = false;
            column.role =
                Role::Label(label_positive(&column.kind, positive).map_err(|m| format!("--positive: {m}"))?);
            if let Kind::Integer { .. } = column.kind {
                column.kind = Kind::Integer { min: p.min as i64, max: p.max as i64 };
            }
        } else if column.kind == Kind::Text {
            column.role = Role::Id;
        }
        columns.push(column);
        notes.push(note);
    }
    let schema = Schema::new(name, columns, Vec::new()).map_err(|p| p.message)?;
    Ok(Draft { schema, notes })
}

fn label_positive(kind: &Kind, positive: &str) -> Result<Positive, String> {
    let positive = positive.trim();
    match kind {
        Kind::Boolean => boolean_word(positive)
            .map(Positive::Boolean)
            .ok_or_else(|| format!("the label is true/false; got {positive:?}")),
        Kind::Integer { .. } => positive
            .parse()
            .map(Positive::Integer)
            .map_err(|_| format!("the label is an integer; got {positive:?}")),
        Kind::Category(c) | Kind::Ordered(c) => match c.find(positive) {
            Some(i) => Ok(Positive::Category(c.name(i).to_string())),
            None => Err(format!(
                "{positive:?} is not one of the label's values ({})",
                c.names().collect::<Vec<_>>().join(", ")
            )),
        },
        other => Err(format!(
            "a label must be true/false, an integer or one of a few texts; this column is {}",
            other.type_name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, cells: &[Seen]) -> Profile {
        let mut p = Profile::new(name);
        cells.iter().for_each(|c| p.observe(*c));
        p
    }

    #[test]
    fn types_ranges_gaps_and_categories_come_from_the_cells() {
        use Seen::*;
        let profiles = [
            profile("age", &[Cell("19"), Cell("75"), Cell(" 40 ")]),
            profile("rate", &[Cell("0.5"), Cell("1"), Cell("")]),
            profile("housing", &[Cell("own"), Cell("rent"), Cell("Own"), Cell("own"), Text("for free")]),
            profile("flag", &[Boolean(true), Cell("false")]),
            profile("debt", &[Number(-3.5), Integer(250), Null]),
            profile("ok", &[Cell("good"), Cell("bad"), Cell("good")]),
        ];
        let draft = infer("loans", &profiles, "ok", "GOOD").unwrap();
        let s = &draft.schema;
        assert_eq!(s.name(), "loans");
        assert_eq!(s.field(0).kind, Kind::Integer { min: 0, max: 100 });
        assert_eq!(
            (s.field(1).kind.clone(), s.field(1).nullable),
            (Kind::Number { min: 0.0, max: 1.0 }, true)
        );
        let housing = s.field(2).kind.categories().unwrap();
        assert_eq!(housing.names().collect::<Vec<_>>(), ["for free", "own", "rent"]);
        assert_eq!(housing.find("Own"), Some(1), "a rarer spelling is the same category");
        assert_eq!(s.field(3).kind, Kind::Boolean);
        assert_eq!(s.field(4).kind, Kind::Number { min: -10.0, max: 1000.0 });
        assert!(s.field(4).nullable);
        assert_eq!(s.label().name, "ok");
        assert_eq!(s.positive(), &Positive::Category("good".into()));
        assert_eq!(draft.notes[0], "observed 19 to 75");
        let text = draft.to_toml();
        assert!(text.contains("[[column]]\n# observed 19 to 75\nname = \"age\""), "{text}");
        assert_eq!(Schema::from_toml(&text).unwrap(), draft.schema, "the draft is a valid schema file");
    }

    #[test]
    fn many_texts_make_an_id_and_bad_labels_are_refused() {
        let ids: Vec<String> = (0..60).map(|i| format!("C-{i}")).collect();
        let ids: Vec<Seen> = ids.iter().map(|s| Seen::Cell(s)).collect();
        let y: Vec<Seen> = (0..60).map(|i| Seen::Cell(if i % 2 == 0 { "1" } else { "0" })).collect();
        let profiles = [profile("customer", &ids), profile("x", &y), profile("y", &y)];
        let draft = infer("t", &profiles, "y", "1").unwrap();
        assert_eq!(draft.schema.ids().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["customer"]);
        assert_eq!(draft.schema.positive(), &Positive::Integer(1));
        assert_eq!(draft.schema.label().kind, Kind::Integer { min: 0, max: 1 });
        assert!(infer("t", &profiles, "z", "1").unwrap_err().contains("no such column"));
        assert!(infer("t", &profiles, "y", "yes").unwrap_err().contains("integer"));
        let gaps = [profile("x", &y), profile("y", &[Seen::Cell("1"), Seen::Null])];
        assert!(infer("t", &gaps, "y", "1").unwrap_err().contains("empty cells"));
    }
}
