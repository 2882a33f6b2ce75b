//! A tiny block-style YAML writer for the manifests `almanac k8s` generates: keys in the
//! order given (apiVersion, kind, metadata, spec), strings quoted only when needed, so the
//! output is deterministic and reads like hand-written Kubernetes YAML.

use std::fmt::Write as _;

/// A YAML value. Maps keep insertion order.
#[derive(Clone, Debug, PartialEq)]
pub enum Yaml {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl From<&str> for Yaml {
    fn from(value: &str) -> Self {
        Self::Str(value.to_string())
    }
}
impl From<String> for Yaml {
    fn from(value: String) -> Self {
        Self::Str(value)
    }
}
impl From<i32> for Yaml {
    fn from(value: i32) -> Self {
        Self::Int(value.into())
    }
}
impl From<i64> for Yaml {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}
impl From<bool> for Yaml {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}
impl From<Vec<Yaml>> for Yaml {
    fn from(value: Vec<Yaml>) -> Self {
        Self::List(value)
    }
}

/// A map from `(key, value)` pairs, in order.
pub fn map<const N: usize>(entries: [(&str, Yaml); N]) -> Yaml {
    Yaml::Map(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

impl Yaml {
    /// Appends an entry to a map (no-op on other values).
    pub fn push(&mut self, key: &str, value: impl Into<Yaml>) {
        if let Self::Map(entries) = self {
            entries.push((key.to_string(), value.into()));
        }
    }

    /// The document text (ends with a newline).
    pub fn to_document(&self) -> String {
        let mut out = String::new();
        match self {
            Self::Map(entries) if !entries.is_empty() => write_map(entries, 0, &mut out),
            Self::List(items) if !items.is_empty() => write_list(items, 0, &mut out),
            scalar => {
                let _ = writeln!(out, "{}", inline(scalar));
            }
        }
        out
    }
}

fn is_block(value: &Yaml) -> bool {
    match value {
        Yaml::Map(entries) => !entries.is_empty(),
        Yaml::List(items) => !items.is_empty(),
        Yaml::Str(text) => literal_ok(text),
        _ => false,
    }
}

fn write_map(entries: &[(String, Yaml)], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for (key, value) in entries {
        let key = scalar(key);
        match value {
            Yaml::Map(inner) if !inner.is_empty() => {
                let _ = writeln!(out, "{pad}{key}:");
                write_map(inner, indent + 2, out);
            }
            Yaml::List(items) if !items.is_empty() => {
                let _ = writeln!(out, "{pad}{key}:");
                write_list(items, indent + 2, out);
            }
            Yaml::Str(text) if literal_ok(text) => {
                write_literal(&format!("{pad}{key}:"), text, indent + 2, out);
            }
            other => {
                let _ = writeln!(out, "{pad}{key}: {}", inline(other));
            }
        }
    }
}

fn write_list(items: &[Yaml], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for item in items {
        match item {
            Yaml::Map(_) | Yaml::List(_) if is_block(item) => {
                let mut inner = String::new();
                match item {
                    Yaml::Map(entries) => write_map(entries, indent + 2, &mut inner),
                    Yaml::List(items) => write_list(items, indent + 2, &mut inner),
                    _ => unreachable!(),
                }
                // The first line of the nested block goes after the dash.
                let _ = write!(out, "{pad}- {}", &inner[indent + 2..]);
            }
            Yaml::Str(text) if literal_ok(text) => write_literal(&format!("{pad}-"), text, indent + 2, out),
            other => {
                let _ = writeln!(out, "{pad}- {}", inline(other));
            }
        }
    }
}

/// A multi-line string as a literal block (`|`), with the chomping indicator that keeps
/// its trailing newlines exact.
fn write_literal(head: &str, text: &str, indent: usize, out: &mut String) {
    let body = text.trim_end_matches('\n');
    let trailing = text.len() - body.len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let _ = writeln!(out, "{head} |{chomp}");
    let pad = " ".repeat(indent);
    for line in body.split('\n') {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{pad}{line}");
        }
    }
    for _ in 1..trailing {
        out.push('\n');
    }
}

/// Multi-line text that a literal block represents exactly.
fn literal_ok(text: &str) -> bool {
    text.contains('\n')
        && !text.starts_with([' ', '\t', '\n'])
        && !text
            .chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{feff}')
}

fn inline(value: &Yaml) -> String {
    match value {
        Yaml::Str(text) => scalar(text),
        Yaml::Int(number) => number.to_string(),
        Yaml::Bool(flag) => flag.to_string(),
        Yaml::List(_) => "[]".into(),
        Yaml::Map(_) => "{}".into(),
    }
}

/// A string scalar: plain when it cannot be read as anything else, JSON-quoted otherwise
/// (a JSON string is a valid YAML double-quoted scalar).
fn scalar(text: &str) -> String {
    const RESERVED: &[&str] = &["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"];
    let plain = text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
        && !RESERVED.contains(&text.to_ascii_lowercase().as_str());
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_maps_lists_and_quoting() {
        let doc = map([
            ("apiVersion", "batch/v1".into()),
            ("schedule", "0 7 * * *".into()),
            ("flag", "yes".into()),
            ("port", "9091".into()),
            ("count", 3.into()),
            ("empty", Yaml::List(vec![])),
            (
                "containers",
                vec![map([
                    ("name", "almanac".into()),
                    ("args", vec!["run".into(), "a".into()].into()),
                ])]
                .into(),
            ),
            ("text", "a\n\n  b\n".into()),
        ]);
        assert_eq!(
            doc.to_document(),
            "apiVersion: batch/v1\nschedule: \"0 7 * * *\"\nflag: \"yes\"\nport: \"9091\"\ncount: 3\nempty: []\n\
             containers:\n  - name: almanac\n    args:\n      - run\n      - a\ntext: |\n  a\n\n    b\n"
        );
    }

    #[test]
    fn literal_blocks_keep_trailing_newlines() {
        let none = map([("t", "a\nb".into())]).to_document();
        assert_eq!(none, "t: |-\n  a\n  b\n");
        let two = map([("t", "a\nb\n\n".into())]).to_document();
        assert_eq!(two, "t: |+\n  a\n  b\n\n");
        // Carriage returns cannot be represented in a literal block: quoted instead.
        assert_eq!(map([("t", "a\r\nb".into())]).to_document(), "t: \"a\\r\\nb\"\n");
    }
}
