//! `${VAR}` expansion in jobs.toml string values, done on the parsed tree (not the raw text)
//! so an expanded secret can never show up in a parse error's source snippet.

use super::locate::KeyPath;

/// Expands `${VAR}` and `${VAR:-default}` in every string of `value`; `$$` is a literal `$`.
/// Returns the path and message of the first reference that cannot be resolved.
pub fn expand_tree(
    value: &mut toml::Value,
    path: &KeyPath,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (KeyPath, String)> {
    match value {
        toml::Value::String(text) => {
            *text = expand(text, lookup).map_err(|message| (path.clone(), message))?;
        }
        toml::Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                expand_tree(item, &path.index(index), lookup)?;
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                expand_tree(item, &path.key(key.as_str()), lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A piece of a string value: literal text or a `${NAME}` / `${NAME:-default}` reference.
enum Piece<'a> {
    Text(&'a str),
    Var { name: &'a str, default: Option<&'a str> },
}

/// Splits a string into text and references (`$$` is the text `$`); the one parser of the
/// syntax, for expansion and for `almanac k8s`' list of variables.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push(Piece::Text(&rest[..dollar]));
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push(Piece::Text("$"));
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let close = body
                .find('}')
                .ok_or_else(|| "unterminated \"${\": expected \"${NAME}\" or \"${NAME:-default}\"".to_string())?;
            let reference = &body[..close];
            let (name, default) = match reference.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (reference, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "invalid environment variable name {name:?} in \"${{{reference}}}\""
                ));
            }
            out.push(Piece::Var { name, default });
            rest = &body[close + 1..];
        } else {
            out.push(Piece::Text("$"));
            rest = after;
        }
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// Expands one string.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Var { name, default } => match (lookup(name).filter(|v| !v.is_empty()), default) {
                (Some(found), _) => out.push_str(&found),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(format!(
                        "environment variable {name} is not set (write \"${{{name}:-default}}\" to give a default)"
                    ));
                }
            },
        }
    }
    Ok(out)
}

/// The variables a string refers to, each with whether the reference has a default.
pub fn references(text: &str) -> Result<Vec<(String, bool)>, String> {
    Ok(pieces(text)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Var { name, default } => Some((name.to_string(), default.is_some())),
            Piece::Text(_) => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("prom".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_references_defaults_and_escapes() {
        assert_eq!(expand("http://${HOST}:9090", &env).unwrap(), "http://prom:9090");
        assert_eq!(
            expand("${MISSING:-http://localhost}", &env).unwrap(),
            "http://localhost"
        );
        assert_eq!(expand("${EMPTY:-fallback}", &env).unwrap(), "fallback");
        assert_eq!(expand("cost: $$5 and $x", &env).unwrap(), "cost: $5 and $x");
    }

    #[test]
    fn references_are_listed_with_whether_they_have_a_default() {
        assert_eq!(
            references("a ${X} $${NOT} ${Y:-d} ${X:-e}").unwrap(),
            [
                ("X".to_string(), false),
                ("Y".to_string(), true),
                ("X".to_string(), true)
            ]
        );
        assert!(references("${bad name}").is_err());
    }

    #[test]
    fn reports_missing_and_malformed_references() {
        assert!(expand("${MISSING}", &env).unwrap_err().contains("MISSING is not set"));
        assert!(expand("${HOST", &env).unwrap_err().contains("unterminated"));
        assert!(
            expand("${BAD-NAME}", &env)
                .unwrap_err()
                .contains("invalid environment variable name")
        );
    }
}
