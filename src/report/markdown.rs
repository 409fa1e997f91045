//! The document as Markdown with each chart a PNG in a folder beside it (`<stem>_files/`), and
//! the JSON twin of its numbers as `<stem>.json`.

use super::doc::{Block, Doc, Table};
use crate::error::Result;
use std::path::Path;

/// Escapes the characters that would break a table cell or start markup mid-text.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Renders the Markdown text and writes the PNGs into `assets` (which `link` names relative to
/// the Markdown file).
pub fn render(doc: &Doc, assets: &Path, link: &str) -> Result<String> {
    let mut out = String::new();
    out.push_str(&format!("# {}\n\n{}\n\n", doc.title, doc.subtitle));
    for b in &doc.preface {
        block(&mut out, b, assets, link)?;
    }
    for s in &doc.sections {
        out.push_str(&format!("## {}\n\n*{}*\n\n", s.title, s.look_for));
        for b in &s.blocks {
            block(&mut out, b, assets, link)?;
        }
    }
    out.push_str(&format!("---\ncredrisk {}\n", env!("CARGO_PKG_VERSION")));
    Ok(out)
}

fn block(out: &mut String, b: &Block, assets: &Path, link: &str) -> Result<()> {
    match b {
        Block::Heading(h) => out.push_str(&format!("### {h}\n\n")),
        Block::Paragraph(p) => out.push_str(&format!("{p}\n\n")),
        Block::Alerts(items) if items.is_empty() => {}
        Block::Alerts(items) => {
            for i in items {
                out.push_str(&format!("- ⚠ {i}\n"));
            }
            out.push('\n');
        }
        Block::Facts(facts) => {
            for (k, v) in facts {
                out.push_str(&format!("- **{k}**: {v}\n"));
            }
            out.push('\n');
        }
        Block::Table(t) => table(out, t),
        Block::Charts(charts) => {
            for c in charts {
                let file = format!("{}.png", c.slug());
                c.png(&assets.join(&file))?;
                out.push_str(&format!("![{}]({link}/{file})\n\n", c.title));
            }
        }
    }
    Ok(())
}

fn table(out: &mut String, t: &Table) {
    out.push_str(&format!("| {} |\n", t.header.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | ")));
    let align: Vec<&str> = (0..t.header.len()).map(|i| if i == 0 { "---" } else { "---:" }).collect();
    out.push_str(&format!("|{}|\n", align.join("|")));
    for r in &t.rows {
        out.push_str(&format!("| {} |\n", r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")));
    }
    out.push('\n');
}
