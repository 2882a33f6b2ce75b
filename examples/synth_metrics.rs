//! Writes synthetic AindusDB metrics (test and demo data, see `almanac::jobs::report::synth`) as
//! OpenMetrics text: `cargo run --example synth_metrics -- 2026-11-24 Europe/Paris out.om`.
//! Prints the known true values of the report day on stderr.

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 3 {
        eprintln!("usage: synth_metrics <YYYY-MM-DD> <time zone> <output file>");
        std::process::exit(2);
    }
    let date: chrono::NaiveDate = args[0].parse().unwrap_or_else(|e| {
        eprintln!("invalid date {:?}: {e}", args[0]);
        std::process::exit(2)
    });
    let tz: chrono_tz::Tz = args[1].parse().unwrap_or_else(|e| {
        eprintln!("invalid time zone {:?}: {e}", args[1]);
        std::process::exit(2)
    });
    let text = almanac::jobs::report::synth::openmetrics(date, tz);
    let mut file = std::fs::File::create(&args[2]).unwrap_or_else(|e| {
        eprintln!("cannot create {}: {e}", args[2]);
        std::process::exit(1)
    });
    file.write_all(text.as_bytes()).expect("write");
    eprintln!("{:#?}", almanac::jobs::report::synth::truth(date, tz));
}
