//! Time-series charts as PNG (plotters, bitmap backend, the DejaVu Sans font shipped in
//! `assets/fonts`): local-time axis, nice y ticks, gaps kept, top N + "other", weekly band.

use std::collections::BTreeMap;
use std::sync::Once;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::baseline::{BandPoint, bands};
use super::day::Unit;
use super::locale::Catalogue;
use super::numbers::Scale;
use super::period::Period;
use super::ticks::{self, Limits};
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

/// Keeps the `top` series with the highest mean and sums the rest into "other (N series)".
pub fn fold_top(series: Vec<(String, Vec<(f64, f64)>)>, top: usize) -> Vec<Line> {
    fold_top_in(series, top, Catalogue::english())
}

/// [`fold_top`] with "other" named in `catalogue`'s language.
pub fn fold_top_in(series: Vec<(String, Vec<(f64, f64)>)>, top: usize, catalogue: &Catalogue) -> Vec<Line> {
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
            name: catalogue.count("chart.other", rest.len()),
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

/// A chart to draw: the day's series and, for the band, the previous 7 days' (owned: drawing
/// happens on the blocking pool).
#[derive(Debug, Clone)]
pub struct Request {
    pub series: Vec<RangeSeries>,
    /// The same query over the previous 7 days; empty: no band.
    pub week: Vec<RangeSeries>,
    pub legend: Option<String>,
    pub unit: Unit,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub step: u64,
    pub tz: Tz,
    /// What the chart spans: its x-axis labels (hours, weekdays or days of the month).
    pub period: Period,
    pub top: usize,
    pub catalogue: &'static Catalogue,
}

/// Draws `series` over `[start, end]` in English without a band. `None`: nothing to draw.
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
    draw(&Request {
        series: series.to_vec(),
        week: Vec::new(),
        legend: legend.map(str::to_string),
        unit,
        start,
        end,
        step,
        tz,
        period: Period::Day,
        top,
        catalogue: Catalogue::english(),
    })
}

/// Runs of band points without holes longer than 1.5 steps.
fn band_runs(band: &[BandPoint], step: f64) -> Vec<&[BandPoint]> {
    let mut runs = Vec::new();
    let mut from = 0;
    for i in 1..=band.len() {
        if i == band.len() || band[i].t - band[i - 1].t > step * 1.5 {
            runs.push(&band[from..i]);
            from = i;
        }
    }
    runs.into_iter().filter(|r| !r.is_empty()).collect()
}

