//! The archive's line format, written and checked in one place: one JSON object per line,
//! `{"_id":..,"_source":{..}}` plus `"_routing"` when the document has one.
//! `push_line` makes any `_source` one line; `LineChecker` proves a part parses back.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Appends one archive line (with its final `\n`) for a document to `out`.
///
/// `_source` comes back from the cluster as it was indexed, raw newlines included
/// (`{\n  "msg": ..}`). Outside strings a raw LF, CR or TAB is JSON whitespace and is dropped;
/// inside a string it is not valid JSON, but an engine may have accepted it, so it is written
/// as its escape (`\n`, `\r`, `\t`) and the string keeps its meaning. Everything else,
/// escaped newlines and U+2028/U+2029 included, is copied byte for byte.
pub fn push_line(out: &mut Vec<u8>, id: &str, routing: Option<&str>, source: &[u8]) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"_id\":");
    serde_json::to_writer(&mut *out, id)?;
    if let Some(routing) = routing {
        out.extend_from_slice(b",\"_routing\":");
        serde_json::to_writer(&mut *out, routing)?;
    }
    out.extend_from_slice(b",\"_source\":");
    push_single_line(out, source);
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// `push_line` into any writer: the source goes through without an intermediate copy, so a
/// 20 MB document costs no second 20 MB buffer.
pub fn write_line(
    out: &mut impl std::io::Write,
    id: &str,
    routing: Option<&str>,
    source: &[u8],
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(64 + id.len());
    head.extend_from_slice(b"{\"_id\":");
    serde_json::to_writer(&mut head, id)?;
    if let Some(routing) = routing {
        head.extend_from_slice(b",\"_routing\":");
        serde_json::to_writer(&mut head, routing)?;
    }
    head.extend_from_slice(b",\"_source\":");
    out.write_all(&head)?;
    if memchr::memchr2(b'\n', b'\r', source).is_none() {
        out.write_all(source)?;
    } else {
        let mut single = Vec::with_capacity(source.len());
        push_single_line(&mut single, source);
        out.write_all(&single)?;
    }
    out.write_all(b"}\n")
}

/// Copies a JSON text without raw line breaks (see `push_line`).
pub fn push_single_line(out: &mut Vec<u8>, json: &[u8]) {
    if memchr::memchr2(b'\n', b'\r', json).is_none() {
        out.extend_from_slice(json);
        return;
    }
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            if escaped {
                escaped = false;
                out.push(byte);
                continue;
            }
            match byte {
                b'\\' => {
                    escaped = true;
                    out.push(byte);
                }
                b'"' => {
                    in_string = false;
                    out.push(byte);
                }
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => out.push(byte),
            }
        } else {
            match byte {
                b'"' => {
                    in_string = true;
                    out.push(byte);
                }
                b'\n' | b'\r' | b'\t' => {}
                _ => out.push(byte),
            }
        }
    }
}

/// One archive line as restore reads it.
#[derive(Debug, Deserialize)]
pub struct Line<'a> {
    #[serde(rename = "_id", borrow)]
    pub id: std::borrow::Cow<'a, str>,
    #[serde(rename = "_routing", borrow, default)]
    pub routing: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "_source", borrow)]
    pub source: &'a RawValue,
}

/// Parses one line (without its `\n`) and checks that `_source` is an object.
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, String> {
    let parsed: Line<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    if !parsed.source.get().starts_with('{') {
        return Err("_source is not a JSON object".into());
    }
    Ok(parsed)
}

/// A `Write` sink for the decompressed bytes of one part: splits them into lines, parses
/// each, and counts them. The first bad line is kept (number and reason).
#[derive(Debug, Default)]
pub struct LineChecker {
    partial: Vec<u8>,
    pub lines: u64,
    pub bytes: u64,
    pub first_error: Option<String>,
}

impl LineChecker {
    fn check(&mut self, line: &[u8]) {
        self.lines += 1;
        if self.first_error.is_none()
            && let Err(error) = parse_line(line)
        {
            self.first_error = Some(format!("line {}: {error}", self.lines));
        }
    }

    /// Checks a last line without `\n` (an archive never has one: it counts as an error).
    pub fn finish(mut self) -> Result<u64, String> {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.check(&rest);
            if self.first_error.is_none() {
                self.first_error = Some(format!("line {}: no final newline (truncated part?)", self.lines));
            }
        }
        match self.first_error {
            Some(error) => Err(error),
            None => Ok(self.lines),
        }
    }
}

