//! Time-series charts as PNG (plotters, bitmap backend, the DejaVu Sans font shipped in
//! `assets/fonts`): local-time axis, gaps kept as gaps, top N series plus "other".

use std::collections::BTreeMap;
use std::sync::Once;

use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::day::Unit;
use crate::clients::prometheus::RangeSeries;

/// Pixel size of a chart; emails show it at half size for sharp rendering on HiDPI screens.
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 400;
const FONT: &str = "sans-serif";
/// Line colours; the last is for "other".
pub const PALETTE: [&str; 7] = [
    "#0969da", "#1a7f37", "#bf8700", "#cf222e", "#8250df", "#1b7c83", "#8c959f",
];

static FONTS: Once = Once::new();

/// Registers the shipped font (once): charts must not depend on system fonts.
fn register_fonts() {
    FONTS.call_once(|| {
        let regular: &'static [u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
        let bold: &'static [u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, regular);
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, bold);
    });
}

/// Why a chart could not be drawn; shown as the panel's "no data: <reason>".
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// plotters failed (its error type is generic over the backend, hence the text).
    #[error("chart drawing failed: {0}")]
    Draw(String),
    #[error("chart encoding failed: {0}")]
    Encode(png::EncodingError),
    /// The drawing task panicked or was cancelled.
    #[error("the chart could not be drawn: {0}")]
    Aborted(String),
}

/// One line of a chart, after top-N folding.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// A rendered chart and its legend (drawn by the HTML so it stays readable without images).
#[derive(Debug, Clone)]
pub struct Chart {
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub lines: Vec<Line>,
}

fn mean(points: &[(f64, f64)]) -> f64 {
    let finite: Vec<f64> = points.iter().map(|p| p.1).filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        f64::NAN
    } else {
        finite.iter().sum::<f64>() / finite.len() as f64
    }
}

/// Keeps the `top` series with the highest mean and sums the rest into "other" (per timestamp).
pub fn fold_top(series: Vec<(String, Vec<(f64, f64)>)>, top: usize) -> Vec<Line> {
    let mut ranked = series;
    ranked.sort_by(|a, b| mean(&b.1).total_cmp(&mean(&a.1)).then_with(|| a.0.cmp(&b.0)));
    let top = top.max(1);
    let (kept, rest) = if ranked.len() > top + 1 {
        let rest = ranked.split_off(top);
        (ranked, rest)
    } else {
        (ranked, Vec::new())
    };
    let mut lines: Vec<Line> = kept
        .into_iter()
        .enumerate()
        .map(|(i, (name, points))| Line {
            name,
            color: PALETTE[i % (PALETTE.len() - 1)],
            points,
        })
        .collect();
    if !rest.is_empty() {
        let mut sums: BTreeMap<i64, f64> = BTreeMap::new();
        for (_, points) in &rest {
            for (t, v) in points.iter().filter(|p| p.1.is_finite()) {
                *sums.entry((*t * 1000.0).round() as i64).or_insert(0.0) += v;
            }
        }
        lines.push(Line {
            name: format!("other ({} series)", rest.len()),
            color: PALETTE[PALETTE.len() - 1],
            points: sums.into_iter().map(|(t, v)| (t as f64 / 1000.0, v)).collect(),
        });
    }
    lines
}

