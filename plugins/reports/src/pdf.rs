//! The minutes as PDF (A4) on `krilla`: DejaVu Sans embedded (subset), every page with the
//! document's title above and "Seite 3 von 12" below, tables that break across pages with
//! their header row repeated. Layout is ours and simple — greedy line breaking by words,
//! fixed column shares — in two passes: lay out every page first, then draw, so each footer
//! knows the page count.

use krilla::Document;
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::Stroke;
use krilla::text::{Font, TextDirection};

use crate::doc::{Block, Doc};

const REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.0;
const TOP: f32 = MARGIN + 24.0;
const BOTTOM: f32 = PAGE_H - MARGIN - 18.0;
const WIDTH: f32 = PAGE_W - 2.0 * MARGIN;
const BODY: f32 = 9.5;
const LINE: f32 = 1.35;
const CELL_PAD: f32 = 3.0;

/// The PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The embedded font did not load.
    #[error("the embedded font is unusable")]
    Font,
    /// krilla refused the document.
    #[error("the PDF could not be written: {0}")]
    Write(String),
}

struct Face {
    metrics: ttf_parser::Face<'static>,
    font: Font,
}

impl Face {
    fn load(data: &'static [u8]) -> Result<Self, PdfError> {
        Ok(Self {
            metrics: ttf_parser::Face::parse(data, 0).map_err(|_| PdfError::Font)?,
            font: Font::new(data.into(), 0).ok_or(PdfError::Font)?,
        })
    }

    /// The advance width of `text` at `size` (no kerning: a slight overestimate at worst).
    fn width(&self, text: &str, size: f32) -> f32 {
        let per_unit = size / f32::from(self.metrics.units_per_em());
        text.chars()
            .map(|c| {
                self.metrics
                    .glyph_index(c)
                    .and_then(|g| self.metrics.glyph_hor_advance(g))
                    .map_or(0.5 * size, |a| f32::from(a) * per_unit)
            })
            .sum()
    }
}

/// One thing drawn on a page.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        text: String,
    },
    Rule {
        x1: f32,
        x2: f32,
        y: f32,
    },
}

struct Layout<'a> {
    regular: &'a Face,
    bold: &'a Face,
    pages: Vec<Vec<Op>>,
    /// The baseline area's top of the next line.
    y: f32,
}

impl<'a> Layout<'a> {
    fn face(&self, bold: bool) -> &'a Face {
        if bold { self.bold } else { self.regular }
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Start a new page unless `height` fits below.
    fn ensure(&mut self, height: f32) {
        if self.y + height > BOTTOM && self.y > TOP {
            self.new_page();
        }
    }

    fn push(&mut self, op: Op) {
        if let Some(page) = self.pages.last_mut() {
            page.push(op);
        }
    }

