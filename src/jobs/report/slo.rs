//! SLO arithmetic, pure: compliance against the objective, error budget left over the SLO
//! window, and the burn rate of the report day.

use serde::Serialize;

use super::assemble::Answers;
use super::day::Level;
use super::panel::Reason;
use super::plan::Purpose;
use super::query::QueryResult;
use super::slo_parts::SloPart;
use super::slo_settings::{SliForm, SloSettings};

/// The SLI of SLO `index` over its window and over the report's period, from the answers: the
/// `sli` queries' values, or Σ good / Σ total of the window's parts (rollups and raw) and of the
/// period. A part whose queries return no series counts no events (rollups not written yet);
/// a window where no total query returned a series has no SLI.
pub fn slis(objective: &SloSettings, index: usize, answers: &Answers<'_>) -> [Result<f64, Reason>; 2] {
    match objective.form() {
        SliForm::Ratio(_) => {
            [Purpose::SloWindow, Purpose::SloDay].map(|purpose| match answers.find(None, index, purpose) {
                Some((_, QueryResult::Instant(samples))) if !samples.is_empty() => Ok(samples[0].value),
                Some((_, QueryResult::Instant(_))) => Err(Reason::Fixed("reason.no_sli_series")),
                Some((_, QueryResult::Failed(reason))) => Err(Reason::Said(reason.clone())),
                _ => Err(Reason::Fixed("reason.no_query")),
            })
        }
        SliForm::Events { .. } => [
            events(answers, index, &[SloPart::Whole, SloPart::Older, SloPart::Recent]),
            events(answers, index, &[SloPart::Day]),
        ],
    }
}

/// Σ good / Σ total over the answered `parts`.
fn events(answers: &Answers<'_>, index: usize, parts: &[SloPart]) -> Result<f64, Reason> {
    let (mut good, mut total, mut planned, mut series) = (0.0, 0.0, false, false);
    for &part in parts {
        for (purpose, is_total) in [(Purpose::SloGood(part), false), (Purpose::SloTotal(part), true)] {
            let samples = match answers.find(None, index, purpose) {
                None => continue,
                Some((_, QueryResult::Instant(samples))) => samples,
                Some((_, QueryResult::Failed(reason))) => return Err(Reason::Said(reason.clone())),
                Some((_, QueryResult::Range(_))) => return Err(Reason::Fixed("reason.unexpected_range")),
            };
            planned = true;
            let sum: f64 = samples.iter().map(|s| s.value).sum();
            if is_total {
                series |= !samples.is_empty();
                total += sum;
            } else {
                good += sum;
            }
        }
    }
    match (planned, series) {
        (false, _) => Err(Reason::Fixed("reason.no_query")),
        (true, false) => Err(Reason::Fixed("reason.no_sli_series")),
        (true, true) => Ok(good / total),
    }
}

/// The expression the SLO's link shows: its `sli` over the window, or good / total over the
/// window's raw part.
pub fn link_expr(index: usize, answers: &Answers<'_>) -> Option<String> {
    if let Some((owned, _)) = answers.find(None, index, Purpose::SloWindow) {
        return Some(owned.spec.expr.clone());
    }
    [SloPart::Whole, SloPart::Recent, SloPart::Older]
        .iter()
        .find_map(|&part| {
            let good = answers.find(None, index, Purpose::SloGood(part))?;
            let total = answers.find(None, index, Purpose::SloTotal(part))?;
            Some(format!("({}) / ({})", good.0.spec.expr, total.0.spec.expr))
        })
}

/// An SLO evaluated for one report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SloStatus {
    /// SLI over the SLO window (0..1).
    pub compliance: f64,
    /// Share of the window's error budget still unspent (1 = untouched, ≤ 0 = exhausted).
    pub budget_left: f64,
    /// How fast the report day spent budget: 1 = exactly the sustainable pace.
    pub burn_rate: f64,
    pub level: Level,
}

/// Error budget left: `1 − (1 − sli) / (1 − objective)`.
pub fn budget_left(sli: f64, objective: f64) -> f64 {
    1.0 - (1.0 - sli) / (1.0 - objective)
}

/// Burn rate: the error ratio over the allowed one, `(1 − sli) / (1 − objective)`.
pub fn burn_rate(sli: f64, objective: f64) -> f64 {
    (1.0 - sli) / (1.0 - objective)
}

