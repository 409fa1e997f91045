//! The report as a document — sections of paragraphs, tables and charts — that the HTML and
//! Markdown writers both render, so the two formats always say the same thing.

use super::charts::Chart;

/// A table: a header and rows of cells already formatted for reading. `id` names it for tests
/// and links.
#[derive(Debug, Clone)]
pub struct Table {
    pub id: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// `name` made safe as a file stem and an HTML id: names come from schema columns, which may
/// hold `/`, spaces, `*` (intersections) or accents; everything but ASCII letters, digits, `_`
/// and `-` becomes `-`.
pub fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' }).collect()
}

impl Table {
    /// A table whose HTML id is `id`'s [`slug`].
    pub fn new(id: &str, header: &[&str]) -> Table {
        Table { id: slug(id), header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

/// One piece of a section.
#[derive(Debug, Clone)]
pub enum Block {
    Heading(String),
    Paragraph(String),
    /// Findings to act on (drawn as a warning list); empty lists are not drawn.
    Alerts(Vec<String>),
    /// Label: value lines.
    Facts(Vec<(String, String)>),
    Table(Table),
    /// Charts side by side when there is room (one per line in Markdown).
    Charts(Vec<Chart>),
}

#[derive(Debug, Clone)]
pub struct Section {
    pub id: &'static str,
    pub title: String,
    /// What to look for: a sentence or two, shown first.
    pub look_for: String,
    pub blocks: Vec<Block>,
}

impl Section {
    pub fn new(id: &'static str, title: impl Into<String>, look_for: impl Into<String>) -> Section {
        Section { id, title: title.into(), look_for: look_for.into(), blocks: Vec::new() }
    }

    pub fn push(&mut self, block: Block) {
        self.blocks.push(block);
    }
}

/// The whole document.
#[derive(Debug, Clone)]
pub struct Doc {
    pub lang: &'static str,
    pub title: String,
    pub subtitle: String,
    /// Markdown only: text that opens the document before the sections.
    pub preface: Vec<Block>,
    pub sections: Vec<Section>,
    /// The JSON twin of every number (embedded in HTML; beside the Markdown file).
    pub data_json: String,
}