    /// Lines of `text` no wider than `width`; a word longer than a line is split.
    fn wrap(&self, text: &str, size: f32, bold: bool, width: f32) -> Vec<String> {
        let face = self.face(bold);
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            for word in paragraph.split_whitespace() {
                let candidate = if line.is_empty() {
                    word.to_owned()
                } else {
                    format!("{line} {word}")
                };
                if face.width(&candidate, size) <= width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                // The word alone: split it where it overflows.
                for c in word.chars() {
                    let mut next = line.clone();
                    next.push(c);
                    if face.width(&next, size) > width && !line.is_empty() {
                        lines.push(std::mem::take(&mut line));
                        line.push(c);
                    } else {
                        line = next;
                    }
                }
            }
            lines.push(line);
        }
        lines
    }

    fn text_block(&mut self, text: &str, size: f32, bold: bool, before: f32, after: f32) {
        let lines = self.wrap(text, size, bold, WIDTH);
        let line_h = size * LINE;
        // A heading stays with at least two lines of what follows.
        let keep = if bold { 3.0 * BODY * LINE } else { 0.0 };
        self.ensure(before + line_h + keep);
        self.y += before;
        for line in lines {
            self.ensure(line_h);
            self.y += size;
            self.push(Op::Text {
                x: MARGIN,
                y: self.y,
                size,
                bold,
                text: line,
            });
            self.y += line_h - size;
        }
        self.y += after;
    }

    fn facts(&mut self, facts: &[(String, String)]) {
        let label_w = facts
            .iter()
            .map(|(k, _)| self.bold.width(k, BODY))
            .fold(0.0, f32::max)
            .min(WIDTH * 0.4)
            + 12.0;
        for (k, v) in facts {
            let lines = self.wrap(v, BODY, false, WIDTH - label_w);
            let line_h = BODY * LINE;
            self.ensure(line_h * lines.len() as f32);
            for (i, line) in lines.into_iter().enumerate() {
                self.y += BODY;
                if i == 0 {
                    self.push(Op::Text {
                        x: MARGIN,
                        y: self.y,
                        size: BODY,
                        bold: true,
                        text: k.clone(),
                    });
                }
                self.push(Op::Text {
                    x: MARGIN + label_w,
                    y: self.y,
                    size: BODY,
                    bold: false,
                    text: line,
                });
                self.y += line_h - BODY;
            }
        }
        self.y += 6.0;
    }

    /// A row's cells wrapped to their columns.
    fn wrap_row(&self, cells: &[String], widths: &[f32], bold: bool) -> Vec<Vec<String>> {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| self.wrap(c, BODY, bold, w - 2.0 * CELL_PAD))
            .collect()
    }

    fn row_height(wrapped: &[Vec<String>]) -> f32 {
        let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
        lines as f32 * BODY * LINE + 2.0 * CELL_PAD
    }

    fn draw_row(&mut self, wrapped: Vec<Vec<String>>, widths: &[f32], bold: bool) {
        let top = self.y;
        let height = Self::row_height(&wrapped);
        let mut x = MARGIN;
        for (cell, w) in wrapped.into_iter().zip(widths) {
            let mut y = top + CELL_PAD;
            for line in cell {
                y += BODY;
                self.push(Op::Text {
                    x: x + CELL_PAD,
                    y,
                    size: BODY,
                    bold,
                    text: line,
                });
                y += BODY * (LINE - 1.0);
            }
            x += w;
        }
        self.y = top + height;
        self.push(Op::Rule {
            x1: MARGIN,
            x2: MARGIN + WIDTH,
            y: self.y,
        });
    }

    fn table(&mut self, columns: &[(String, f32)], rows: &[Vec<String>]) {
        let total: f32 = columns
            .iter()
            .map(|(_, s)| s)
            .sum::<f32>()
            .max(f32::EPSILON);
        let widths: Vec<f32> = columns.iter().map(|(_, s)| s / total * WIDTH).collect();
        let header: Vec<String> = columns.iter().map(|(t, _)| t.clone()).collect();
        let header = self.wrap_row(&header, &widths, true);
        let header_h = Self::row_height(&header);
        let rows: Vec<Vec<Vec<String>>> = rows
            .iter()
            .map(|r| self.wrap_row(r, &widths, false))
            .collect();
        let first = rows.first().map_or(0.0, |r| Self::row_height(r));
        self.ensure(header_h + first);
        self.draw_row(header.clone(), &widths, true);
        for row in rows {
            if self.y + Self::row_height(&row) > BOTTOM {
                self.new_page();
                self.draw_row(header.clone(), &widths, true);
            }
            self.draw_row(row, &widths, false);
        }
        self.y += 8.0;
    }
}

