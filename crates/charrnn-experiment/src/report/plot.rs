//! Loss curves as SVG, drawn with `plotters`.
use charrnn_model::EvalRecord;
use plotters::prelude::*;

use crate::error::{ExperimentError, Result};

/// One named line of a plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// The legend's text.
    pub label: String,
    /// (x, bits per character) points, in order.
    pub points: Vec<(f64, f64)>,
}

/// A record's step, as an x coordinate.
pub(crate) fn by_step(m: &EvalRecord) -> f64 {
    m.step as f64
}

/// A record's seconds of training, as an x coordinate.
pub(crate) fn by_time(m: &EvalRecord) -> f64 {
    m.elapsed
}

/// The (x, value) points of `metrics` whose value is finite.
pub(crate) fn points(
    metrics: &[EvalRecord],
    x: impl Fn(&EvalRecord) -> f64,
    value: impl Fn(&EvalRecord) -> Option<f64>,
) -> Vec<(f64, f64)> {
    metrics
        .iter()
        .filter_map(|m| Some((x(m), value(m).filter(|v| v.is_finite())?)))
        .collect()
}

/// The train and validation bpc curves of a run.
pub fn bpc_curves(metrics: &[EvalRecord]) -> Vec<Curve> {
    vec![
        Curve {
            label: "train".into(),
            points: points(metrics, by_step, |m| m.train_bpc),
        },
        Curve {
            label: "validation".into(),
            points: points(metrics, by_step, |m| m.val_bpc),
        },
    ]
}

/// Draws `curves` (bpc against `x_label`) as an SVG document. Each curve is a line with a dot
/// on every point, so a single evaluation still shows; with no point at all the axes are drawn
/// empty.
pub fn plot_svg(caption: &str, x_label: &str, curves: &[Curve]) -> Result<String> {
    let plot_error = |err: &dyn std::fmt::Display| ExperimentError::Plot {
        what: caption.to_owned(),
        message: err.to_string(),
    };
    let all = curves.iter().flat_map(|c| c.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1.0 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(0.01);
    let (y0, y1) = ((y0 - pad).max(0.0), y1 + pad);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| plot_error(&e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("bits per character")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(|e| plot_error(&e))?;
        for (i, curve) in curves.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    curve.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| plot_error(&e))?
                .label(curve.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(
                    curve
                        .points
                        .iter()
                        .map(|&p| Circle::new(p, 3, color.filled())),
                )
                .map_err(|e| plot_error(&e))?;
        }
        if !curves.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| plot_error(&e))?;
        }
        root.present().map_err(|e| plot_error(&e))?;
    }
    Ok(svg)
}
