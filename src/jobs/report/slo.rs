//! SLO arithmetic, pure: compliance against the objective, error budget left over the SLO
//! window, and the burn rate of the report day.

use serde::Serialize;

use super::day::Level;

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
