//! Pure tier decisions of the log-retention job: index name + strftime pattern → date, age in
//! whole UTC days, the tier an index (or archive) should be in now, and the action to get it there.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// Where data lives, from youngest to oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// In the cluster, on hot nodes, writable.
    Hot,
    /// In the cluster, on warm nodes, write-blocked.
    Warm,
    /// Out of the cluster, archived in S3 (standard class).
    Cold,
    /// Archived in S3, in a Glacier class.
    Archive,
    /// Gone everywhere.
    Expired,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hot => "hot",
            Self::Warm => "warm",
            Self::Cold => "cold",
            Self::Archive => "archive",
            Self::Expired => "expired",
        }
    }
}

/// Minimum age (whole days) at which data enters each tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TierAges {
    pub warm: i64,
    pub cold: i64,
    pub archive: i64,
    pub expire: i64,
}

impl TierAges {
    /// The seed: hot 7 days, warm 30 days, cold (S3) 1 year, archive (Glacier) 7 years.
    pub const SEED: Self = Self {
        warm: 7,
        cold: 30,
        archive: 365,
        expire: 7 * 365,
    };

    /// Ages must grow strictly from tier to tier.
    pub fn check(&self) -> Result<(), String> {
        if self.warm < 1 {
            return Err("warm_after must be at least 1 day: the hot tier is never touched".into());
        }
        if !(self.warm < self.cold && self.cold < self.archive && self.archive < self.expire) {
            return Err(format!(
                "tier ages must increase: warm {}d < cold {}d < archive {}d < expire {}d",
                self.warm, self.cold, self.archive, self.expire
            ));
        }
        Ok(())
    }

    /// The tier data of this age belongs in. Negative ages (dates in the future) are hot.
    pub fn target(&self, age_days: i64) -> Tier {
        if age_days >= self.expire {
            Tier::Expired
        } else if age_days >= self.archive {
            Tier::Archive
        } else if age_days >= self.cold {
            Tier::Cold
        } else if age_days >= self.warm {
            Tier::Warm
        } else {
            Tier::Hot
        }
    }
}

/// Whole UTC calendar days from `date` to `now` (no DST: both are taken as UTC dates).
pub fn age_days(date: NaiveDate, now: DateTime<Utc>) -> i64 {
    (now.date_naive() - date).num_days()
}

/// A strftime pattern split as `<literal prefix><date format>`, e.g. `aindusdb-logs-` + `%Y.%m.%d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPattern {
    pattern: String,
    prefix: String,
}

