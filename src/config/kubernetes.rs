//! `[jobs.<name>.kubernetes]`: what `almanac k8s` writes into a job's pod beyond its schedule —
//! the service account (IRSA or another workload identity) and the memory request and limit,
//! whose defaults per job kind come from the benchmarks (docs/operating.md, "Memory").
//! Parsed and checked here once, for the loader (`validate`, `run`, `serve`, which otherwise
//! ignore it) and for `almanac k8s`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, de};

use super::{KeyPath, SettingsError};

/// The keys of `[jobs.<name>.kubernetes]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSettings {
    /// The pod's `serviceAccountName`; without it the pod runs as the namespace's `default`.
    pub service_account: Option<ServiceAccountName>,
    /// Overrides the kind's default memory request.
    pub memory_request: Option<MemoryQuantity>,
    /// Overrides the kind's default memory limit.
    pub memory_limit: Option<MemoryQuantity>,
}

/// Memory request and limit of a job's container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    pub request: MemoryQuantity,
    pub limit: MemoryQuantity,
}

/// `(kind, request, limit)` when jobs.toml sets none. Request: the benchmark's peak RSS rounded
/// up to the next multiple of 16 MiB at least 15 % above it; limit: about 4× that peak, to the
/// nearest power of two, and at least twice the worst peak measured. Measurements and reasoning
/// in docs/operating.md; keep both in step.
pub const MEMORY_DEFAULTS: &[(&str, &str, &str)] = &[
    // no benchmark script: `/usr/bin/time -v almanac run` of a noop job, 13.5–13.9 MiB
    ("noop", "16Mi", "64Mi"),
    // scripts/bench-report: 25.9 MiB (42 queries, 14 charts); goal ≤ 60 MiB
    ("report", "32Mi", "128Mi"),
    // scripts/bench-log-retention: 30–32 MiB at 1–2 M documents; 92–108 MiB with 20 MB documents
    ("log-retention", "48Mi", "256Mi"),
    // scripts/bench-tsdb: 63–65 MiB at 1 M series; goal ≤ 300 MiB
    ("tsdb-retention", "80Mi", "256Mi"),
    // scripts/bench-rollup: 78–80 MiB at 10 000 series × 15 days; goal ≤ 256 MiB
    ("tsdb-rollup", "96Mi", "256Mi"),
];

/// The default memory of a job kind, `None` for a kind without defaults.
pub fn default_memory(kind: &str) -> Option<Memory> {
    let (_, request, limit) = MEMORY_DEFAULTS.iter().find(|(name, _, _)| *name == kind)?;
    let parse = |text: &str| {
        text.parse::<MemoryQuantity>()
            .expect("MEMORY_DEFAULTS are valid quantities")
    };
    Some(Memory {
        request: parse(request),
        limit: parse(limit),
    })
}

impl KubernetesSettings {
    /// The memory of a job of kind `kind`: what is set, else the kind's default; refuses a
    /// request above the limit (Kubernetes would refuse the pod). Errors are relative to the
    /// job's table.
    pub fn memory(&self, kind: &str) -> Result<Memory, SettingsError> {
        let defaults = default_memory(kind);
        let at = |key: &str| KeyPath::root().key("kubernetes").key(key);
        let pick = |set: &Option<MemoryQuantity>, default: Option<&MemoryQuantity>, key: &str| {
            set.clone().or_else(|| default.cloned()).ok_or_else(|| {
                SettingsError::new(
                    at(key),
                    format!("a job of kind {kind} has no default {key}: set memory_request and memory_limit"),
                )
            })
        };
        let request = pick(
            &self.memory_request,
            defaults.as_ref().map(|d| &d.request),
            "memory_request",
        )?;
        let limit = pick(&self.memory_limit, defaults.as_ref().map(|d| &d.limit), "memory_limit")?;
        if request.bytes > limit.bytes {
            let (key, message) = match (&self.memory_request, &self.memory_limit) {
                (Some(_), Some(_)) => (
                    "memory_request",
                    format!("memory_request {request} is above memory_limit {limit}"),
                ),
                (Some(_), None) => (
                    "memory_request",
                    format!(
                        "memory_request {request} is above the default memory_limit of a {kind} job ({limit}): \
                         set memory_limit too"
                    ),
                ),
                _ => (
                    "memory_limit",
                    format!(
                        "memory_limit {limit} is below the default memory_request of a {kind} job ({request}): \
                         set memory_request too"
                    ),
                ),
            };
            return Err(SettingsError::new(at(key), message));
        }
        Ok(Memory { request, limit })
    }
}

