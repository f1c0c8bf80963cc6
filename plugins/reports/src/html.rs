//! The minutes as a self-contained HTML page (no scripts, no external resources; every text
//! escaped).

use crate::doc::{Block, Doc};

/// Escape text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

const STYLE: &str = "body{font-family:sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;\
line-height:1.4}table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}\
th,td{text-align:left;border-bottom:1px solid #ccc;padding:.25rem .4rem;vertical-align:top}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}";

/// The document as HTML.
pub fn render(doc: &Doc) -> String {
    let mut out = format!(
        "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        doc.lang.tag(),
        escape(&doc.title),
        escape(&doc.title)
    );
    for block in &doc.blocks {
        match block {
            Block::Heading(h) => out.push_str(&format!("<h2>{}</h2>\n", escape(h))),
            Block::Subheading(h) => out.push_str(&format!("<h3>{}</h3>\n", escape(h))),
            Block::Paragraph(p) => out.push_str(&format!("<p>{}</p>\n", escape(p))),
            Block::Facts(facts) => {
                out.push_str("<dl>");
                for (k, v) in facts {
                    out.push_str(&format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(v)));
                }
                out.push_str("</dl>\n");
            }
            Block::Table { columns, rows } => {
                out.push_str("<table><thead><tr>");
                for (title, _) in columns {
                    out.push_str(&format!("<th>{}</th>", escape(title)));
                }
                out.push_str("</tr></thead><tbody>");
                for row in rows {
                    out.push_str("<tr>");
                    for cell in row {
                        out.push_str(&format!("<td>{}</td>", escape(cell)));
                    }
                    out.push_str("</tr>");
                }
                out.push_str("</tbody></table>\n");
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Lang;

    #[test]
    fn every_text_is_escaped() {
        let doc = Doc {
            title: "<script>alert(1)</script>".into(),
            lang: Lang::De,
            blocks: vec![Block::Table {
                columns: vec![("a&b".into(), 1.0)],
                rows: vec![vec!["\"x\" <y>".into()]],
            }],
        };
        let html = render(&doc);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<th>a&amp;b</th>"));
        assert!(html.contains("<td>&quot;x&quot; &lt;y&gt;</td>"));
        assert!(html.starts_with("<!doctype html>\n<html lang=\"de\">"));
    }
}
