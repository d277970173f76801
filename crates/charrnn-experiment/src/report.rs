//! The experiment's report: `report.md`, with its loss curves as SVG (drawn with `plotters`)
//! beside it. Everything here works on the records the experiment collected; it runs nothing.
//!
//! What the report holds (`types`), its Markdown (`markdown`) and its plots (`plot`) have a
//! module each; this one writes the files.
mod markdown;
mod plot;
#[cfg(test)]
mod tests;
mod types;

use std::{
    fs,
    path::{Path, PathBuf},
};

use charrnn_model::EvalRecord;

pub use self::markdown::render_markdown;
pub use self::plot::{Curve, bpc_curves, plot_svg};
pub use self::types::{
    CURVES_FILE, DataStats, REPORT_FILE, Report, SWEEP_CURVES_FILE, SWEEP_TIME_CURVES_FILE,
    SampleGroup, SweepResult, SweepRow,
};
use crate::error::{ExperimentError, Result};

/// Writes `report.md`, `bpc.svg` and (with a sweep) `sweep.svg` and `sweep-time.svg` into
/// `dir`, each atomically; returns the report's path.
pub fn write_report(dir: &Path, report: &Report) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| ExperimentError::io(dir, e))?;
    let curves = bpc_curves(&report.metrics);
    let svg = plot_svg(
        &format!("{}: bits per character", report.name),
        "step",
        &curves,
    )?;
    write_atomic(&dir.join(CURVES_FILE), svg.as_bytes())?;
    if let Some(rows) = &report.sweep {
        let done: Vec<(&str, &[EvalRecord])> = rows
            .iter()
            .filter_map(|row| Some((row.name.as_str(), &row.outcome.as_ref().ok()?.metrics[..])))
            .collect();
        for (file, x_label, x) in [
            (
                SWEEP_CURVES_FILE,
                "step",
                self::plot::by_step as fn(&EvalRecord) -> f64,
            ),
            (
                SWEEP_TIME_CURVES_FILE,
                "seconds of training",
                self::plot::by_time,
            ),
        ] {
            let curves: Vec<Curve> = done
                .iter()
                .map(|(name, metrics)| Curve {
                    label: (*name).to_owned(),
                    points: self::plot::points(metrics, x, |m| m.val_bpc),
                })
                .collect();
            let svg = plot_svg("sweep: validation bits per character", x_label, &curves)?;
            write_atomic(&dir.join(file), svg.as_bytes())?;
        }
    }
    let path = dir.join(REPORT_FILE);
    write_atomic(&path, render_markdown(report).as_bytes())?;
    Ok(path)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().ok_or_else(|| {
        ExperimentError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"),
        )
    })?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| ExperimentError::io(path, e))
}
