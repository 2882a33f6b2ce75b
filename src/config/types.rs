//! Value types that jobs.toml fields deserialize into: durations, cron schedules, time zones,
//! secrets. Each validates itself while parsing, so a bad value is reported at its own key.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A span of time written the way operators write it: `30s`, `5m`, `2h`, `7d`, `1w`, `1y`
/// (365 days), or sums of those such as `1h30m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }
    pub const fn from_days(days: u64) -> Self {
        Self(Duration::from_secs(days * 86_400))
    }
    pub fn as_std(self) -> Duration {
        self.0
    }
    pub fn as_chrono(self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }
}

impl FromStr for HumanDuration {
    type Err = String;

    /// The grammar Prometheus uses for its flags and API fields (`ms`, `s`, `m`, `h`, `d`,
    /// `w`, `y`, summed left to right), so one parser reads both jobs.toml and server answers.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = "expected a duration such as \"30s\", \"5m\", \"2h\", \"7d\", \"1w\", \"1y\" or \"1h30m\"";
        let text = text.trim();
        if text.is_empty() {
            return Err(format!("empty duration; {expected}"));
        }
        let mut total_ms: u64 = 0;
        let mut digits = String::new();
        let mut chars = text.chars().peekable();
        while let Some(ch) = chars.next() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            let unit_ms: u64 = match ch {
                'm' if chars.peek() == Some(&'s') => {
                    chars.next();
                    1
                }
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                'w' => 7 * 86_400_000,
                'y' => 365 * 86_400_000,
                _ => return Err(format!("invalid duration {text:?}: unknown unit {ch:?}; {expected}")),
            };
            let amount: u64 = digits
                .parse()
                .map_err(|_| format!("invalid duration {text:?}: a number must precede {ch:?}; {expected}"))?;
            digits.clear();
            total_ms = amount
                .checked_mul(unit_ms)
                .and_then(|ms| total_ms.checked_add(ms))
                .ok_or_else(|| format!("duration {text:?} is too large"))?;
        }
        if !digits.is_empty() {
            return Err(format!(
                "invalid duration {text:?}: missing unit after {digits}; {expected}"
            ));
        }
        if total_ms > MAX_DURATION_MS {
            return Err(format!(
                "duration {text:?} is longer than 1000y, the longest almanac accepts"
            ));
        }
        Ok(Self(Duration::from_millis(total_ms)))
    }
}

/// The longest duration accepted (1000 years): any date arithmetic with it stays in range.
const MAX_DURATION_MS: u64 = 1000 * 365 * 86_400_000;

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        let units = [
            ("y", 365 * 86_400_000),
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ];
        for (unit, size) in units {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A cron schedule with an optional leading seconds field (`0 0 7 * * *` or `0 7 * * *`).
/// Parsed with the same croner settings tokio-cron-scheduler uses, so `list` shows exactly
/// the times `serve` will fire.
#[derive(Clone, Debug)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

impl Schedule {
    /// The expression as written in jobs.toml.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the expression has a seconds field (6 or 7 fields).
    pub fn has_seconds(&self) -> bool {
        self.text.split_whitespace().count() >= 6
    }

    /// The expression with a seconds field, as tokio-cron-scheduler requires.
    pub fn with_seconds(&self) -> String {
        if self.has_seconds() {
            self.text.clone()
        } else {
            format!("0 {}", self.text)
        }
    }

    /// The 5-field form (minute hour dom month dow), if the seconds field is absent or `0`.
    pub fn five_field(&self) -> Option<String> {
        let fields: Vec<&str> = self.text.split_whitespace().collect();
        match fields.len() {
            5 => Some(fields.join(" ")),
            6 if fields[0] == "0" => Some(fields[1..].join(" ")),
            _ => None,
        }
    }

    /// The next `count` fire times strictly after `after`, in `after`'s time zone.
    pub fn next_after<Z: TimeZone + Copy>(&self, after: &DateTime<Z>, count: usize) -> Vec<DateTime<Z>> {
        self.cron.clone().iter_after(after.clone()).take(count).collect()
    }
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fields = text.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "invalid cron expression {text:?}: it has {fields} fields, expected 5 \
                 (minute hour day-of-month month day-of-week) or 6 (with seconds first)"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .dom_and_dow(true)
            .build()
            .parse(text)
            .map_err(|error| format!("invalid cron expression {text:?}: {error}"))?;
        Ok(Self {
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
            cron,
        })
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// An IANA time zone name such as `Europe/Paris`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeZoneName(pub chrono_tz::Tz);

impl Default for TimeZoneName {
    fn default() -> Self {
        Self(chrono_tz::UTC)
    }
}

impl<'de> Deserialize<'de> for TimeZoneName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse::<chrono_tz::Tz>().map(Self).map_err(|_| {
            de::Error::custom(format!(
                "unknown time zone {text:?}: expected an IANA name such as \"UTC\" or \"Europe/Paris\""
            ))
        })
    }
}

