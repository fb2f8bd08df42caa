//! The PDF of a document, written in-process with `pdf-writer`: A4 pages, the
//! standard Helvetica fonts ([`font`]), the same content as the HTML page (both render
//! [`super::view::View`]). The line table breaks across pages with its header
//! repeated; every page carries the number and "page i of n".

mod font;

use pdf_writer::{Content, Name, Pdf, Rect, Ref, Str, TextStr};

use super::DocumentError;
use super::view::{Column, View, view};
use crate::domain::invoice::TaxDocument;
use font::{BOLD_FACTOR, encode, width, wrap};

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 40.0;
/// Lowest y content may reach; below it is the footer.
const BOTTOM: f32 = 58.0;
const BODY: f32 = 9.0;
const TABLE: f32 = 7.5;
const PAD: f32 = 3.0;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

fn leading(size: f32) -> f32 {
    size * 1.3
}

/// Pages being filled, top to bottom.
struct Pages {
    done: Vec<Content>,
    page: Content,
    y: f32,
}

impl Pages {
    fn new() -> Pages {
        Pages {
            done: Vec::new(),
            page: Content::new(),
            y: PAGE_H - MARGIN,
        }
    }

    fn break_page(&mut self) {
        let full = std::mem::replace(&mut self.page, Content::new());
        self.done.push(full);
        self.y = PAGE_H - MARGIN;
    }

    /// Starts a new page unless `height` fits; true when it did.
    fn ensure(&mut self, height: f32) -> bool {
        if self.y - height < BOTTOM {
            self.break_page();
            true
        } else {
            false
        }
    }

    /// Text with its baseline at `y`.
    fn text(&mut self, x: f32, y: f32, bold: bool, size: f32, text: &str) {
        let bytes = encode(text);
        self.page
            .begin_text()
            .set_font(if bold { BOLD } else { REGULAR }, size)
            .next_line(x, y)
            .show(Str(&bytes))
            .end_text();
    }

    /// Text ending at `right`.
    fn text_right(&mut self, right: f32, y: f32, bold: bool, size: f32, text: &str) {
        let factor = if bold { BOLD_FACTOR } else { 1.0 };
        let w = width(text, size) * factor;
        self.text(right - w, y, bold, size, text);
    }

    /// Wrapped lines at `x` from the current y down; returns the height used.
    fn paragraph(&mut self, x: f32, max: f32, bold: bool, size: f32, text: &str) -> f32 {
        let lines = wrap(text, size, max / if bold { BOLD_FACTOR } else { 1.0 });
        let mut used = 0.0;
        for line in lines {
            self.ensure(leading(size));
            self.y -= leading(size);
            used += leading(size);
            let y = self.y + size * 0.3;
            self.text(x, y, bold, size, &line);
        }
        used
    }

    fn finish(mut self) -> Vec<Content> {
        let last = std::mem::replace(&mut self.page, Content::new());
        self.done.push(last);
        self.done
    }
}

const RIGHT: f32 = PAGE_W - MARGIN;
const INNER: f32 = PAGE_W - 2.0 * MARGIN;

fn header(pages: &mut Pages, v: &View) {
    pages.y -= 18.0;
    pages.text(MARGIN, pages.y, true, 18.0, v.title);
    pages.y -= 10.0;
    for (label, value) in &v.facts {
        let top = pages.y;
        pages.paragraph(MARGIN, 100.0, false, BODY, label);
        let after_label = pages.y;
        pages.y = top;
        pages.paragraph(MARGIN + 105.0, INNER - 105.0, false, BODY, value);
        pages.y = pages.y.min(after_label);
    }
    pages.y -= 10.0;
    let half = (INNER - 20.0) / 2.0;
    let height = |lines: &[String]| {
        lines
            .iter()
            .map(|l| wrap(l, BODY, half).len())
            .sum::<usize>() as f32
            * leading(BODY)
            + leading(BODY)
    };
    let needed = height(&v.supplier.lines).max(height(&v.recipient.lines));
    pages.ensure(needed);
    let top = pages.y;
    let mut lowest = top;
    for (party, x) in [(&v.supplier, MARGIN), (&v.recipient, MARGIN + half + 20.0)] {
        pages.y = top;
        pages.paragraph(x, half, true, BODY, &party.heading.to_uppercase());
        for line in &party.lines {
            pages.paragraph(x, half, false, BODY, line);
        }
        lowest = lowest.min(pages.y);
    }
    pages.y = lowest - 12.0;
}

/// Column widths: amounts as wide as their widest cell or header word, the
/// description the rest.
fn widths(v: &View) -> Vec<f32> {
    let mut out: Vec<f32> = v
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let cells = v
                .rows
                .iter()
                .filter_map(|r| r.get(i))
                .map(|s| width(s, TABLE));
            let words = c
                .title
                .split_whitespace()
                .map(|w| width(w, TABLE) * BOLD_FACTOR);
            // one point of slack: a width measured, scaled and unscaled again may
            // round below itself and wrap the word it was measured from
            cells.chain(words).fold(0.0, f32::max) + 2.0 * PAD + 1.0
        })
        .collect();
    let fixed: f32 = v
        .columns
        .iter()
        .zip(&out)
        .filter(|(c, _)| c.title != "Description")
        .map(|(_, w)| *w)
        .sum();
    if let Some(i) = v.columns.iter().position(|c| c.title == "Description") {
        out[i] = (INNER - fixed).max(60.0);
    }
    out
}

