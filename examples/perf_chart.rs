//! Draws the charts of docs/performance.md from the benchmark scripts' results, with the
//! plotters setup of the report (same fonts): time against size and peak RSS against size.
//!
//! `cargo run --release --example perf_chart -- docs/perf/log-retention.csv` reads a CSV with
//! the header `size,almanac_s,peer_s,limit_s,almanac_rss_mib,peer_rss_mib` (empty cells allowed;
//! the second line names the columns for people: `# unit,almanac,elasticdump,raw read`) and
//! writes `<csv stem>-time.png` and `<csv stem>-rss.png` beside it.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

const FONT: &str = "DejaVu Sans";

struct Table {
    unit: String,
    names: [String; 3],
    rows: Vec<[Option<f64>; 6]>,
}

fn read(path: &Path) -> Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("size,almanac_s"),
        "{}: unexpected header {header:?}",
        path.display()
    );
    let names_line = lines.next().unwrap_or_default().trim_start_matches("# ");
    let names: Vec<String> = names_line.split(',').map(str::to_string).collect();
    let rows = lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cells: Vec<Option<f64>> = line.split(',').map(|c| c.trim().parse().ok()).collect();
            std::array::from_fn(|i| cells.get(i).copied().flatten())
        })
        .collect();
    Table {
        unit: names.first().cloned().unwrap_or_else(|| "size".into()),
        names: std::array::from_fn(|i| names.get(i + 1).cloned().unwrap_or_default()),
        rows,
    }
}

/// One line of a chart: its name, color and points.
type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

fn draw(out: &Path, title: &str, x_unit: &str, y_unit: &str, series: &[Series<'_>]) {
    let (w, h) = (720u32, 400u32);
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE).unwrap();
        let points: Vec<(f64, f64)> = series.iter().flat_map(|s| s.2.iter().copied()).collect();
        let x_max = points.iter().map(|p| p.0).fold(0.0, f64::max) * 1.05;
        let y_max = points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max.max(1.0), 0.0..y_max.max(1.0))
            .unwrap();
        chart
            .configure_mesh()
            .x_desc(x_unit)
            .y_desc(y_unit)
            .label_style((FONT, 12))
            .x_label_formatter(&|v| format!("{}", (*v as u64)))
            .draw()
            .unwrap();
        for (name, color, points) in series {
            if points.is_empty() {
                continue;
            }
            let style = ShapeStyle::from(color).stroke_width(2);
            chart
                .draw_series(LineSeries::new(points.clone(), style))
                .unwrap()
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
                .unwrap();
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .unwrap();
        root.present().unwrap();
    }
    let file = std::fs::File::create(out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().unwrap().write_image_data(&rgb).unwrap();
}

fn column(table: &Table, i: usize) -> Vec<(f64, f64)> {
    table.rows.iter().filter_map(|r| Some((r[0]?, r[i]?))).collect()
}

fn main() {
    let regular: &'static [u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
    let _ = plotters::style::register_font(FONT, FontStyle::Normal, regular);
    let colors = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x7f, 0x7f, 0x7f),
    ];
    for arg in std::env::args().skip(1) {
        let path = PathBuf::from(&arg);
        let table = read(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let dir = path.parent().unwrap_or(Path::new("."));
        let time: Vec<_> = (0..3)
            .map(|i| (table.names[i].as_str(), colors[i], column(&table, i + 1)))
            .collect();
        draw(
            &dir.join(format!("{stem}-time.png")),
            &format!("{stem}: time against size"),
            &table.unit,
            "seconds",
            &time,
        );
        let rss: Vec<_> = [(0, 4), (1, 5)]
            .into_iter()
            .map(|(i, c)| (table.names[i].as_str(), colors[i], column(&table, c)))
            .collect();
        draw(
            &dir.join(format!("{stem}-rss.png")),
            &format!("{stem}: peak RSS against size"),
            &table.unit,
            "MiB",
            &rss,
        );
        println!("{}: {}-time.png, {}-rss.png", path.display(), stem, stem);
    }
}