impl Serialize for TimeZoneName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.name())
    }
}

impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

/// A secret string. Its `Debug` and `Display` never show the value, so it cannot leak
/// through logs or error messages by accident.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret value, for the one place that must send it (an auth header, a login).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn durations_parse_and_print() {
        let cases = [
            ("30s", 30),
            ("5m", 300),
            ("2h", 7_200),
            ("7d", 604_800),
            ("1w", 604_800),
            ("1y", 31_536_000),
            ("1h30m", 5_400),
            ("3650d", 315_360_000),
        ];
        for (text, secs) in cases {
            let parsed: HumanDuration = text.parse().unwrap();
            assert_eq!(parsed.0.as_secs(), secs, "{text}");
            assert_eq!(
                parsed.to_string().parse::<HumanDuration>().unwrap(),
                parsed,
                "{text} round-trips"
            );
        }
        let precise: HumanDuration = "1m30s250ms".parse().unwrap();
        assert_eq!(precise.0, Duration::from_millis(90_250));
        assert_eq!(precise.to_string(), "1m30s250ms");
        assert_eq!("500ms".parse::<HumanDuration>().unwrap().0, Duration::from_millis(500));
        assert_eq!(HumanDuration::from_secs(5_400).to_string(), "1h30m");
        assert_eq!(HumanDuration::from_days(365).to_string(), "1y");
        for bad in ["", "5", "5x", "m", "1.5h", "-1d", "ms5", "5sm"] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn schedules_accept_five_and_six_fields() {
        let five: Schedule = "0 7 * * *".parse().unwrap();
        assert!(!five.has_seconds());
        assert_eq!(five.with_seconds(), "0 0 7 * * *");
        assert_eq!(five.five_field().as_deref(), Some("0 7 * * *"));
        let six: Schedule = "*/10 * * * * *".parse().unwrap();
        assert!(six.has_seconds());
        assert_eq!(six.five_field(), None);
        for bad in ["0 61 * * *", "* * *", "0 0 7 * * * * *", "0 7 * * Mon-Foo", ""] {
            assert!(bad.parse::<Schedule>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn next_runs_follow_the_time_zone_across_dst() {
        // Europe/Paris leaves summer time on 2026-10-25: 07:00 local is 05:00 UTC before, 06:00 after.
        let schedule: Schedule = "0 7 * * *".parse().unwrap();
        let start = chrono_tz::Europe::Paris
            .with_ymd_and_hms(2026, 10, 24, 8, 0, 0)
            .unwrap();
        let next = schedule.next_after(&start, 2);
        let utc: Vec<String> = next
            .iter()
            .map(|t| t.with_timezone(&Utc).format("%F %H:%M").to_string())
            .collect();
        assert_eq!(utc, ["2026-10-25 06:00", "2026-10-26 06:00"]);
        let before = chrono_tz::Europe::Paris
            .with_ymd_and_hms(2026, 10, 23, 8, 0, 0)
            .unwrap();
        let first = schedule.next_after(&before, 1)[0].with_timezone(&Utc);
        assert_eq!(first.format("%F %H:%M").to_string(), "2026-10-24 05:00");
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"<redacted>\"");
    }
}