impl IndexPattern {
    /// The pattern must contain a year, a month and a day, and its literal prefix must be
    /// non-empty (a bare date pattern would select system indices too).
    pub fn new(pattern: &str) -> Result<Self, String> {
        let Some(first) = pattern.find('%') else {
            return Err(format!("pattern {pattern:?} has no date fields such as %Y.%m.%d"));
        };
        let prefix = &pattern[..first];
        if prefix.is_empty() {
            return Err(format!(
                "pattern {pattern:?} must start with a literal prefix such as \"logs-\""
            ));
        }
        if prefix.contains(['*', ',', ' ', '"', '/', '\\', '?', '#']) {
            return Err(format!(
                "pattern prefix {prefix:?} has characters not allowed in index names"
            ));
        }
        for field in ["%Y", "%m", "%d"] {
            if !pattern.contains(field) {
                return Err(format!(
                    "pattern {pattern:?} lacks {field}: a daily index needs %Y, %m and %d"
                ));
            }
        }
        // Rejects unknown specifiers early: formatting a date must not fail.
        let probe = NaiveDate::from_ymd_opt(2001, 2, 3).expect("valid date");
        let mut text = String::new();
        use std::fmt::Write as _;
        if write!(text, "{}", probe.format(pattern)).is_err() {
            return Err(format!("pattern {pattern:?} has an invalid strftime field"));
        }
        if parse_exact(&text[prefix.len()..], &pattern[first..]) != Some(probe) {
            return Err(format!("pattern {pattern:?} does not round-trip a date"));
        }
        Ok(Self {
            pattern: pattern.to_string(),
            prefix: prefix.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The literal part before the first date field: `<prefix>*` selects candidate indices.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The date an index name encodes, or None when the name does not match exactly
    /// (wrong prefix, extra suffix, unpadded fields, impossible dates such as Feb 30).
    pub fn date_of(&self, index: &str) -> Option<NaiveDate> {
        let rest = index.strip_prefix(&self.prefix)?;
        parse_exact(rest, &self.pattern[self.prefix.len()..])
    }

    /// The index name for a date.
    pub fn name_for(&self, date: NaiveDate) -> String {
        date.format(&self.pattern).to_string()
    }
}

/// Parses with chrono, then formats back and compares, so only canonical spellings match.
fn parse_exact(text: &str, format: &str) -> Option<NaiveDate> {
    let date = NaiveDate::parse_from_str(text, format).ok()?;
    let mut back = String::new();
    use std::fmt::Write as _;
    write!(back, "{}", date.format(format)).ok()?;
    (back == text).then_some(date)
}

/// Where an index's data is found now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// Open index in the cluster; `warm` when its warm settings are all applied.
    Cluster { warm: bool, archived: bool },
    /// Closed index in the cluster (cannot be read without opening it).
    ClosedIndex,
    /// Only in S3; `glacier` when every part is in the archive storage class.
    S3 { glacier: bool },
}

impl Location {
    pub fn tier(self) -> Tier {
        match self {
            Self::Cluster { warm: false, .. } | Self::ClosedIndex => Tier::Hot,
            Self::Cluster { warm: true, .. } => Tier::Warm,
            Self::S3 { glacier: false } => Tier::Cold,
            Self::S3 { glacier: true } => Tier::Archive,
        }
    }
}

/// What the run does to one index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do (already in its tier, or hot).
    None,
    /// Allocation to warm nodes, optional force-merge, write block.
    Warm,
    /// Export to S3, verify, delete the index. `then_transition`: also move the new archive
    /// to the Glacier class in the same run (index already older than the archive age).
    Archive { then_transition: bool },
    /// Move an S3 archive to the Glacier class.
    Transition,
    /// Delete an S3 archive: manifest first, then parts.
    Expire,
    /// Left alone, with the reason.
    Skip(SkipReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// A closed index cannot be exported; open it to let the job archive it.
    Closed,
    /// Past expiry but still in the cluster: never deleted without an archive.
    ExpiredInCluster,
    /// Over `max_indices_per_run`; the next run takes it.
    Deferred,
    /// Red health (a primary shard unassigned): a full export is impossible.
    Unhealthy,
    /// `_source` would not come back as indexed and `allow_rebuilt_source` is off.
    SourceNotArchivable,
    /// The archive exists for less time than the tiers give an archive: its date is suspect.
    ArchiveTooYoung,
    /// Asked to be warm, but its shards stay on other nodes and are not moving.
    Stuck,
}

impl SkipReason {
    /// Whether the skip leaves work undone that needs an operator (the run exits 1).
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            Self::Unhealthy | Self::SourceNotArchivable | Self::ArchiveTooYoung | Self::Stuck
        )
    }
}

impl Action {
    pub fn describe(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Warm => "warm (allocate, merge, write block)",
            Self::Archive { then_transition: false } => "archive to S3, verify, delete index",
            Self::Archive { then_transition: true } => "archive to S3, verify, delete index, to Glacier",
            Self::Transition => "move archive to Glacier class",
            Self::Expire => "delete archive (manifest, then parts)",
            Self::Skip(SkipReason::Closed) => "skip: closed index (open it to archive it)",
            Self::Skip(SkipReason::ExpiredInCluster) => "skip: past expiry but still in the cluster (no archive)",
            Self::Skip(SkipReason::Deferred) => "deferred: max_indices_per_run reached",
            Self::Skip(SkipReason::Unhealthy) => "skip: health red (unassigned primary), cannot export in full",
            Self::Skip(SkipReason::SourceNotArchivable) => {
                "skip: _source would not come back as indexed (allow_rebuilt_source = false)"
            }
            Self::Skip(SkipReason::ArchiveTooYoung) => "skip: archive younger than expire_after - cold_after",
            Self::Skip(SkipReason::Stuck) => "stuck: shards cannot move to warm nodes",
        }
    }

    /// Whether the action changes anything (and so counts against `max_indices_per_run`).
    pub fn is_work(self) -> bool {
        matches!(
            self,
            Self::Warm | Self::Archive { .. } | Self::Transition | Self::Expire
        )
    }
}