fn row_height(cells: &[Vec<String>]) -> f32 {
    let lines = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
    lines as f32 * leading(TABLE) + 2.0 * PAD
}

fn draw_row(
    pages: &mut Pages,
    columns: &[Column],
    widths: &[f32],
    cells: &[Vec<String>],
    bold: bool,
) {
    let height = row_height(cells);
    let top = pages.y;
    let mut x = MARGIN;
    if bold {
        pages.page.set_fill_gray(0.9);
        pages
            .page
            .rect(MARGIN, top - height, widths.iter().sum(), height);
        pages.page.fill_nonzero();
        pages.page.set_fill_gray(0.0);
    }
    pages.page.set_line_width(0.4).set_stroke_gray(0.55);
    for ((column, w), lines) in columns.iter().zip(widths).zip(cells) {
        pages.page.rect(x, top - height, *w, height);
        pages.page.stroke();
        for (n, line) in lines.iter().enumerate() {
            let y = top - PAD - (n as f32 + 1.0) * leading(TABLE) + TABLE * 0.3;
            if column.numeric {
                pages.text_right(x + w - PAD, y, bold, TABLE, line);
            } else {
                pages.text(x + PAD, y, bold, TABLE, line);
            }
        }
        x += w;
    }
    pages.y = top - height;
}

fn table(pages: &mut Pages, v: &View) {
    pages.paragraph(MARGIN, INNER, false, 8.0, &v.table_caption);
    pages.y -= 2.0;
    let widths = widths(v);
    let wrap_cells = |cells: &[String], bold: bool| -> Vec<Vec<String>> {
        let factor = if bold { BOLD_FACTOR } else { 1.0 };
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| wrap(c, TABLE, (w - 2.0 * PAD) / factor))
            .collect()
    };
    let titles: Vec<String> = v.columns.iter().map(|c| c.title.clone()).collect();
    let head = wrap_cells(&titles, true);
    let head_height = row_height(&head);
    let rows: Vec<Vec<Vec<String>>> = v.rows.iter().map(|r| wrap_cells(r, false)).collect();
    let first = rows.first().map_or(0.0, |r| row_height(r));
    pages.ensure(head_height + first);
    draw_row(pages, &v.columns, &widths, &head, true);
    for row in &rows {
        if pages.ensure(row_height(row)) {
            draw_row(pages, &v.columns, &widths, &head, true);
        }
        draw_row(pages, &v.columns, &widths, row, false);
    }
    pages.y -= 8.0;
}

fn pairs(pages: &mut Pages, rows: &[(String, String)]) {
    let label_x = RIGHT - 230.0;
    for (i, (label, value)) in rows.iter().enumerate() {
        let last = i + 1 == rows.len();
        pages.ensure(leading(BODY));
        pages.y -= leading(BODY);
        pages.text(label_x, pages.y, last, BODY, label);
        pages.text_right(RIGHT, pages.y, last, BODY, value);
    }
    pages.y -= 4.0;
}

fn render(v: &View, number: &str) -> Vec<u8> {
    let mut pages = Pages::new();
    header(&mut pages, v);
    table(&mut pages, v);
    pairs(&mut pages, &v.totals);
    pages.paragraph(MARGIN, INNER, false, BODY, &v.words);
    if let Some(inr) = &v.inr {
        pages.y -= 8.0;
        pages.paragraph(MARGIN, INNER, true, BODY, &inr.heading);
        pairs(&mut pages, &inr.rows);
        pages.paragraph(MARGIN, INNER, false, BODY, &inr.words);
    }
    if !v.notes.is_empty() {
        pages.y -= 8.0;
        pages.paragraph(MARGIN, INNER, true, BODY, "NOTES");
        for note in &v.notes {
            pages.paragraph(MARGIN, INNER, false, BODY, note);
        }
    }
    let mut contents = pages.finish();
    let total = contents.len();
    for (i, page) in contents.iter_mut().enumerate() {
        let footer = format!("{} {number} - page {} of {total}", v.title, i + 1);
        let bytes = encode(&footer);
        page.begin_text()
            .set_font(REGULAR, 7.0)
            .next_line(MARGIN, MARGIN - 10.0)
            .show(Str(&bytes))
            .end_text();
    }

    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let mut next = 6;
    let mut alloc = || {
        let id = Ref::new(next);
        next += 1;
        id
    };
    let ids: Vec<(Ref, Ref)> = contents.iter().map(|_| (alloc(), alloc())).collect();
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(ids.iter().map(|(page, _)| *page))
        .count(i32::try_from(ids.len()).unwrap_or(i32::MAX));
    for ((page_id, content_id), content) in ids.iter().zip(contents) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(tree)
            .contents(*content_id);
        page.resources()
            .fonts()
            .pair(REGULAR, regular)
            .pair(BOLD, bold);
        drop(page);
        pdf.stream(*content_id, &content.finish());
    }
    for (id, name) in [(regular, &b"Helvetica"[..]), (bold, &b"Helvetica-Bold"[..])] {
        pdf.type1_font(id)
            .base_font(Name(name))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    let title = format!("{} {number}", v.title);
    pdf.document_info(info)
        .title(TextStr(&title))
        .producer(TextStr("checkout"));
    pdf.finish()
}

/// The PDF of `doc`.
pub fn pdf(doc: &TaxDocument) -> Result<Vec<u8>, DocumentError> {
    Ok(render(&view(doc), &doc.number))
}