/// The document as PDF bytes.
pub fn render(doc: &Doc) -> Result<Vec<u8>, PdfError> {
    let regular = Face::load(REGULAR)?;
    let bold = Face::load(BOLD)?;
    let mut layout = Layout {
        regular: &regular,
        bold: &bold,
        pages: Vec::new(),
        y: TOP,
    };
    layout.new_page();
    layout.text_block(&doc.title, 16.0, true, 0.0, 10.0);
    for block in &doc.blocks {
        match block {
            Block::Heading(h) => layout.text_block(h, 13.0, true, 10.0, 4.0),
            Block::Subheading(h) => layout.text_block(h, 11.0, true, 6.0, 2.0),
            Block::Paragraph(p) => layout.text_block(p, BODY, false, 0.0, 6.0),
            Block::Facts(f) => layout.facts(f),
            Block::Table { columns, rows } => layout.table(columns, rows),
        }
    }

    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(doc.title.clone())
            .language(doc.lang.tag().to_owned()),
    );
    let count = layout.pages.len();
    let (page_word, of_word) = (doc.lang.t("page"), doc.lang.t("of"));
    for (i, ops) in layout.pages.iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
            .ok_or_else(|| PdfError::Write("page size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        let mut text = |x: f32, y: f32, size: f32, face: &Face, t: &str| {
            surface.draw_text(
                Point::from_xy(x, y),
                face.font.clone(),
                size,
                t,
                false,
                TextDirection::Auto,
            );
        };
        text(MARGIN, MARGIN, 8.0, &regular, &doc.title);
        let footer = format!("{page_word} {} {of_word} {count}", i + 1);
        let footer_x = (PAGE_W - regular.width(&footer, 8.0)) / 2.0;
        text(footer_x, PAGE_H - MARGIN, 8.0, &regular, &footer);
        let mut rules = Vec::new();
        for op in ops {
            match op {
                Op::Text {
                    x,
                    y,
                    size,
                    bold: b,
                    text: t,
                } => text(*x, *y, *size, if *b { &bold } else { &regular }, t),
                Op::Rule { x1, x2, y } => rules.push((*x1, *x2, *y)),
            }
        }
        surface.set_stroke(Some(Stroke {
            width: 0.4,
            ..Stroke::default()
        }));
        for (x1, x2, y) in rules {
            let mut path = PathBuilder::new();
            path.move_to(x1, y);
            path.line_to(x2, y);
            if let Some(path) = path.finish() {
                surface.draw_path(&path);
            }
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| PdfError::Write(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Lang;

    #[test]
    fn a_long_table_breaks_across_pages_and_every_page_is_numbered() {
        let rows: Vec<Vec<String>> = (0..200)
            .map(|i| vec![format!("Zeile {i}"), "Jürgen Weiß-Müller".into()])
            .collect();
        let doc = Doc {
            title: "Protokoll: „Test“".into(),
            lang: Lang::De,
            blocks: vec![Block::Table {
                columns: vec![("Nr.".into(), 0.3), ("Name".into(), 0.7)],
                rows,
            }],
        };
        let pdf = render(&doc).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let regular = Face::load(REGULAR).unwrap();
        let bold = Face::load(BOLD).unwrap();
        let mut layout = Layout {
            regular: &regular,
            bold: &bold,
            pages: Vec::new(),
            y: TOP,
        };
        layout.new_page();
        if let Block::Table { columns, rows } = &doc.blocks[0] {
            layout.table(columns, rows);
        }
        assert!(layout.pages.len() >= 4, "{} pages", layout.pages.len());
        for page in &layout.pages {
            let first = page.iter().find_map(|op| match op {
                Op::Text {
                    text, bold: true, ..
                } => Some(text.as_str()),
                _ => None,
            });
            assert_eq!(first, Some("Nr."), "the header row opens every page");
            assert!(page.iter().all(|op| match op {
                Op::Text { y, .. } => *y <= BOTTOM,
                Op::Rule { y, .. } => *y <= BOTTOM + 1.0,
            }));
        }
    }

    #[test]
    fn long_words_are_split_to_fit() {
        let regular = Face::load(REGULAR).unwrap();
        let bold = Face::load(BOLD).unwrap();
        let layout = Layout {
            regular: &regular,
            bold: &bold,
            pages: Vec::new(),
            y: TOP,
        };
        let lines = layout.wrap(&"x".repeat(300), BODY, false, 100.0);
        assert!(lines.len() > 3);
        assert!(lines.iter().all(|l| regular.width(l, BODY) <= 100.0));
    }
}
