//! Pure decisions of the TSDB maintenance job: parsing and rendering series selectors with
//! exact PromQL escaping, finding stale series from two series-API answers, and batching.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::clients::prometheus::Labels;
use crate::clients::prometheus::series::LabelSet;

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    Nre,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Re => "=~",
            Self::Nre => "!~",
        }
    }
}

/// One `label op "value"` matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
}

/// A series selector such as `up{job="x"}` or `{__name__=~".+_bucket"}`, parsed so that the
/// job can add a metric-name matcher to it and render it back with correct escaping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// Parses the PromQL series-selector subset (`name{l="v", l2=~"re", ...}`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parser = Parser {
            chars: text.trim().chars().collect(),
            at: 0,
        };
        let mut matchers = Vec::new();
        if parser.peek().is_some_and(|c| c != '{') {
            let name = parser.identifier(true)?;
            matchers.push(Matcher {
                label: "__name__".into(),
                op: MatchOp::Eq,
                value: name,
            });
        }
        parser.skip_space();
        if parser.peek() == Some('{') {
            parser.at += 1;
            loop {
                parser.skip_space();
                match parser.peek() {
                    Some('}') => {
                        parser.at += 1;
                        break;
                    }
                    None => return Err("unterminated `{`".into()),
                    _ => {}
                }
                let label = parser.identifier(false)?;
                parser.skip_space();
                let op = parser.op()?;
                parser.skip_space();
                let value = parser.string()?;
                matchers.push(Matcher { label, op, value });
                parser.skip_space();
                match parser.peek() {
                    Some(',') => parser.at += 1,
                    Some('}') => {}
                    other => return Err(format!("expected `,` or `}}`, found {other:?}")),
                }
            }
        }
        parser.skip_space();
        if parser.at != parser.chars.len() {
            return Err(format!(
                "unexpected text after the selector at character {}",
                parser.at + 1
            ));
        }
        if matchers.is_empty() {
            return Err("a selector needs at least one matcher".into());
        }
        // Prometheus refuses selectors that match the empty string with every matcher.
        if matchers.iter().all(matches_empty) {
            return Err(
                "the selector must contain a matcher that does not match the empty string \
                 (e.g. job=\"x\"): Prometheus refuses selectors matching every series"
                    .into(),
            );
        }
        Ok(Self { matchers })
    }

    /// The fixed metric name, when the selector has `__name__="..."`.
    pub fn metric_name(&self) -> Option<&str> {
        self.matchers
            .iter()
            .find(|m| m.label == "__name__" && m.op == MatchOp::Eq)
            .map(|m| m.value.as_str())
    }

    /// This selector restricted to one metric name.
    pub fn for_metric(&self, name: &str) -> Self {
        let mut matchers = vec![Matcher {
            label: "__name__".into(),
            op: MatchOp::Eq,
            value: name.into(),
        }];
        matchers.extend(
            self.matchers
                .iter()
                .filter(|m| !(m.label == "__name__" && m.op == MatchOp::Eq))
                .cloned(),
        );
        Self { matchers }
    }

    /// PromQL text, every matcher inside the braces (`{__name__="up",job="x"}`).
    pub fn render(&self) -> String {
        let mut out = String::from("{");
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{}{}\"{}\"", m.label, m.op.as_str(), escape(&m.value));
        }
        out.push('}');
        out
    }
}