/// The action that moves data from where it is to its target tier. Never touches hot data;
/// never deletes an index without archiving it first.
pub fn decide(location: Location, target: Tier) -> Action {
    match location {
        Location::ClosedIndex => match target {
            Tier::Hot | Tier::Warm => Action::None,
            Tier::Expired => Action::Skip(SkipReason::ExpiredInCluster),
            _ => Action::Skip(SkipReason::Closed),
        },
        Location::Cluster { warm, archived } => match target {
            Tier::Hot => Action::None,
            Tier::Warm if warm => Action::None,
            Tier::Warm => Action::Warm,
            Tier::Cold => Action::Archive { then_transition: false },
            Tier::Archive => Action::Archive { then_transition: true },
            // A finished archive (crash between verify and delete) is expired as an archive
            // once the index is gone; until then the index stays.
            Tier::Expired if archived => Action::Archive { then_transition: false },
            Tier::Expired => Action::Skip(SkipReason::ExpiredInCluster),
        },
        Location::S3 { glacier } => match target {
            // Restored or early archive: archives never move back into the cluster by themselves.
            Tier::Hot | Tier::Warm | Tier::Cold => Action::None,
            Tier::Archive if glacier => Action::None,
            Tier::Archive => Action::Transition,
            Tier::Expired => Action::Expire,
        },
    }
}

