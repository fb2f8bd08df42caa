//! The standard Helvetica fonts with WinAnsiEncoding: every PDF reader has them (no
//! embedding) and a text extractor maps their codes back to Unicode. Text is encoded
//! to WinAnsi (Windows-1252) bytes here; what that encoding cannot show becomes
//! something readable: the rupee sign "Rs.", anything else "?" (the HTML page shows
//! every character).

/// Glyph widths of Helvetica for the printable ASCII codes 32..=126, in 1/1000 em
/// (Adobe's Helvetica metrics). Other codes use [`DEFAULT_WIDTH`].
const ASCII_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0-9
    278, 278, 584, 584, 584, 556, 1015, // :;<=>?@
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, // A-M
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, // N-Z
    278, 278, 278, 469, 556, 333, // [\]^_`
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, // a-m
    556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, // n-z
    334, 260, 334, 584, // {|}~
];

/// Width assumed for codes outside ASCII (accented letters are about this wide).
const DEFAULT_WIDTH: u16 = 556;

/// Bold glyphs are wider than regular ones; headings measured with regular widths
/// are scaled by this much so they never overrun.
pub const BOLD_FACTOR: f32 = 1.08;

/// Windows-1252 codes 0x80..=0x9F that differ from Latin-1.
const CP1252_HIGH: [(char, u8); 27] = [
    ('€', 0x80),
    ('‚', 0x82),
    ('ƒ', 0x83),
    ('„', 0x84),
    ('…', 0x85),
    ('†', 0x86),
    ('‡', 0x87),
    ('ˆ', 0x88),
    ('‰', 0x89),
    ('Š', 0x8A),
    ('‹', 0x8B),
    ('Œ', 0x8C),
    ('Ž', 0x8E),
    ('\u{2018}', 0x91),
    ('\u{2019}', 0x92),
    ('\u{201C}', 0x93),
    ('\u{201D}', 0x94),
    ('•', 0x95),
    ('–', 0x96),
    ('—', 0x97),
    ('˜', 0x98),
    ('™', 0x99),
    ('š', 0x9A),
    ('›', 0x9B),
    ('œ', 0x9C),
    ('ž', 0x9E),
    ('Ÿ', 0x9F),
];

/// `text` as WinAnsi bytes.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '₹' => out.extend_from_slice(b"Rs."),
            '\t' | '\n' | '\r' => out.push(b' '),
            ' '..='~' => out.push(ch as u8),
            '\u{A0}'..='\u{FF}' => out.push(ch as u32 as u8),
            _ => match CP1252_HIGH.iter().find(|(c, _)| *c == ch) {
                Some((_, code)) => out.push(*code),
                None => out.push(b'?'),
            },
        }
    }
    out
}

fn byte_width(byte: u8) -> u16 {
    match byte {
        32..=126 => ASCII_WIDTHS[usize::from(byte - 32)],
        _ => DEFAULT_WIDTH,
    }
}

/// Width of `text` set in Helvetica at `size` points.
pub fn width(text: &str, size: f32) -> f32 {
    let units: u32 = encode(text)
        .into_iter()
        .map(|b| u32::from(byte_width(b)))
        .sum();
    units as f32 * size / 1000.0
}

/// `text` broken into lines no wider than `max` points at `size`, at spaces; a word
/// longer than a line is cut where it no longer fits.
pub fn wrap(text: &str, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if width(&candidate, size) <= max {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        for ch in word.chars() {
            line.push(ch);
            if width(&line, size) > max && line.chars().count() > 1 {
                line.pop();
                lines.push(std::mem::take(&mut line));
                line.push(ch);
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}