fn matches_empty(m: &Matcher) -> bool {
    match m.op {
        MatchOp::Eq => m.value.is_empty(),
        MatchOp::Ne => !m.value.is_empty(),
        // Regexes are anchored; these are the common ways to match "".
        MatchOp::Re => matches!(m.value.as_str(), "" | ".*" | "^.*$" | "(.*)"),
        MatchOp::Nre => !matches!(m.value.as_str(), "" | ".*"),
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl Serialize for Selector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.render())
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(|e| serde::de::Error::custom(format!("invalid selector {text:?}: {e}")))
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }
    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }
    fn identifier(&mut self, metric: bool) -> Result<String, String> {
        let start = self.at;
        while let Some(c) = self.peek() {
            let ok =
                c.is_ascii_alphabetic() || c == '_' || (metric && c == ':') || (self.at > start && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.at += 1;
        }
        if self.at == start {
            return Err(format!(
                "expected a {} name at character {}",
                if metric { "metric" } else { "label" },
                start + 1
            ));
        }
        Ok(self.chars[start..self.at].iter().collect())
    }
    fn op(&mut self) -> Result<MatchOp, String> {
        let two: String = self.chars.iter().skip(self.at).take(2).collect();
        let (op, len) = match two.as_str() {
            "=~" => (MatchOp::Re, 2),
            "!~" => (MatchOp::Nre, 2),
            "!=" => (MatchOp::Ne, 2),
            _ if two.starts_with('=') => (MatchOp::Eq, 1),
            _ => return Err(format!("expected =, !=, =~ or !~ at character {}", self.at + 1)),
        };
        self.at += len;
        Ok(op)
    }
    /// A quoted string: "..." or '...' with Go escapes, or `...` raw.
    fn string(&mut self) -> Result<String, String> {
        let quote = self.peek().ok_or("expected a quoted value")?;
        if !matches!(quote, '"' | '\'' | '`') {
            return Err(format!("expected a quoted value at character {}", self.at + 1));
        }
        self.at += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.at += 1;
            if c == quote {
                return Ok(out);
            }
            if c != '\\' || quote == '`' {
                out.push(c);
                continue;
            }
            let e = self.peek().ok_or("unterminated escape")?;
            self.at += 1;
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'a' => out.push('\x07'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'v' => out.push('\x0b'),
                '\\' | '"' | '\'' => out.push(e),
                'x' | 'u' | 'U' => {
                    let len = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = self.chars.iter().skip(self.at).take(len).collect();
                    self.at += len;
                    let code = u32::from_str_radix(&hex, 16).map_err(|_| format!("bad escape \\{e}{hex}"))?;
                    out.push(char::from_u32(code).ok_or_else(|| format!("bad escape \\{e}{hex}"))?);
                }
                other => return Err(format!("unknown escape \\{other}")),
            }
        }
    }
}

/// Escapes a label value for a double-quoted PromQL/MetricsQL string. Non-ASCII text passes
/// through as UTF-8; control characters become `\uXXXX`, which both parsers accept.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A label name as a selector writes it: bare when it is a classic name
/// (`[a-zA-Z_][a-zA-Z0-9_]*`), else in Prometheus' quoted form (`"service.name"`), so the
/// selector never matches more than the label it names.
pub fn label_name(name: &str) -> String {
    let mut chars = name.chars();
    let classic = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if classic {
        name.to_string()
    } else {
        format!("\"{}\"", escape(name))
    }
}

/// A selector matching exactly one label set among series whose label names are `all_names`:
/// every own label with `=`, and every other known label name with `=""` (absent), so that
/// deleting `{a="1"}` cannot touch a live `{a="1",b="2"}`.
pub fn exact_selector(labels: &Labels, all_names: &BTreeSet<String>) -> String {
    let mut out = String::from("{");
    let mut first = true;
    let mut push = |out: &mut String, name: &str, value: &str| {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{}=\"{}\"", label_name(name), escape(value));
    };
    if let Some(name) = labels.get("__name__") {
        push(&mut out, "__name__", name);
    }
    for (name, value) in labels {
        if name != "__name__" {
            push(&mut out, name, value);
        }
    }
    for name in all_names {
        if !labels.contains_key(name) {
            push(&mut out, name, "");
        }
    }
    out.push('}');
    out
}

/// A stable 64-bit fingerprint of a label set (names and values, each ended by 0xff). A
/// collision can only make a stale series look live (it is then kept), never the reverse.
pub fn fingerprint(labels: &impl LabelSet) -> u64 {
    // foldhash's quality variant: a well-mixed 64-bit hash, several times faster than SipHash
    // on the millions of label sets a scan fingerprints; a fixed seed, so runs agree.
    let mut hasher = foldhash::quality::FixedState::with_seed(0x616c_6d61_6e61_6321).build_hasher();
    for (name, value) in labels.label_pairs() {
        hasher.write(name.as_bytes());
        hasher.write_u8(0xff);
        hasher.write(value.as_bytes());
        hasher.write_u8(0xff);
    }
    hasher.finish()
}