impl std::io::Write for LineChecker {
    fn write(&mut self, mut buf: &[u8]) -> std::io::Result<usize> {
        let written = buf.len();
        self.bytes += written as u64;
        while let Some(end) = memchr::memchr(b'\n', buf) {
            if self.partial.is_empty() {
                self.check(&buf[..end]);
            } else {
                self.partial.extend_from_slice(&buf[..end]);
                let line = std::mem::take(&mut self.partial);
                self.check(&line);
                self.partial = line;
                self.partial.clear();
            }
            buf = &buf[end + 1..];
        }
        self.partial.extend_from_slice(buf);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decompresses gzip bytes as they come and checks every line.
pub struct PartChecker {
    decoder: flate2::write::MultiGzDecoder<LineChecker>,
}

impl Default for PartChecker {
    fn default() -> Self {
        Self {
            decoder: flate2::write::MultiGzDecoder::new(LineChecker::default()),
        }
    }
}

impl PartChecker {
    pub fn update(&mut self, compressed: &[u8]) -> Result<(), String> {
        use std::io::Write as _;
        self.decoder.write_all(compressed).map_err(|e| format!("gzip: {e}"))
    }

    /// The number of lines, each a valid archive line; an error names the first bad one.
    pub fn finish(self) -> Result<u64, String> {
        let checker = self.decoder.finish().map_err(|e| format!("gzip: {e}"))?;
        checker.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn line(source: &str) -> String {
        let mut out = Vec::new();
        push_line(&mut out, "a\nb", None, source.as_bytes()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn pretty_printed_source_becomes_one_line_with_the_same_value() {
        let source = "{\n  \"msg\": \"pretty\",\r\n\t\"n\": [1,\n 2]\n}";
        let text = line(source);
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["_id"], "a\nb");
        assert_eq!(
            value["_source"],
            serde_json::from_str::<serde_json::Value>(source).unwrap()
        );
    }

    #[test]
    fn escapes_and_separators_survive_byte_for_byte() {
        let source = "{\"m\":\"a\\nb \\\" \\\\\",\"s\":\"\u{2028}x\u{2029}\",\"t\":\"tab\\there\"}";
        let text = line(source);
        assert!(text.contains(source), "{text}");
    }

    #[test]
    fn raw_breaks_inside_strings_are_escaped_not_lost() {
        let text = line("{\"m\":\"one\ntwo\r\"}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["_source"]["m"], "one\ntwo\r");
    }

    #[test]
    fn routing_is_written_and_read_back() {
        let mut out = Vec::new();
        push_line(&mut out, "1", Some("tenant-7"), b"{}").unwrap();
        let parsed = parse_line(&out[..out.len() - 1]).unwrap();
        assert_eq!(parsed.routing.as_deref(), Some("tenant-7"));
    }

    #[test]
    fn checker_counts_lines_across_chunk_boundaries_and_names_the_bad_one() {
        let mut good = Vec::new();
        for i in 0..100 {
            push_line(&mut good, &i.to_string(), None, b"{\"x\":1}").unwrap();
        }
        let mut checker = LineChecker::default();
        for chunk in good.chunks(7) {
            checker.write_all(chunk).unwrap();
        }
        assert_eq!(checker.finish(), Ok(100));

        let mut checker = LineChecker::default();
        checker
            .write_all(b"{\"_id\":\"1\",\"_source\":{}}\n{\"_id\":\"2\",\"_source\":{\n")
            .unwrap();
        let error = checker.finish().unwrap_err();
        assert!(error.starts_with("line 2:"), "{error}");

        let mut checker = LineChecker::default();
        checker.write_all(b"{\"_id\":\"1\",\"_source\":\"text\"}\n").unwrap();
        assert!(checker.finish().unwrap_err().contains("not a JSON object"));
    }

    #[test]
    fn part_checker_reads_concatenated_gzip_members() {
        let mut part = Vec::new();
        for i in 0..3 {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let mut text = Vec::new();
            push_line(&mut text, &i.to_string(), None, b"{}").unwrap();
            encoder.write_all(&text).unwrap();
            part.extend(encoder.finish().unwrap());
        }
        let mut checker = PartChecker::default();
        for chunk in part.chunks(5) {
            checker.update(chunk).unwrap();
        }
        assert_eq!(checker.finish(), Ok(3));
        let mut truncated = PartChecker::default();
        truncated.update(&part[..part.len() - 3]).unwrap();
        assert!(truncated.finish().is_err());
    }
}