/// A Kubernetes ServiceAccount name: a DNS-1123 subdomain (lowercase letters, digits, '-' and
/// '.', starting and ending with a letter or digit, at most 253 characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccountName(String);

impl ServiceAccountName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceAccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ServiceAccountName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let label_ok = |label: &str| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if text.len() <= 253 && text.split('.').all(label_ok) {
            Ok(Self(text.to_string()))
        } else {
            Err(format!(
                "{text:?} is not a valid ServiceAccount name: a DNS-1123 subdomain of at most 253 characters, \
                 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit \
                 (e.g. \"almanac-log-retention\")"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for ServiceAccountName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(de::Error::custom)
    }
}

/// A memory quantity in Kubernetes' notation (`64Mi`, `1Gi`, `500M`, `128e6`), kept as
/// written for the manifest, with its size in bytes for comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryQuantity {
    text: String,
    bytes: u64,
}

/// Below this a quantity is surely a typo (`64` for `64Mi`): almanac alone takes ~14 MiB.
const MIN_MEMORY: u64 = 16 << 20;

impl MemoryQuantity {
    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl fmt::Display for MemoryQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for MemoryQuantity {
    type Err = String;

    /// Kubernetes' quantity grammar without a sign: digits with an optional fraction, then a
    /// binary suffix (Ki, Mi, Gi, Ti, Pi, Ei), a decimal one (k, M, G, T, P, E), an exponent
    /// (`e6`, `E+6`) or none (bytes). `m` (thousandths of a byte) is refused.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = "expected a Kubernetes memory quantity such as \"64Mi\", \"1Gi\" or \"500M\"";
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, suffix) = text.split_at(split);
        let digits = number.chars().filter(char::is_ascii_digit).count();
        if digits == 0 || number.matches('.').count() > 1 {
            return Err(format!("invalid memory quantity {text:?}: {expected}"));
        }
        let multiplier: f64 = match suffix {
            "" => 1.0,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            "Ki" => 2f64.powi(10),
            "Mi" => 2f64.powi(20),
            "Gi" => 2f64.powi(30),
            "Ti" => 2f64.powi(40),
            "Pi" => 2f64.powi(50),
            "Ei" => 2f64.powi(60),
            "m" => {
                return Err(format!(
                    "invalid memory quantity {text:?}: \"m\" means thousandths of a byte; write Mi (mebibytes) or M"
                ));
            }
            exponent if exponent.starts_with(['e', 'E']) => match exponent[1..].parse::<i32>() {
                Ok(power)
                    if exponent[1..]
                        .trim_start_matches(['+', '-'])
                        .chars()
                        .all(|c| c.is_ascii_digit()) =>
                {
                    10f64.powi(power)
                }
                _ => return Err(format!("invalid memory quantity {text:?}: bad exponent; {expected}")),
            },
            other => {
                return Err(format!(
                    "invalid memory quantity {text:?}: unknown suffix {other:?}; {expected}"
                ));
            }
        };
        let value: f64 = number
            .parse()
            .map_err(|_| format!("invalid memory quantity {text:?}: {expected}"))?;
        let bytes = (value * multiplier).ceil();
        if !bytes.is_finite() || bytes > (1u64 << 62) as f64 {
            return Err(format!("memory quantity {text:?} is too large"));
        }
        let bytes = bytes as u64;
        if bytes < MIN_MEMORY {
            return Err(format!(
                "memory quantity {text:?} is below 16Mi ({bytes} bytes): almanac alone takes about 14 MiB; \
                 did you mean {number}Mi?"
            ));
        }
        Ok(Self {
            text: text.to_string(),
            bytes,
        })
    }
}