/// Splits points into runs without NaN/infinite values or holes longer than 1.5 steps.
pub fn segments(points: &[(f64, f64)], step: f64) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for &(t, v) in points {
        let hole = current.last().is_some_and(|last| t - last.0 > step * 1.5);
        if !v.is_finite() || hole {
            if !current.is_empty() {
                runs.push(std::mem::take(&mut current));
            }
            if !v.is_finite() {
                continue;
            }
        }
        current.push((t, v));
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

fn rgb(hex: &str) -> RGBColor {
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
    RGBColor(byte(1), byte(3), byte(5))
}

/// Draws `series` over `[start, end]`. `None` when there is nothing finite to draw.
#[allow(clippy::too_many_arguments)]
pub fn render(
    series: &[RangeSeries],
    legend: Option<&str>,
    unit: Unit,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    step: u64,
    tz: Tz,
    top: usize,
) -> Result<Option<Chart>, ChartError> {
    register_fonts();
    let named = series
        .iter()
        .map(|s| (super::query::legend(legend, &s.labels), s.points.clone()))
        .collect();
    let lines = fold_top(named, top);
    let values: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return Ok(None);
    }
    let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(*v), hi.max(*v))
    });
    let pad = if max > min {
        (max - min) * 0.1
    } else {
        max.abs().max(1.0) * 0.1
    };
    let y0 = if min >= 0.0 && min - pad < 0.0 { 0.0 } else { min - pad };
    let y1 = max + pad;
    let (x0, x1) = (start.timestamp() as f64, end.timestamp() as f64);

    let mut buffer = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
        let error = |e: &dyn std::fmt::Display| ChartError::Draw(e.to_string());
        root.fill(&WHITE).map_err(|e| error(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin_top(20)
            .margin_right(30)
            .margin_left(10)
            .x_label_area_size(50)
            .y_label_area_size(120)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| error(&e))?;
        let axis_font = (FONT, 24).into_font().color(&RGBColor(87, 96, 106));
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(5)
            .y_label_formatter(&|y| unit.axis(*y, (y1 - y0) / 5.0))
            .y_label_style(axis_font.clone())
            .light_line_style(RGBColor(234, 238, 242))
            .bold_line_style(RGBColor(216, 222, 228))
            .axis_style(RGBColor(175, 184, 193))
            .draw()
            .map_err(|e| error(&e))?;
        // Local-time ticks every 3 hours (DST-aware: each hour converted on its own).
        let mut tick = start;
        while tick <= end {
            let local = tick.with_timezone(&tz);
            if local.minute() == 0 && local.hour().is_multiple_of(3) {
                let x = tick.timestamp() as f64;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, y0), (x, y1)],
                        RGBColor(234, 238, 242),
                    )))
                    .map_err(|e| error(&e))?;
                let (px, py) = chart.backend_coord(&(x, y0));
                root.draw(&Text::new(
                    local.format("%H:%M").to_string(),
                    (px - 30, py + 12),
                    axis_font.clone(),
                ))
                .map_err(|e| error(&e))?;
            }
            tick += Duration::minutes(30);
        }
        for line in &lines {
            let color = rgb(line.color);
            for run in segments(&line.points, step as f64) {
                if run.len() == 1 {
                    chart
                        .draw_series(std::iter::once(Circle::new(run[0], 3, color.filled())))
                        .map_err(|e| error(&e))?;
                } else {
                    chart
                        .draw_series(LineSeries::new(run, color.stroke_width(3)))
                        .map_err(|e| error(&e))?;
                }
            }
        }
        root.present().map_err(|e| error(&e))?;
    }
    Ok(Some(Chart {
        png: encode_png(&buffer, WIDTH, HEIGHT).map_err(ChartError::Encode)?,
        width: WIDTH,
        height: HEIGHT,
        lines,
    }))
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_and_nan_split_lines() {
        let points = vec![
            (0.0, 1.0),
            (300.0, 2.0),
            (1200.0, 3.0),
            (1500.0, f64::NAN),
            (1800.0, 4.0),
        ];
        let runs = segments(&points, 300.0);
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].len(), 2);
        assert_eq!(runs[1], vec![(1200.0, 3.0)]);
    }

    #[test]
    fn many_series_fold_into_other() {
        let series = (0..9)
            .map(|i| (format!("s{i}"), vec![(0.0, i as f64), (60.0, i as f64)]))
            .collect();
        let lines = fold_top(series, 5);
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0].name, "s8");
        assert_eq!(lines[5].name, "other (4 series)");
        assert_eq!(lines[5].points, vec![(0.0, 6.0), (60.0, 6.0)]);
    }

    #[test]
    fn renders_a_png_without_system_fonts_and_nothing_for_empty_data() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let end = start + Duration::hours(24);
        let series = vec![RangeSeries {
            labels: Default::default(),
            points: (0..288)
                .map(|i| (start.timestamp() as f64 + i as f64 * 300.0, (i % 50) as f64))
                .collect(),
        }];
        let chart = render(&series, None, Unit::Number, start, end, 300, chrono_tz::UTC, 5)
            .unwrap()
            .unwrap();
        assert!(chart.png.starts_with(b"\x89PNG"));
        let empty = RangeSeries {
            labels: Default::default(),
            points: vec![(0.0, f64::NAN)],
        };
        assert!(
            render(&[empty], None, Unit::Number, start, end, 300, chrono_tz::UTC, 5)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_png_of_the_wrong_size_is_a_typed_encoding_error() {
        let error = encode_png(&[0; 5], 2, 2).unwrap_err();
        let error = ChartError::Encode(error);
        assert!(error.to_string().starts_with("chart encoding failed: "), "{error}");
    }
}
