//! Maps a key path in jobs.toml (`jobs.daily-report.schedule`, `panels[2].unit`) back to a
//! line and column of the file, so every config error points at the place to fix.

use std::fmt;

use toml_edit::{Item, Value};

/// One step of a key path: a table key or an array index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A key path such as `jobs.daily-report.panels[2].unit`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    pub fn root() -> Self {
        Self(Vec::new())
    }
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.into()));
        next
    }
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }
    /// Append the segments serde_path_to_error recorded below this path.
    pub fn join_serde(&self, path: &serde_path_to_error::Path) -> Self {
        let mut next = self.clone();
        for segment in path.iter() {
            match segment {
                serde_path_to_error::Segment::Map { key } | serde_path_to_error::Segment::Enum { variant: key } => {
                    next.0.push(Segment::Key(key.clone()))
                }
                serde_path_to_error::Segment::Seq { index } => next.0.push(Segment::Index(*index)),
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        next
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Finds the byte offset of the deepest part of `path` present in `source`: the key itself
/// when it exists, otherwise the closest enclosing table.
pub fn locate(source: &str, path: &KeyPath) -> Option<usize> {
    let document = toml_edit::Document::parse(source).ok()?;
    let mut best = Some(0);
    let mut node = Node::Item(document.as_item());
    for segment in &path.0 {
        let next = match (segment, node) {
            (Segment::Key(key), Node::Item(item)) => {
                let table = item.as_table_like()?;
                if let Some(span) = table.key(key).and_then(|k| k.span()) {
                    best = Some(span.start);
                }
                table.get(key).map(Node::Item)
            }
            (Segment::Key(key), Node::Value(Value::InlineTable(table))) => {
                if let Some(span) = table.key(key).and_then(|k| k.span()) {
                    best = Some(span.start);
                }
                table.get(key).map(Node::Value)
            }
            (Segment::Index(index), Node::Item(Item::ArrayOfTables(tables))) => tables.get(*index).map(|table| {
                if let Some(span) = table.span() {
                    best = Some(span.start);
                }
                Node::Table(table)
            }),
            (Segment::Index(index), Node::Item(Item::Value(Value::Array(array))))
            | (Segment::Index(index), Node::Value(Value::Array(array))) => array.get(*index).map(|value| {
                if let Some(span) = value.span() {
                    best = Some(span.start);
                }
                Node::Value(value)
            }),
            (Segment::Key(key), Node::Table(table)) => {
                if let Some(span) = table.key(key).and_then(|k| k.span()) {
                    best = Some(span.start);
                }
                table.get(key).map(Node::Item)
            }
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => break,
        }
    }
    best
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Value(&'a Value),
    Table(&'a toml_edit::Table),
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "[prometheus]\nurl = \"http://x\"\n\n[jobs.a]\nkind = \"report\"\nschedule = \"bad\"\n\n[[jobs.a.panels]]\ntitle = \"one\"\n\n[[jobs.a.panels]]\ntitle = \"two\"\nunit = { name = \"x\" }\n";

    fn at(path: KeyPath) -> (usize, usize) {
        line_col(SOURCE, locate(SOURCE, &path).unwrap())
    }

    #[test]
    fn finds_keys_tables_and_array_entries() {
        let jobs = KeyPath::root().key("jobs").key("a");
        assert_eq!(at(KeyPath::root().key("prometheus").key("url")), (2, 1));
        assert_eq!(at(jobs.key("schedule")), (6, 1));
        assert_eq!(at(jobs.key("panels").index(1).key("title")), (12, 1));
        assert_eq!(at(jobs.key("panels").index(1).key("unit").key("name")), (13, 10));
        // A key that does not exist points at the closest thing that does.
        assert_eq!(at(jobs.key("panels").index(0).key("missing")), (8, 1));
    }

    #[test]
    fn paths_print_like_toml_keys() {
        let path = KeyPath::root().key("jobs").key("a").key("panels").index(2).key("unit");
        assert_eq!(path.to_string(), "jobs.a.panels[2].unit");
    }
}
