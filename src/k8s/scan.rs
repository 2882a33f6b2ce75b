//! What jobs.toml needs from the cluster, found in its raw TOML: inline secrets (refused),
//! `${VAR}` references (the env Secret's keys) and `*_file` settings (the files Secret's).

use std::collections::BTreeSet;

use super::SECRETS_DIR;
use crate::config::KeyPath;

/// The first secret written in clear in jobs.toml (a `password`, `bearer_token`, `api_key`
/// or `secret_access_key` that is not only a `${VAR}`, or a URL with a password), with the
/// form to write instead.
pub(super) fn inline_secret(value: &toml::Value, path: &str) -> Option<(String, String)> {
    const SECRET_KEYS: &[&str] = &["password", "bearer_token", "api_key", "secret_access_key"];
    let toml::Value::Table(table) = value else { return None };
    for (key, value) in table {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match value {
            toml::Value::Table(_) => {
                if let Some(found) = inline_secret(value, &here) {
                    return Some(found);
                }
            }
            toml::Value::String(text) => {
                let only_variable = text.starts_with("${") && text.ends_with('}') && text.matches("${").count() == 1;
                if SECRET_KEYS.contains(&key.as_str()) && !only_variable {
                    let variable = here.replace(['.', '-'], "_").to_uppercase();
                    let file = here.replace('.', "-");
                    return Some((
                        here,
                        format!("{key}_file = \"{SECRETS_DIR}/{file}\" or {key} = \"${{{variable}}}\""),
                    ));
                }
                if (key == "url" || key == "endpoint")
                    && let Some(rest) = text.split_once("://").map(|(_, rest)| rest)
                    && rest.split('/').next().is_some_and(|authority| authority.contains('@'))
                    && !text.starts_with("${")
                {
                    return Some((
                        here,
                        "the URL without user:password@, and username + password_file".to_string(),
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

/// The path of the first string holding a `${VAR}` reference.
pub(super) fn env_reference(value: &toml::Value, at: KeyPath) -> Option<KeyPath> {
    match value {
        toml::Value::String(text) if text.contains("${") => Some(at),
        toml::Value::Table(table) => table
            .iter()
            .find_map(|(key, item)| env_reference(item, at.key(key.as_str()))),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| env_reference(item, at.index(index))),
        _ => None,
    }
}

/// Collects `${NAME}` / `${NAME:-default}` references in string values (name → every
/// reference has a default). The syntax is config's (`config::env_references`).
pub(super) fn scan_env(value: &toml::Value, found: &mut std::collections::BTreeMap<String, bool>) {
    match value {
        toml::Value::String(text) => {
            // A malformed reference is reported by the loader, which runs first.
            for (name, has_default) in crate::config::env_references(text).unwrap_or_default() {
                *found.entry(name).or_insert(true) &= has_default;
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|item| scan_env(item, found)),
        toml::Value::Table(table) => table.values().for_each(|item| scan_env(item, found)),
        _ => {}
    }
}

/// Collects `(key path, value)` of every `*_file` setting.
pub(super) fn scan_files(value: &toml::Value, path: &str, found: &mut BTreeSet<(String, String)>) {
    if let toml::Value::Table(table) = value {
        for (key, item) in table {
            let at = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match item {
                toml::Value::String(file) if key.ends_with("_file") => {
                    found.insert((at, file.clone()));
                }
                _ => scan_files(item, &at, found),
            }
        }
    }
}