/// Keeps the first `max` work actions (oldest first is the caller's order) and defers the rest.
pub fn apply_limit(actions: &mut [Action], max: usize) -> usize {
    let mut taken = 0;
    let mut deferred = 0;
    for action in actions.iter_mut() {
        if action.is_work() {
            if taken < max {
                taken += 1;
            } else {
                *action = Action::Skip(SkipReason::Deferred);
                deferred += 1;
            }
        }
    }
    deferred
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn now(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn seed() -> IndexPattern {
        IndexPattern::new("aindusdb-logs-%Y.%m.%d").unwrap()
    }

    #[test]
    fn names_parse_to_dates() {
        let p = seed();
        assert_eq!(p.prefix(), "aindusdb-logs-");
        assert_eq!(p.date_of("aindusdb-logs-2026.11.25"), Some(d(2026, 11, 25)));
        assert_eq!(p.date_of("aindusdb-logs-2024.02.29"), Some(d(2024, 2, 29)));
        assert_eq!(p.name_for(d(2026, 1, 5)), "aindusdb-logs-2026.01.05");
    }

    #[test]
    fn odd_names_are_rejected() {
        let p = seed();
        for name in [
            "aindusdb-logs-2026.11.25-restored",
            "aindusdb-logs-2026.11.25.1",
            "aindusdb-logs-2026.1.5",
            "aindusdb-logs-2026.02.30",
            "aindusdb-logs-2023.02.29",
            "aindusdb-logs-2026-11-25",
            "aindusdb-logs-",
            "aindusdb-logs-latest",
            "other-aindusdb-logs-2026.11.25",
            "aindusdb-logs-2026.13.01",
            "aindusdb-logs- 2026.11.25",
            "aindusdb-logs-+2026.11.25",
            "",
        ] {
            assert_eq!(p.date_of(name), None, "{name}");
        }
    }

    #[test]
    fn other_patterns() {
        let p = IndexPattern::new("app-%d-%m-%Y-v2").unwrap();
        assert_eq!(p.date_of("app-05-01-2026-v2"), Some(d(2026, 1, 5)));
        assert_eq!(p.date_of("app-05-01-2026"), None);
        assert_eq!(p.date_of("app-05-01-2026-v3"), None);
        let p = IndexPattern::new("logs-%Y%m%d").unwrap();
        assert_eq!(p.date_of("logs-20260105"), Some(d(2026, 1, 5)));
        assert_eq!(p.date_of("logs-2026010"), None);
    }

    #[test]
    fn bad_patterns() {
        assert!(IndexPattern::new("aindusdb-logs").is_err());
        assert!(IndexPattern::new("%Y.%m.%d").is_err());
        assert!(IndexPattern::new("logs-%Y.%m").is_err());
        assert!(IndexPattern::new("logs*-%Y.%m.%d").is_err());
        assert!(IndexPattern::new("logs-%Y.%m.%d.%Q").is_err());
    }

    #[test]
    fn age_is_whole_utc_days() {
        assert_eq!(age_days(d(2026, 11, 25), now("2026-11-25T23:59:59Z")), 0);
        assert_eq!(age_days(d(2026, 11, 24), now("2026-11-25T00:00:00Z")), 1);
        assert_eq!(age_days(d(2026, 11, 26), now("2026-11-25T12:00:00Z")), -1);
        // Across the European DST switch (29 March 2026) days stay 24 h: no off-by-one.
        assert_eq!(age_days(d(2026, 3, 28), now("2026-03-30T00:30:00Z")), 2);
        assert_eq!(age_days(d(2026, 10, 24), now("2026-10-26T00:30:00+01:00")), 1);
        // Leap years.
        assert_eq!(age_days(d(2024, 2, 28), now("2024-03-01T00:00:00Z")), 2);
        assert_eq!(age_days(d(2019, 1, 1), now("2026-01-01T00:00:00Z")), 7 * 365 + 2);
    }

    #[test]
    fn tier_boundaries() {
        let t = TierAges::SEED;
        assert!(t.check().is_ok());
        assert_eq!(t.target(-3), Tier::Hot);
        assert_eq!(t.target(0), Tier::Hot);
        assert_eq!(t.target(6), Tier::Hot);
        assert_eq!(t.target(7), Tier::Warm);
        assert_eq!(t.target(29), Tier::Warm);
        assert_eq!(t.target(30), Tier::Cold);
        assert_eq!(t.target(364), Tier::Cold);
        assert_eq!(t.target(365), Tier::Archive);
        assert_eq!(t.target(2554), Tier::Archive);
        assert_eq!(t.target(2555), Tier::Expired);
    }

    #[test]
    fn tier_ages_must_increase() {
        let mut t = TierAges::SEED;
        t.cold = 7;
        assert!(t.check().is_err());
        let mut t = TierAges::SEED;
        t.warm = 0;
        assert!(t.check().is_err());
        let mut t = TierAges::SEED;
        t.expire = 300;
        assert!(t.check().is_err());
    }

    #[test]
    fn hot_is_never_touched() {
        for location in [
            Location::Cluster {
                warm: false,
                archived: false,
            },
            Location::Cluster {
                warm: true,
                archived: false,
            },
            Location::ClosedIndex,
        ] {
            assert_eq!(decide(location, Tier::Hot), Action::None);
        }
    }

    #[test]
    fn actions_per_location_and_target() {
        let hot = Location::Cluster {
            warm: false,
            archived: false,
        };
        let warm = Location::Cluster {
            warm: true,
            archived: false,
        };
        assert_eq!(decide(hot, Tier::Warm), Action::Warm);
        assert_eq!(decide(warm, Tier::Warm), Action::None);
        assert_eq!(decide(hot, Tier::Cold), Action::Archive { then_transition: false });
        assert_eq!(decide(warm, Tier::Archive), Action::Archive { then_transition: true });
        assert_eq!(decide(warm, Tier::Expired), Action::Skip(SkipReason::ExpiredInCluster));
        let done = Location::Cluster {
            warm: true,
            archived: true,
        };
        assert_eq!(decide(done, Tier::Expired), Action::Archive { then_transition: false });
        assert_eq!(
            decide(Location::ClosedIndex, Tier::Cold),
            Action::Skip(SkipReason::Closed)
        );
        assert_eq!(decide(Location::S3 { glacier: false }, Tier::Cold), Action::None);
        assert_eq!(
            decide(Location::S3 { glacier: false }, Tier::Archive),
            Action::Transition
        );
        assert_eq!(decide(Location::S3 { glacier: true }, Tier::Archive), Action::None);
        assert_eq!(decide(Location::S3 { glacier: true }, Tier::Expired), Action::Expire);
        assert_eq!(decide(Location::S3 { glacier: false }, Tier::Expired), Action::Expire);
        assert_eq!(decide(Location::S3 { glacier: false }, Tier::Hot), Action::None);
    }

    #[test]
    fn limit_defers_work_only() {
        let mut actions = vec![
            Action::None,
            Action::Expire,
            Action::Warm,
            Action::Skip(SkipReason::Closed),
            Action::Transition,
            Action::None,
        ];
        assert_eq!(apply_limit(&mut actions, 2), 1);
        assert_eq!(actions[1], Action::Expire);
        assert_eq!(actions[2], Action::Warm);
        assert_eq!(actions[4], Action::Skip(SkipReason::Deferred));
        assert_eq!(actions[0], Action::None);
        assert_eq!(apply_limit(&mut actions, 0), 2);
    }
}
