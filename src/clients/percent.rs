//! Percent-encoding of names that go into URLs (the `percent-encoding` crate): an index name
//! as one path segment, an S3 key in `x-amz-copy-source` (slashes kept).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but ASCII letters, digits and `-_.` is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');
/// As [`SEGMENT`], keeping `~` and the `/` between key parts.
const KEY: &AsciiSet = &SEGMENT.remove(b'~').remove(b'/');

/// An index name as one URL path segment (names may hold `+`, `#`, `%`, `/` ...).
pub fn path_segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// An S3 object key for `x-amz-copy-source`.
pub fn object_key(key: &str) -> String {
    utf8_percent_encode(key, KEY).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_encode_what_a_path_would_misread() {
        assert_eq!(path_segment("logs-2026.11.25_a"), "logs-2026.11.25_a");
        assert_eq!(path_segment("a+b#c%d/e f"), "a%2Bb%23c%25d%2Fe%20f");
        assert_eq!(path_segment("é"), "%C3%A9");
    }

    #[test]
    fn keys_keep_their_slashes() {
        assert_eq!(
            object_key("logs/idx+1/part-000.ndjson.gz"),
            "logs/idx%2B1/part-000.ndjson.gz"
        );
        assert_eq!(object_key("a~b c"), "a~b%20c");
    }
}
