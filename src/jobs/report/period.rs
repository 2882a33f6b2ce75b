//! The period a report covers (pure): a day, an ISO week or a calendar month in the job's
//! time zone, its bounds (DST-aware), the period before it, its chart step and axis labels.

use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::day::day_bounds;
use super::locale::Catalogue;

/// `period` of a report job: what one report covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum Period {
    /// Local midnight to midnight (23, 24 or 25 h).
    #[default]
    Day,
    /// Monday 00:00 to the next Monday 00:00 (167, 168 or 169 h).
    Week,
    /// The 1st 00:00 to the next 1st 00:00.
    Month,
}

impl TryFrom<String> for Period {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            other => Err(format!("unknown period {other:?}: day, week or month")),
        }
    }
}

impl Period {
    /// `day`, `week`, `month`.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }

    /// The period starting on `first` for logs and the dry run: `2026-11-24`, `the week of
    /// 2026-11-23`, `the month of 2026-11-01`.
    pub fn describe(self, first: NaiveDate) -> String {
        match self {
            Self::Day => first.to_string(),
            period => format!("the {} of {first}", period.noun()),
        }
    }

    /// The first day of the period holding `date`.
    pub fn first_day(self, date: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => date,
            Self::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            Self::Month => date.with_day(1).unwrap_or(date),
        }
    }

    /// The first day of the period after the one starting on `first`.
    pub fn next(self, first: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => first + Days::new(1),
            Self::Week => first + Days::new(7),
            Self::Month => first + Months::new(1),
        }
    }

    /// The first day of the period before the one starting on `first`.
    pub fn previous(self, first: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => first - Days::new(1),
            Self::Week => first - Days::new(7),
            Self::Month => first - Months::new(1),
        }
    }

    /// The period holding `date`, from its first local midnight to the next period's, in UTC:
    /// a week across a DST change is 167 or 169 h, October in Paris 745 h.
    pub fn bounds(self, date: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let first = self.first_day(date);
        (day_bounds(first, tz).0, day_bounds(self.next(first), tz).0)
    }

    /// The first day of the last period complete at `now` in `tz` (yesterday, last week's
    /// Monday, last month's 1st).
    pub fn last_complete(self, now: DateTime<Utc>, tz: Tz) -> NaiveDate {
        self.previous(self.first_day(now.with_timezone(&tz).date_naive()))
    }

    /// The step of the period's charts (and `$__interval`): the configured one for a day, at
    /// least 1 h for a week (168 points), 3 h for a month (about 248 points).
    pub fn chart_step(self, configured: u64) -> u64 {
        let floor = match self {
            Self::Day => 1,
            Self::Week => 3600,
            Self::Month => 3 * 3600,
        };
        configured.max(floor)
    }

    /// Whether the 7-day baseline applies: it compares a day with the previous 7 days (and
    /// its chart band lies over the same hours), which has no meaning for a week or a month.
    pub fn has_baseline(self) -> bool {
        self == Self::Day
    }

    /// The catalogue key naming the comparison with the previous period.
    pub fn versus_key(self) -> &'static str {
        match self {
            Self::Day => "change.vs_day_before",
            Self::Week => "change.vs_previous_week",
            Self::Month => "change.vs_previous_month",
        }
    }

    /// The period as its heading names it: `Tuesday 24 November 2026`, `week of 23 November
    /// 2026`, `November 2026` (in `catalogue`'s language).
    pub fn name(self, first: NaiveDate, catalogue: &Catalogue) -> String {
        let day = if first.day() == 1 {
            catalogue.date.first_day.clone()
        } else {
            first.day().to_string()
        };
        let month = catalogue.date.months[first.month0() as usize].as_str();
        let year = first.year().to_string();
        let values = [("day", day.as_str()), ("month", month), ("year", &year)];
        match self {
            Self::Day => catalogue.long_date(first),
            Self::Week => catalogue.fill("heading.week", &values),
            Self::Month => catalogue.fill("heading.month", &values),
        }
    }

    /// The x-axis labels of a chart over `[start, end]`: local times every 3 h for a day, each
    /// local midnight (`Mon 23`) for a week, every 7th day's midnight (`1`, `8`...) for a month.
    pub fn ticks(self, start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz, catalogue: &Catalogue) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        let mut tick = start;
        while tick <= end {
            let local = tick.with_timezone(&tz);
            let (on_hour, hour) = (local.minute() == 0, local.hour());
            let label = match self {
                Self::Day if on_hour && hour % 3 == 0 => Some(local.format("%H:%M").to_string()),
                Self::Week if on_hour && hour == 0 => {
                    let weekday: String = catalogue.weekday(local.date_naive()).chars().take(3).collect();
                    Some(format!("{weekday} {}", local.day()))
                }
                Self::Month if on_hour && hour == 0 && local.day() % 7 == 1 => Some(local.day().to_string()),
                _ => None,
            };
            if let Some(label) = label {
                out.push((tick.timestamp(), label));
            }
            tick += Duration::minutes(30);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn hours(period: Period, date: &str) -> i64 {
        let (start, end) = period.bounds(d(date), "Europe/Paris".parse().unwrap());
        (end - start).num_seconds() / 3600
    }

    #[test]
    fn weeks_are_monday_to_monday_and_167_or_169_hours_across_dst() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        // 29 March 2026 (Sunday): clocks go forward; its week starts Monday 23 March.
        let (start, end) = Period::Week.bounds(d("2026-03-25"), paris);
        assert_eq!(start.to_rfc3339(), "2026-03-22T23:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-03-29T22:00:00+00:00");
        assert_eq!((end - start).num_hours(), 167);
        // 25 October 2026 (Sunday): clocks go back.
        assert_eq!(hours(Period::Week, "2026-10-19"), 169);
        assert_eq!(hours(Period::Week, "2026-10-25"), 169, "the Sunday is in the same week");
        assert_eq!(hours(Period::Week, "2026-10-26"), 168);
        assert_eq!(hours(Period::Week, "2026-11-23"), 168);
        assert_eq!(Period::Week.first_day(d("2026-11-29")), d("2026-11-23"));
        assert_eq!(Period::Week.first_day(d("2026-11-23")), d("2026-11-23"));
        assert_eq!(Period::Week.previous(d("2026-11-23")), d("2026-11-16"));
    }

    #[test]
    fn months_are_calendar_months_with_their_dst_hour() {
        assert_eq!(hours(Period::Month, "2026-02-14"), 28 * 24);
        assert_eq!(hours(Period::Month, "2028-02-01"), 29 * 24, "leap year");
        assert_eq!(hours(Period::Month, "2026-10-31"), 31 * 24 + 1);
        assert_eq!(hours(Period::Month, "2026-03-01"), 31 * 24 - 1);
        assert_eq!(hours(Period::Month, "2026-11-30"), 30 * 24);
        let (start, end) = Period::Month.bounds(d("2026-10-10"), "Europe/Paris".parse().unwrap());
        assert_eq!(start.to_rfc3339(), "2026-09-30T22:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-10-31T23:00:00+00:00");
        assert_eq!(Period::Month.previous(d("2026-03-01")), d("2026-02-01"));
        assert_eq!(Period::Month.next(d("2026-12-01")), d("2027-01-01"));
        assert_eq!(hours(Period::Day, "2026-10-25"), 25);
    }

    #[test]
    fn the_last_complete_period_at_a_time_in_the_zone() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
        // Monday 30 November 2026 00:30 in Paris is still Sunday in UTC.
        let monday = at("2026-11-29T23:30:00Z");
        assert_eq!(Period::Week.last_complete(monday, paris), d("2026-11-23"));
        assert_eq!(Period::Week.last_complete(monday, chrono_tz::UTC), d("2026-11-16"));
        assert_eq!(
            Period::Month.last_complete(at("2026-12-01T06:00:00Z"), paris),
            d("2026-11-01")
        );
        assert_eq!(
            Period::Month.last_complete(at("2026-01-15T06:00:00Z"), paris),
            d("2025-12-01")
        );
        assert_eq!(Period::Day.last_complete(monday, paris), d("2026-11-29"));
    }

    #[test]
    fn steps_names_and_ticks_fit_the_period() {
        assert_eq!(Period::Day.chart_step(300), 300);
        assert_eq!(Period::Week.chart_step(300), 3600);
        assert_eq!(Period::Month.chart_step(300), 10_800);
        assert_eq!(Period::Week.chart_step(7200), 7200);
        assert!(Period::Day.has_baseline() && !Period::Week.has_baseline());
        let en = Catalogue::english();
        let fr = Catalogue::get("fr").unwrap();
        assert_eq!(Period::Week.name(d("2026-11-23"), en), "week of 23 November 2026");
        assert_eq!(Period::Week.name(d("2026-11-23"), fr), "semaine du 23 novembre 2026");
        assert_eq!(Period::Month.name(d("2026-11-01"), en), "November 2026");
        assert_eq!(Period::Month.name(d("2026-11-01"), fr), "novembre 2026");
        assert_eq!(Period::Day.name(d("2026-11-24"), fr), "mardi 24 novembre 2026");
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let (start, end) = Period::Week.bounds(d("2026-10-19"), paris);
        let ticks = Period::Week.ticks(start, end, paris, en);
        let labels: Vec<&str> = ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Mon 19", "Tue 20", "Wed 21", "Thu 22", "Fri 23", "Sat 24", "Sun 25", "Mon 26"
            ]
        );
        assert_eq!(ticks[7].0 - ticks[6].0, 25 * 3600, "the day the clocks go back");
        let (start, end) = Period::Month.bounds(d("2026-10-01"), paris);
        let labels: Vec<String> = Period::Month
            .ticks(start, end, paris, fr)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(
            labels,
            ["1", "8", "15", "22", "29", "1"],
            "the next month's 1st closes the axis"
        );
        let (start, end) = day_bounds(d("2026-10-25"), paris);
        assert_eq!(
            Period::Day.ticks(start, end, paris, en).len(),
            9,
            "00:00, 03:00 … 21:00 and the next 00:00 on the 25 h day"
        );
    }
}
