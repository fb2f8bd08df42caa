//! Admin output: tables for people, one JSON document for scripts, progress of bulk
//! operations on stderr (so stdout stays machine-readable).

use std::io::IsTerminal;

use comfy_table::presets::ASCII_FULL_CONDENSED;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// A table of plain ASCII cells: no colour or terminal codes, so a pipe or a log sees
/// exactly what a terminal shows. Rows beyond a terminal's width are not wrapped: an id
/// cut in two cannot be copied.
pub struct Table(comfy_table::Table);

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        let mut table = comfy_table::Table::new();
        table.load_style(ASCII_FULL_CONDENSED).set_header(headers);
        Table(table)
    }

    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: ToString,
    {
        self.0
            .add_row(cells.into_iter().map(|c| c.to_string()).collect::<Vec<_>>());
    }

    pub fn render(&self) -> String {
        let mut out = self.0.to_string();
        out.push('\n');
        if self.0.is_empty() {
            out.push_str("(none)\n");
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// Prints `value` as JSON when `json`, else runs `human`.
pub fn emit<T: Serialize>(json: bool, value: &T, human: impl FnOnce()) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        human();
    }
    Ok(())
}

/// Progress of a bulk operation on stderr: a bar when stderr is a terminal; otherwise
/// (a pipe, a log, a test) plain `[done/total] item` lines, or nothing for work that
/// never printed progress, so scripts see the same output either way.
pub struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    done: u64,
    total: u64,
}

impl Progress {
    /// A bar on a terminal, else one line per item.
    pub fn lines(total: usize, what: &str) -> Self {
        Self::new(total, what, true)
    }

    /// A bar on a terminal, else nothing.
    pub fn quiet(total: usize, what: &str) -> Self {
        Self::new(total, what, false)
    }

    /// Never shows anything (library callers that report on their own).
    pub fn hidden() -> Self {
        Progress {
            bar: None,
            lines: false,
            done: 0,
            total: 0,
        }
    }

    fn new(total: usize, what: &str, lines: bool) -> Self {
        let total = total as u64;
        let bar = std::io::stderr().is_terminal().then(|| {
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} ({eta} left) {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            ProgressBar::new(total)
                .with_style(style)
                .with_prefix(what.to_owned())
        });
        Progress {
            bar,
            lines,
            done: 0,
            total,
        }
    }

    /// For work that learns its size once it has started.
    pub fn set_total(&mut self, total: usize) {
        self.total = total as u64;
        if let Some(bar) = &self.bar {
            bar.set_length(self.total);
        }
    }

    /// One more item done; `item` names it.
    pub fn step(&mut self, item: &str) {
        self.done += 1;
        match &self.bar {
            Some(bar) => {
                bar.set_message(item.to_owned());
                bar.inc(1);
            }
            None if self.lines => eprintln!("[{}/{}] {item}", self.done, self.total),
            None => {}
        }
    }

    /// One more item passed over without a line of its own.
    pub fn skip(&mut self) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// A message on stderr that does not tear the bar.
    pub fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{message}")),
            None => eprintln!("{message}"),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // the command's own summary follows; a finished bar left on its line would run
        // into it
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `-` for a missing value.
pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|v| v.to_string())
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn columns_align() {
        let mut t = Table::new(&["id", "status"]);
        t.row(["1", "Done"]);
        t.row(["12345", "Failed"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        let row = |cells: &[&str]| lines.iter().position(|l| words(l) == cells);
        let header = row(&["id", "status"]).unwrap_or_else(|| panic!("{text}"));
        let first = row(&["1", "Done"]).unwrap_or_else(|| panic!("{text}"));
        let second = row(&["12345", "Failed"]).unwrap_or_else(|| panic!("{text}"));
        assert!(header < first && first < second, "{text}");
        // every cell of a column starts at the same offset
        let at = |line: usize, cell: &str| lines[line].find(cell);
        assert_eq!(at(header, "status"), at(first, "Done"), "{text}");
        assert_eq!(at(first, "Done"), at(second, "Failed"), "{text}");
        assert!(text.is_ascii() && !text.contains('\u{1b}'), "{text}");
    }

    #[test]
    fn an_empty_table_says_so() {
        let text = Table::new(&["id"]).render();
        assert!(text.contains("id") && text.ends_with("(none)\n"), "{text}");
    }

    /// The cells of a table line, without the borders.
    fn words(line: &str) -> Vec<&str> {
        line.split(['|', ' '])
            .filter(|w| !w.is_empty() && !w.starts_with(['-', '+', '=']))
            .collect()
    }
}