/// Stale series of one metric: present over the whole window but not in the recent one.
/// `recent` holds fingerprints only, so memory stays small for live series.
pub fn stale_series<L: LabelSet>(whole: Vec<L>, recent: &HashSet<u64>) -> Vec<L> {
    whole
        .into_iter()
        .filter(|labels| !recent.contains(&fingerprint(labels)))
        .collect()
}

/// Label names present in any of these label sets.
pub fn label_names<'a, L: LabelSet + 'a>(sets: impl IntoIterator<Item = &'a L>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for labels in sets {
        for (name, _) in labels.label_pairs() {
            if !names.contains(name) {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// Length of `text` once `application/x-www-form-urlencoded`.
pub fn form_encoded_len(text: &str) -> usize {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_' | b' ') {
                1
            } else {
                3
            }
        })
        .sum()
}

/// Splits `match[]` values into groups whose form-encoded body (`match%5B%5D=...&...`, plus
/// `reserved` bytes for start/end) stays under `max_bytes`. A selector too long on its own
/// gets a batch of its own.
pub fn batches(selectors: Vec<String>, max_bytes: usize, reserved: usize) -> Vec<Vec<String>> {
    let mut batcher = Batcher::new(max_bytes, reserved, None);
    for selector in selectors {
        batcher.push(selector);
    }
    batcher.finish().groups
}

/// `match[]` groups built one selector at a time, as `batches` splits them. Past `keep`
/// selectors (a run's `max_series_per_run`; `Some(0)` for a dry run) only the number of
/// groups is kept: a scan of millions of stale series then runs in constant memory.
#[derive(Debug)]
pub struct Batcher {
    max_bytes: usize,
    reserved: usize,
    keep: Option<u64>,
    pushed: u64,
    size: usize,
    /// Selectors in the open group (counted even when not kept).
    open: usize,
    current: Vec<String>,
    done: Batches,
}

/// The groups of a `Batcher`: `count` of them, their selectors when `complete`. The default
/// is no group at all, complete.
#[derive(Debug, Clone, PartialEq)]
pub struct Batches {
    pub count: usize,
    pub groups: Vec<Vec<String>>,
    /// False when selectors were counted but not kept.
    pub complete: bool,
}

impl Default for Batches {
    fn default() -> Self {
        Self {
            count: 0,
            groups: Vec::new(),
            complete: true,
        }
    }
}

impl Batcher {
    pub fn new(max_bytes: usize, reserved: usize, keep: Option<u64>) -> Self {
        Self {
            max_bytes,
            reserved,
            keep,
            pushed: 0,
            size: reserved,
            open: 0,
            current: Vec::new(),
            done: Batches::default(),
        }
    }

    pub fn push(&mut self, selector: String) {
        const KEY: usize = "match%5B%5D=".len() + 1;
        let len = KEY + form_encoded_len(&selector);
        if self.open > 0 && self.size + len > self.max_bytes {
            self.close();
        }
        self.pushed += 1;
        if self.done.complete && self.keep.is_some_and(|keep| self.pushed > keep) {
            // Over the limit: stop holding selectors, keep counting groups.
            self.done.complete = false;
            self.done.groups = Vec::new();
            self.current = Vec::new();
        }
        self.size += len;
        self.open += 1;
        if self.done.complete {
            self.current.push(selector);
        }
    }

    fn close(&mut self) {
        self.done.count += 1;
        if self.done.complete {
            self.done.groups.push(std::mem::take(&mut self.current));
        }
        self.size = self.reserved;
        self.open = 0;
    }

    pub fn finish(mut self) -> Batches {
        if self.open > 0 {
            self.close();
        }
        self.done
    }
}

/// An estimate of how many TSDB blocks hold samples in `[start, end]` (milliseconds) when the
/// server does not list its blocks: the head block if the range reaches it, plus persisted
/// blocks of at most `max_block` each between `start` and the head.
pub fn estimate_blocks(start: i64, end: i64, head: Option<(i64, i64)>, max_block: i64) -> u64 {
    if end < start || max_block <= 0 {
        return 0;
    }
    match head {
        Some((head_min, _)) if end >= head_min => {
            let persisted = (head_min.min(end) - start).max(0);
            1 + (persisted as u64).div_ceil(max_block as u64)
        }
        _ => ((end - start + 1).max(0) as u64).div_ceil(max_block as u64),
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
