//! The run's clock against the system clock (destructive steps of every job refuse a clock
//! that is far off: a wrong `--now` or `ALMANAC_NOW` must never delete), and local midnights.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// Local midnight of `date` in `tz`, in UTC; a midnight that does not exist (a DST gap at
/// 00:00) is replaced by the first valid instant after it.
pub fn start_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    (0..=180)
        .find_map(|minutes| {
            tz.from_local_datetime(&(midnight + Duration::minutes(minutes)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// Destructive steps trust the run's clock only when it is within this of the wall clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::hours(24);

/// An error when `now` (from `--now` / `ALMANAC_NOW`) is too far from the wall clock.
pub fn clock_skew(now: DateTime<Utc>, wall: DateTime<Utc>) -> Option<String> {
    let skew = now - wall;
    if skew.abs() <= MAX_CLOCK_SKEW {
        return None;
    }
    Some(format!(
        "the run's clock ({}) is {} hours from the system clock ({}): destructive steps are refused; \
         use --dry-run to look, or --allow-clock-skew if this is intended",
        now.to_rfc3339(),
        skew.num_hours(),
        wall.to_rfc3339()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_far_from_the_wall_refuses() {
        let wall = DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z").unwrap().to_utc();
        assert!(clock_skew(wall + Duration::hours(23), wall).is_none());
        assert!(clock_skew(wall - Duration::hours(23), wall).is_none());
        assert!(clock_skew(wall + Duration::days(3650), wall).is_some());
        assert!(clock_skew(wall - Duration::hours(25), wall).is_some());
    }
}
