//! Cells of the CSV files Roster writes (exports, reports) and reads (imports), made safe to open
//! in a spreadsheet (issue "Bulk import, export and bulk edit"): a cell that a spreadsheet would
//! run as a formula — starting with `=`, `+`, `-`, `@`, a tab or a carriage return, as OWASP's
//! "CSV injection" guidance lists — is written with a leading `'`, which spreadsheets show as text.
//! So that an import reads back exactly what an export wrote, a cell that itself starts with `'`
//! gets one more; [`restore`] takes one leading `'` off where [`neutralise`] put one. A `'` that a
//! person typed before any other character is kept.

use std::borrow::Cow;

/// The characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

fn needs_quote(cell: &str) -> bool {
    cell.starts_with(FORMULA_STARTS) || cell.starts_with('\'')
}

/// The cell as written: with a leading `'` when it starts like a formula, or with a `'`.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if needs_quote(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The cell as read: without the `'` that [`neutralise`] added.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_quote(rest) => rest,
        _ => cell,
    }
}

/// Writes CSV (RFC 4180: CRLF line ends, a cell quoted when it holds a comma, a quote or a line
/// break), every cell neutralised; the one writer of exports and reports. A file starts with a
/// UTF-8 byte-order mark, without which Excel opens a CSV file as the machine's legacy code page
/// and garbles every accented name.
pub struct CsvWriter {
    inner: csv::Writer<Vec<u8>>,
}

impl Default for CsvWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl CsvWriter {
    /// A writer of a file: the byte-order mark comes first; [`CsvWriter::take`] hands over what
    /// is written so far and goes on with the next rows.
    pub fn new() -> Self {
        Self {
            inner: writer("\u{feff}".as_bytes().to_vec()),
        }
    }

    /// (Into memory: the `csv` crate's errors are its output's I/O errors, which a `Vec` has none
    /// of.)
    pub fn row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) -> crate::Result<()> {
        let cells = cells.into_iter().map(|c| neutralise(c).into_owned());
        self.inner
            .write_record(cells)
            .map_err(|e| crate::Error::Internal(format!("writing CSV: {e}")))
    }

    /// The bytes written since the last take.
    pub fn take(&mut self) -> crate::Result<Vec<u8>> {
        std::mem::replace(&mut self.inner, writer(Vec::new()))
            .into_inner()
            .map_err(|e| crate::Error::Internal(format!("writing CSV: {e}")))
    }
}

fn writer(start: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(start)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn formulas_are_written_as_text_and_read_back_as_they_were() {
        let link = r#"=HYPERLINK("http://example.com")"#;
        assert_eq!(neutralise(link), format!("'{link}"));
        for cell in ["+1", "-1", "@SUM(A1)", "\tx", "\rx", "'quoted", "'", "''"] {
            assert!(neutralise(cell).starts_with('\''), "{cell:?}");
            assert_eq!(restore(&neutralise(cell)), cell);
        }
        assert_eq!(neutralise("ana.lima"), "ana.lima");
        assert!(matches!(neutralise("a=b"), Cow::Borrowed(_)));
        // A `'` typed before anything else is the person's own.
        assert_eq!(restore("'Connor"), "'Connor");
    }

    #[test]
    fn the_writer_quotes_neutralises_and_starts_with_a_byte_order_mark() {
        let mut w = CsvWriter::new();
        w.row(["name", "note"]).expect("writes");
        w.row(["Lima, Ana", "=HYPERLINK(\"http://example.com\")"])
            .expect("writes");
        let first = String::from_utf8(w.take().expect("flushes")).expect("UTF-8");
        assert_eq!(
            first,
            "\u{feff}name,note\r\n\"Lima, Ana\",\"'=HYPERLINK(\"\"http://example.com\"\")\"\r\n"
        );
        w.row(["x"]).expect("writes");
        assert_eq!(w.take().expect("flushes"), b"x\r\n");
    }

    proptest! {
        #[test]
        fn every_cell_survives_the_round_trip_and_never_starts_a_formula(cell in "\\PC{0,12}|[=+\\-@\t\r'][=+\\-@\t\r' a-z]{0,6}") {
            let written = neutralise(&cell);
            prop_assert!(!written.starts_with(FORMULA_STARTS));
            prop_assert_eq!(restore(&written), cell.as_str());
        }
    }
}
