//! The document as one self-contained HTML page: inline CSS, charts as inline SVG, the JSON twin
//! of every number in a `<script type="application/json">`; nothing is fetched (no fonts, no
//! scripts, no images from elsewhere), and it prints on A4.

use super::doc::{Block, Doc, Table};
use crate::error::Result;

const CSS: &str = r#"
:root{--ink:#1b1f24;--muted:#57606a;--line:#d0d7de;--accent:#1f77b4;--warn:#9a3412;--warnbg:#fff4e5}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);line-height:1.45;background:#fff}
main{max-width:1080px;margin:0 auto;padding:24px 28px 60px}
header h1{margin:0 0 4px;font-size:1.7rem}
header p{margin:0;color:var(--muted)}
nav{margin:14px 0 8px;font-size:.92rem}
nav a{color:var(--accent);margin-right:14px;text-decoration:none}
section{border-top:2px solid var(--line);margin-top:26px;padding-top:8px}
h2{font-size:1.35rem;margin:8px 0 6px}
h3{font-size:1.08rem;margin:18px 0 6px}
p.look{background:#f0f6fc;border-left:4px solid var(--accent);padding:8px 12px;margin:8px 0 12px}
ul.alerts{background:var(--warnbg);border-left:4px solid var(--warn);padding:8px 12px 8px 30px;color:var(--warn)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 18px;margin:8px 0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:anywhere}
.tablewrap{overflow-x:auto}
table{border-collapse:collapse;margin:8px 0 14px;font-size:.88rem;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:3px 9px;text-align:right;white-space:nowrap}
th{background:#f6f8fa}
th:first-child,td:first-child,th.t,td.t{text-align:left}
td.t{white-space:normal}
.charts{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}
.charts figure{margin:0;flex:0 1 auto;max-width:100%}
.charts svg{max-width:100%;height:auto;display:block}
footer{margin-top:30px;color:var(--muted);font-size:.85rem}
@media print{
  @page{size:A4;margin:14mm}
  main{max-width:none;padding:0}
  nav{display:none}
  section{break-before:page;border-top:none}
  section:first-of-type{break-before:auto}
  figure,table,dl,tr{break-inside:avoid}
  h3{break-after:avoid}
  body{font-size:10pt}
  .tablewrap{overflow:visible}
  table{font-size:8pt}
  th,td{white-space:normal;padding:2px 5px}
  .charts{gap:6px}
}
"#;

/// Escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page.
pub fn render(doc: &Doc) -> Result<String> {
    let mut out = String::with_capacity(1 << 20);
    out.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        doc.lang,
        escape(&doc.title)
    ));
    out.push_str(&format!(
        "<header><h1>{}</h1><p>{}</p></header>\n<nav>",
        escape(&doc.title),
        escape(&doc.subtitle)
    ));
    for s in &doc.sections {
        out.push_str(&format!("<a href=\"#{}\">{}</a>", s.id, escape(&s.title)));
    }
    out.push_str("</nav>\n");
    if !doc.preface.is_empty() {
        out.push_str("<div id=\"preface\">\n");
        for b in &doc.preface {
            block(&mut out, b)?;
        }
        out.push_str("</div>\n");
    }
    for s in &doc.sections {
        out.push_str(&format!("<section id=\"{}\">\n<h2>{}</h2>\n", s.id, escape(&s.title)));
        out.push_str(&format!("<p class=\"look\">{}</p>\n", escape(&s.look_for)));
        for b in &s.blocks {
            block(&mut out, b)?;
        }
        out.push_str("</section>\n");
    }
    out.push_str("<footer>credrisk ");
    out.push_str(env!("CARGO_PKG_VERSION"));
    out.push_str("</footer>\n</main>\n");
    // `</` cannot appear inside the script element; JSON allows `<\/` for `</`.
    out.push_str("<script type=\"application/json\" id=\"report-data\">");
    out.push_str(&doc.data_json.replace("</", "<\\/"));
    out.push_str("</script>\n</body>\n</html>\n");
    Ok(out)
}

fn block(out: &mut String, b: &Block) -> Result<()> {
    match b {
        Block::Heading(h) => out.push_str(&format!("<h3>{}</h3>\n", escape(h))),
        Block::Paragraph(p) => out.push_str(&format!("<p>{}</p>\n", escape(p))),
        Block::Alerts(items) if items.is_empty() => {}
        Block::Alerts(items) => {
            out.push_str("<ul class=\"alerts\">");
            for i in items {
                out.push_str(&format!("<li>{}</li>", escape(i)));
            }
            out.push_str("</ul>\n");
        }
        Block::Facts(facts) => {
            out.push_str("<dl class=\"facts\">");
            for (k, v) in facts {
                out.push_str(&format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(v)));
            }
            out.push_str("</dl>\n");
        }
        Block::Table(t) => table(out, t),
        Block::Charts(charts) => {
            out.push_str("<div class=\"charts\">");
            for c in charts {
                out.push_str(&format!(
                    "<figure id=\"chart-{}\" role=\"img\" aria-label=\"{}\">",
                    c.slug(),
                    escape(&c.title)
                ));
                out.push_str(&c.svg()?);
                out.push_str("</figure>");
            }
            out.push_str("</div>\n");
        }
    }
    Ok(())
}

/// Whether a cell reads as a number (aligned right): digits with separators, a sign, a
/// percent, an interval, or "—".
fn is_number(cell: &str) -> bool {
    cell.chars().any(|c| c.is_ascii_digit() || c == '—')
        && cell.chars().all(|c| c.is_ascii_digit() || " .,+-−%[]()—\u{202f}◀*".contains(c))
}

fn table(out: &mut String, t: &Table) {
    out.push_str(&format!("<div class=\"tablewrap\"><table id=\"{}\"><thead><tr>", escape(&t.id)));
    // A header is aligned as its column's first cell.
    let first = t.rows.first();
    for (i, h) in t.header.iter().enumerate() {
        let text = first.and_then(|r| r.get(i)).is_some_and(|c| !is_number(c));
        let class = if text { " class=\"t\"" } else { "" };
        out.push_str(&format!("<th{class}>{}</th>", escape(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for r in &t.rows {
        out.push_str("<tr>");
        for c in r {
            let class = if is_number(c) { "" } else { " class=\"t\"" };
            out.push_str(&format!("<td{class}>{}</td>", escape(c)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
    }
}
