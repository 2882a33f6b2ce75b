//! How results reach the terminal: `--output text|json`, and a plain aligned table used by
//! `list` and by every job's `--dry-run` plan.

use std::fmt::Write as _;

/// `--output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// A text table with a header row and columns padded to their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut text = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                if i + 1 == columns {
                    text.push_str(cell);
                } else {
                    let _ = write!(text, "{cell:<width$}  ");
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.header);
        for row in &self.rows {
            line(row);
        }
        out
    }
}

/// Bytes as a short human string in English (`1.50 MiB`, `512 B`): [`human_bytes_in`].
pub fn human_bytes(bytes: u64) -> String {
    human_bytes_in(bytes as f64, &["B", "KiB", "MiB", "GiB", "TiB"], ".", " ")
}

/// The one byte formatter: binary units (`symbols` from bytes to TiB, in the reader's
/// language) with 3 significant digits (`1.00 GiB`, `10.0 MiB`, `512 B`), `decimal` as the
/// decimal mark and `space` between number and unit. A value that would round to 1000 or
/// more moves to the next unit (`0.977 GiB`, never `1024.00 MiB`); whole bytes stay whole.
pub fn human_bytes_in(value: f64, symbols: &[&str; 5], decimal: &str, space: &str) -> String {
    if !value.is_finite() {
        return format!("{value}");
    }
    let sign = if value < 0.0 { "-" } else { "" };
    let mut scaled = value.abs();
    let mut unit = 0;
    while unit + 1 < symbols.len() && (unit == 0 && scaled >= 1024.0 || unit > 0 && scaled >= 999.5) {
        scaled /= 1024.0;
        unit += 1;
    }
    let decimals = match scaled {
        _ if unit == 0 => 0,
        v if v < 0.9995 => 3,
        v if v < 9.995 => 2,
        v if v < 99.95 => 1,
        _ => 0,
    };
    let number = format!("{scaled:.decimals$}").replace('.', decimal);
    format!("{sign}{number}{space}{}", symbols[unit])
}

/// The progress bar of a job moving `count` documents of `index` (archive, restore): on a
/// terminal with `--progress`, hidden otherwise. The `msg` slot shows extra state.
pub fn documents_bar(show: bool, index: &str, count: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(count);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {human_pos}/{human_len} docs {per_sec} {msg} ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_prefix(index.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut table = Table::new(["JOB", "KIND"]);
        table.row(["daily-report", "report"]).row(["x", "log-retention"]);
        assert_eq!(
            table.render(),
            "JOB           KIND\ndaily-report  report\nx             log-retention\n"
        );
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.00 GiB");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024 * 1024 * 1024 - 1), "1.00 GiB", "never 1024.00 MiB");
        assert_eq!(human_bytes(1000 * 1024 * 1024), "0.977 GiB");
        assert_eq!(human_bytes(150 * 1024 * 1024 + 1), "150 MiB");
        assert_eq!(human_bytes(25 * 1024 * 1024 / 2), "12.5 MiB");
        let french = ["o", "Kio", "Mio", "Gio", "Tio"];
        assert_eq!(human_bytes_in(1.5 * 1024.0, &french, ",", "\u{a0}"), "1,50\u{a0}Kio");
        assert_eq!(human_bytes_in(-2048.0, &french, ",", " "), "-2,00 Kio");
    }
}