/// Evaluates an SLO from its SLI over the window and over the report day. Critical when the
/// window misses the objective, warning when the day burnt budget faster than sustainable or
/// less than a quarter of the budget is left.
pub fn evaluate(window_sli: f64, day_sli: f64, objective: f64) -> SloStatus {
    let compliance = window_sli;
    let budget = budget_left(window_sli, objective);
    let burn = burn_rate(day_sli, objective);
    let level = if compliance.is_nan() {
        Level::NoData
    } else if compliance < objective {
        Level::Critical
    } else if burn > 1.0 || budget < 0.25 {
        Level::Warning
    } else {
        Level::Ok
    };
    SloStatus {
        compliance,
        budget_left: budget,
        burn_rate: burn,
        level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_and_burn_rate_follow_their_definitions() {
        // 99.9 % objective, 99.95 % achieved: half the budget left.
        assert!((budget_left(0.9995, 0.999) - 0.5).abs() < 1e-9);
        // A day at 99.8 % burns twice the sustainable rate.
        assert!((burn_rate(0.998, 0.999) - 2.0).abs() < 1e-9);
        assert!((burn_rate(1.0, 0.999)).abs() < 1e-12);
    }

    fn sample(value: f64) -> crate::clients::prometheus::Sample {
        crate::clients::prometheus::Sample {
            labels: Default::default(),
            time: 0.0,
            value,
        }
    }

    #[test]
    fn events_add_up_over_the_parts_of_the_window() {
        use chrono::{DateTime, Duration, Utc};
        let objective: SloSettings = toml::from_str(
            "name = 'a'\nobjective = 0.9\nwindow = '30d'\ngood = 'g'\ntotal = 't'\ngood_rollup = 'gr'\ntotal_rollup = 'tr'",
        )
        .unwrap();
        let end: DateTime<Utc> = "2026-11-24T23:00:00Z".parse().unwrap();
        let retention = Some(crate::config::HumanDuration::from_days(15));
        let specs = super::super::slo_parts::specs(&objective, 0, (end - Duration::days(1), end), "5m", retention);
        // Older part: 900 good of 1000; recent part: 450 of 500; the day: 95 of 100.
        let values = [900.0, 1000.0, 450.0, 500.0, 95.0, 100.0];
        let results: Vec<QueryResult> = values.iter().map(|v| QueryResult::Instant(vec![sample(*v)])).collect();
        let [window, day] = slis(&objective, 0, &Answers::new(&specs, &results));
        assert!((window.unwrap() - 1350.0 / 1500.0).abs() < 1e-12);
        assert!((day.unwrap() - 0.95).abs() < 1e-12);
        assert_eq!(link_expr(0, &Answers::new(&specs, &results)).unwrap(), "(g) / (t)");
        // Rollups not written yet: the older part counts nothing.
        let mut empty = results.clone();
        empty[0] = QueryResult::Instant(Vec::new());
        empty[1] = QueryResult::Instant(Vec::new());
        let [window, _] = slis(&objective, 0, &Answers::new(&specs, &empty));
        assert!((window.unwrap() - 0.9).abs() < 1e-12);
        // A failed part fails the window; no total series at all is no SLI.
        let mut failed = results.clone();
        failed[1] = QueryResult::Failed("timeout".into());
        let [window, day] = slis(&objective, 0, &Answers::new(&specs, &failed));
        assert_eq!(window.unwrap_err(), Reason::Said("timeout".into()));
        assert!(day.is_ok());
        let none: Vec<QueryResult> = specs.iter().map(|_| QueryResult::Instant(Vec::new())).collect();
        let [window, _] = slis(&objective, 0, &Answers::new(&specs, &none));
        assert_eq!(window.unwrap_err(), Reason::Fixed("reason.no_sli_series"));
    }

    #[test]
    fn levels() {
        assert_eq!(evaluate(0.9999, 0.9999, 0.999).level, Level::Ok);
        assert_eq!(evaluate(0.9995, 0.997, 0.999).level, Level::Warning);
        assert_eq!(evaluate(0.9991, 0.9999, 0.999).level, Level::Warning);
        assert_eq!(evaluate(0.998, 0.9999, 0.999).level, Level::Critical);
        assert_eq!(evaluate(f64::NAN, f64::NAN, 0.999).level, Level::NoData);
        let exhausted = evaluate(0.997, 0.99, 0.999);
        assert!(exhausted.budget_left < 0.0);
    }
}
