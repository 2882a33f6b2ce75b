//! The module graph as ARCHITECTURE.md draws it: no import cycle between the top-level
//! modules of `src/`, and no source file over 500 lines. Reads the sources, no server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file belongs to (`src/jobs/report/query.rs` → `jobs`).
fn top_level(file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src()).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// Top-level modules named by `crate::<name>` in `text` (comments skipped).
fn references(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if modules.contains(&name) {
                found.insert(name);
            } else if let Some(group) = after.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or_default();
                for item in group.split(',') {
                    let name = item.trim().split("::").next().unwrap_or_default().trim();
                    if modules.contains(name) {
                        found.insert(name.to_string());
                    }
                }
            }
            rest = after;
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_level(f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for file in &files {
        let Some(from) = top_level(file) else { continue };
        let text = std::fs::read_to_string(file).unwrap();
        for to in references(&text, &modules) {
            if to != from {
                edges.get_mut(&from).unwrap().insert(to);
            }
        }
    }
    edges
}

/// A cycle through `start`, if any (depth-first).
fn cycle_from(start: &str, edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn walk(
        node: &str,
        start: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in &edges[node] {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(next, start, edges, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(start, start, edges, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn top_level_modules_import_each_other_one_way_only() {
    let edges = graph();
    assert!(edges.len() >= 10, "modules found: {edges:?}");
    let cycles: Vec<String> = edges
        .keys()
        .filter_map(|m| cycle_from(m, &edges))
        .map(|c| c.join(" → "))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules:\n{}",
        cycles.join("\n")
    );
    // The layers of ARCHITECTURE.md: the bottom never reaches up.
    for (low, high) in [
        ("clients", "jobs"),
        ("clients", "runner"),
        ("config", "jobs"),
        ("config", "clients"),
        ("jobs", "runner"),
        ("jobs", "cli"),
        ("runner", "cli"),
        ("runner", "scheduler"),
    ] {
        assert!(!edges[low].contains(high), "{low} imports {high}: {:?}", edges[low]);
    }
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    let modules: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    assert_eq!(
        references("use crate::{a::X, b};\nlet _ = crate::c::f(); // crate::x", &modules),
        modules
    );
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(cycle_from("a", &edges).unwrap(), ["a", "b", "c", "a"]);
}

#[test]
fn no_source_file_is_over_500_lines() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > 500).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files:\n{}", long.join("\n"));
}