impl<'de> Deserialize<'de> for MemoryQuantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> Result<u64, String> {
        text.parse::<MemoryQuantity>().map(|q| q.bytes())
    }

    #[test]
    fn memory_quantities() {
        assert_eq!(bytes("64Mi"), Ok(64 << 20));
        assert_eq!(bytes("1Gi"), Ok(1 << 30));
        assert_eq!(bytes("1.5Gi"), Ok(3 << 29));
        assert_eq!(bytes(".5Gi"), Ok(1 << 29));
        assert_eq!(bytes("500M"), Ok(500_000_000));
        assert_eq!(bytes("128e6"), Ok(128_000_000));
        assert_eq!(bytes("1E+9"), Ok(1_000_000_000));
        assert_eq!(bytes("67108864"), Ok(64 << 20));
        assert_eq!(bytes("65536k"), Ok(65_536_000));
        assert_eq!("256Mi".parse::<MemoryQuantity>().unwrap().to_string(), "256Mi");
        for bad in [
            "", "Mi", "64 Mi", "64MB", "64mi", "-64Mi", "+64Mi", "1.2.3Gi", "64e", "64e1.5", "1e30", "9Ei",
        ] {
            assert!(bytes(bad).is_err(), "{bad:?} accepted");
        }
        assert!(bytes("500m").unwrap_err().contains("thousandths of a byte"));
        assert!(bytes("64").unwrap_err().contains("did you mean 64Mi"));
    }

    #[test]
    fn service_account_names() {
        for good in [
            "almanac",
            "almanac-log-retention",
            "a.b-c.d",
            "0",
            "a".repeat(253).as_str(),
        ] {
            assert!(good.parse::<ServiceAccountName>().is_ok(), "{good:?} refused");
        }
        for bad in [
            "",
            "Almanac",
            "almanac_logs",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            "a b",
            "a".repeat(254).as_str(),
        ] {
            assert!(bad.parse::<ServiceAccountName>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn memory_defaults_and_request_not_above_limit() {
        for (kind, _, _) in MEMORY_DEFAULTS {
            let memory = default_memory(kind).unwrap();
            assert!(memory.request.bytes() <= memory.limit.bytes(), "{kind}");
        }
        let set = |request: Option<&str>, limit: Option<&str>| KubernetesSettings {
            service_account: None,
            memory_request: request.map(|r| r.parse().unwrap()),
            memory_limit: limit.map(|l| l.parse().unwrap()),
        };
        let memory = set(None, None).memory("log-retention").unwrap();
        assert_eq!((memory.request.as_str(), memory.limit.as_str()), ("48Mi", "256Mi"));
        let memory = set(Some("64Mi"), None).memory("log-retention").unwrap();
        assert_eq!((memory.request.as_str(), memory.limit.as_str()), ("64Mi", "256Mi"));
        let error = set(Some("512Mi"), None).memory("log-retention").unwrap_err();
        assert_eq!(error.path.to_string(), "kubernetes.memory_request");
        assert!(error.message.contains("set memory_limit too"), "{}", error.message);
        let error = set(None, Some("32Mi")).memory("log-retention").unwrap_err();
        assert_eq!(error.path.to_string(), "kubernetes.memory_limit");
        let error = set(Some("1Gi"), Some("1000Mi")).memory("noop").unwrap_err();
        assert_eq!(error.path.to_string(), "kubernetes.memory_request");
        set(Some("1Gi"), Some("1Gi")).memory("noop").unwrap();
        assert!(set(None, None).memory("backup").is_err());
        set(Some("64Mi"), Some("1Gi")).memory("backup").unwrap();
    }
}
