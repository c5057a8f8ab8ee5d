//! `roster import FILE.csv`: the CSV import of `POST /api/v1/users/import` for files of any size
//! (first migrations from another system), by the same service and rules, in one transaction: it
//! creates every account it uploads or none (a seat limit passed, a failure, the process killed).
//! On a terminal it shows a progress bar; it ends with a summary and the rows it did not upload.
//!
//! On SQLite the import holds the database's one writer until it commits: a server using the
//! same file answers writes 503 meanwhile (reads go on). On PostgreSQL the server runs on.

use std::{
    fs::File,
    io::{BufRead, BufReader, IsTerminal, Read},
    path::Path,
    sync::Arc,
    time::Instant,
};

use crate::{
    app::{Core, Reach},
    Config,
};
use domain::{
    audit::Origin,
    services::{ImportOptions, ImportReport, ImportSource, RowOutcome},
};

/// The most problem rows the summary lists.
const SHOWN: usize = 50;

/// Imports `file` with `options` (their `list_uploaded` aside: the summary lists problems only).
pub fn run(config: &Config, file: &Path, mut options: ImportOptions) -> Result<(), String> {
    options.list_uploaded = false;
    let lines = count_lines(file)?;
    let core = Core::open(config, 1, Reach::Now)?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(lines.saturating_sub(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} rows read, {per_sec}, {eta} left",
            )
            .map_err(|e| e.to_string())?,
        );
        Some(bar)
    } else {
        None
    };
    let shown = bar.clone();
    let progress = Arc::new(move |read: u64| match &shown {
        Some(bar) => bar.set_position(read),
        // Where no terminal shows a bar, the log tells (every chunk at `debug`).
        None if read.is_multiple_of(100_000) => tracing::info!(read, "importing: rows read"),
        None => tracing::debug!(read, "importing: rows read"),
    });
    let path = file.to_owned();
    let source: ImportSource = Box::new(move || open(&path).map_err(domain::Error::Internal));
    let origin = Origin {
        address: None,
        user_agent: Some("roster import".into()),
    };
    let started = Instant::now();
    let report = actix_web::rt::System::new().block_on(
        core.services
            .import_accounts_as_system(source, options, origin, progress),
    );
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = report.map_err(|e| match e {
        domain::Error::Validation(errors) => errors
            .iter()
            .map(|e| format!("{}: {} ({})", e.field, e.message, e.code))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    })?;
    print!(
        "{}",
        summary(file, &report, started.elapsed().as_secs_f64())
    );
    Ok(())
}

/// The file's first line and a reader of all of it.
fn open(path: &Path) -> Result<(Vec<u8>, Box<dyn Read>), String> {
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(cannot)?);
    let first = domain::import::first_line(reader.fill_buf().map_err(cannot)?).to_vec();
    Ok((first, Box::new(reader)))
}

/// Line breaks in the file (about its rows, for the progress bar).
fn count_lines(path: &Path) -> Result<u64, String> {
    let mut file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut buf = vec![0; 1 << 20];
    let mut lines = 0;
    loop {
        let n = file.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

fn summary(file: &Path, report: &ImportReport, seconds: f64) -> String {
    let rows = report.uploaded + report.ignored + report.rejected;
    let mut out = format!(
        "{}{}: {} uploaded, {} ignored, {} rejected, {rows} rows in {seconds:.1} s ({:.0} rows/s)\n",
        if report.dry_run { "dry run, nothing written: " } else { "" },
        file.display(),
        report.uploaded,
        report.ignored,
        report.rejected,
        rows as f64 / seconds.max(1e-9),
    );
    if !report.ignored_columns.is_empty() {
        out.push_str(&format!(
            "columns skipped: {}\n",
            report.ignored_columns.join(", ")
        ));
    }
    for row in report.rows.iter().take(SHOWN) {
        match &row.outcome {
            RowOutcome::Ignored { field, code } => {
                out.push_str(&format!("line {}: ignored, {field}: {code}\n", row.line));
            }
            RowOutcome::Rejected(errors) => {
                for e in errors {
                    out.push_str(&format!(
                        "line {}: rejected, {}: {} ({})\n",
                        row.line, e.field, e.message, e.code
                    ));
                }
            }
            RowOutcome::Uploaded { .. } => {}
        }
    }
    if report.rows.len() > SHOWN {
        out.push_str(&format!(
            "… and {} more rows ignored or rejected\n",
            report.rows.len() - SHOWN
        ));
    }
    out
}