/// Draws a chart. `None` when there is nothing finite to draw.
pub fn draw(request: &Request) -> Result<Option<Chart>, ChartError> {
    register_fonts();
    let (start, end, step, tz) = (request.start, request.end, request.step, request.tz);
    let legend = request.legend.as_deref();
    let named = request
        .series
        .iter()
        .map(|s| (super::query::legend(legend, &s.labels), s.points.clone()))
        .collect();
    let lines = fold_top_in(named, request.top, request.catalogue);
    let bands = bands(&lines, &request.week, legend, start, end, step, tz);
    let values: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return Ok(None);
    }
    let all = values
        .iter()
        .copied()
        .chain(bands.iter().flat_map(|(_, b)| b.iter().flat_map(|p| [p.lo, p.hi])));
    let (min, max) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let scale = Scale::of(request.unit, min.abs().max(max.abs()));
    let factor = scale.factor();
    let limits = Limits {
        floor: Some(0.0),
        ceiling: (request.unit == Unit::Percent).then_some(100.0),
    };
    let axis = ticks::axis(min * factor, max * factor, limits);
    let (y0, y1) = (axis.lo, axis.hi);
    let (x0, x1) = (start.timestamp() as f64, end.timestamp() as f64);

    let mut buffer = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
        let error = |e: &dyn std::fmt::Display| ChartError::Draw(e.to_string());
        root.fill(&WHITE).map_err(|e| error(&e))?;
        let axis_font = (FONT, 24).into_font().color(&RGBColor(87, 96, 106));
        let labels: Vec<String> = axis
            .ticks
            .iter()
            .map(|tick| scale.label(*tick, axis.decimals, request.catalogue))
            .collect();
        // The label area fits the widest label: none is ever cut.
        let mut widest = 0;
        for label in &labels {
            widest = widest.max(root.estimate_text_size(label, &axis_font).map_err(|e| error(&e))?.0);
        }
        let mut chart = ChartBuilder::on(&root)
            .margin_top(20)
            .margin_right(30)
            .margin_left(10)
            .x_label_area_size(50)
            .y_label_area_size((widest + 20).clamp(60, 400))
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| error(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .disable_y_mesh()
            .x_labels(0)
            .y_labels(0)
            .axis_style(RGBColor(175, 184, 193))
            .draw()
            .map_err(|e| error(&e))?;
        // The y ticks: nice values, labels right-aligned beside the axis, never cut.
        for (&tick, label) in axis.ticks.iter().zip(labels) {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x0, tick), (x1, tick)],
                    RGBColor(234, 238, 242),
                )))
                .map_err(|e| error(&e))?;
            let (width, height) = root.estimate_text_size(&label, &axis_font).map_err(|e| error(&e))?;
            let (px, py) = chart.backend_coord(&(x0, tick));
            let position = (px - width as i32 - 10, py - height as i32 / 2);
            root.draw(&Text::new(label, position, axis_font.clone()))
                .map_err(|e| error(&e))?;
        }
        // Local-time ticks (DST-aware): every 3 hours of a day, each day of a week, every
        // 7th day of a month (`Period::ticks`).
        for (at, label) in request.period.ticks(start, end, tz, request.catalogue) {
            let x = at as f64;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, y0), (x, y1)],
                    RGBColor(234, 238, 242),
                )))
                .map_err(|e| error(&e))?;
            let (width, _) = root.estimate_text_size(&label, &axis_font).map_err(|e| error(&e))?;
            let (px, py) = chart.backend_coord(&(x, y0));
            // Centred under its tick, kept inside the image (the last one at the right edge).
            let left = (px - width as i32 / 2).min(WIDTH as i32 - width as i32 - 4);
            root.draw(&Text::new(label, (left, py + 12), axis_font.clone()))
                .map_err(|e| error(&e))?;
        }
        for (i, band) in &bands {
            let fill = rgb(lines[*i].color).mix(0.16).filled();
            for run in band_runs(band, step as f64) {
                let mut outline: Vec<(f64, f64)> = run.iter().map(|p| (p.t, p.hi * factor)).collect();
                outline.extend(run.iter().rev().map(|p| (p.t, p.lo * factor)));
                chart
                    .draw_series(std::iter::once(Polygon::new(outline, fill)))
                    .map_err(|e| error(&e))?;
            }
        }
        for line in &lines {
            let color = rgb(line.color);
            let shown: Vec<(f64, f64)> = line.points.iter().map(|(t, v)| (*t, v * factor)).collect();
            for run in segments(&shown, step as f64) {
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
    use chrono::Duration;

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
    fn the_week_is_a_band_behind_its_line_and_labels_follow_the_language() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let start = DateTime::from_timestamp(1_795_474_800, 0).unwrap();
        let end = start + Duration::hours(24);
        let series = |from: DateTime<Utc>, hours: i64, level: f64| RangeSeries {
            labels: Default::default(),
            points: (0..hours * 12)
                .map(|i| {
                    (
                        from.timestamp() as f64 + i as f64 * 300.0,
                        level + (i % 7) as f64 * 1e-4,
                    )
                })
                .collect(),
        };
        let request = Request {
            series: vec![series(start, 24, 0.005)],
            week: vec![series(start - Duration::days(7), 24 * 7, 0.004)],
            legend: None,
            unit: Unit::Percent,
            start,
            end,
            step: 300,
            tz,
            period: Period::Day,
            top: 5,
            catalogue: Catalogue::get("fr").unwrap(),
        };
        let chart = draw(&request).unwrap().unwrap();
        assert!(chart.png.starts_with(b"\x89PNG"));
        let bands = bands(&chart.lines, &request.week, None, start, end, 300, tz);
        assert_eq!(bands.len(), 1);
        assert_eq!(bands[0].1.len(), 289, "every 5 minutes of the day, both ends included");
        let named = fold_top_in(
            (0..7).map(|i| (format!("s{i}"), vec![(0.0, i as f64)])).collect(),
            5,
            request.catalogue,
        );
        assert_eq!(named[5].name, "autres (2 séries)");
    }

    #[test]
    fn a_png_of_the_wrong_size_is_a_typed_encoding_error() {
        let error = encode_png(&[0; 5], 2, 2).unwrap_err();
        let error = ChartError::Encode(error);
        assert!(error.to_string().starts_with("chart encoding failed: "), "{error}");
    }
}
