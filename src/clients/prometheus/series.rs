//! Series-API answers read in place: label sets borrowed from the JSON body, one small vector
//! per series instead of a map and two strings per label (millions of series per scan).

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

use super::{Labels, PrometheusClient, PrometheusError, api_body, api_time, decode_envelope};

/// One series' labels as `(name, value)` pairs sorted by name, borrowed from the answer
/// (owned only where the JSON escapes a character).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelPairs<'a>(pub Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl LabelPairs<'_> {
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    pub fn to_labels(&self) -> Labels {
        self.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }
}

/// A label set however it is held: `(name, value)` pairs sorted by name.
pub trait LabelSet {
    fn label_pairs(&self) -> impl Iterator<Item = (&str, &str)>;
}

impl LabelSet for Labels {
    fn label_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl LabelSet for LabelPairs<'_> {
    fn label_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter()
    }
}

/// The body of a `/api/v1/series` answer; `label_sets` reads it.
#[derive(Debug, Clone)]
pub struct SeriesAnswer {
    bytes: bytes::Bytes,
    url: String,
}

impl SeriesAnswer {
    /// The label sets of the answer, borrowed from it.
    pub fn label_sets(&self) -> Result<Vec<LabelPairs<'_>>, PrometheusError> {
        decode_envelope(&self.bytes, self.url.clone())
    }
}

impl PrometheusClient {
    /// Series matching `matchers` with samples in `[start, end]`, as an answer to read in
    /// place (see `series` for owned label maps).
    pub async fn series_answer(
        &self,
        matchers: &[String],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<SeriesAnswer, PrometheusError> {
        let mut form: Vec<(&str, String)> = matchers.iter().map(|m| ("match[]", m.clone())).collect();
        form.push(("start", api_time(start)));
        form.push(("end", api_time(end)));
        let (bytes, url) = api_body(&self.http, Method::POST, "api/v1/series", &form).await?;
        Ok(SeriesAnswer { bytes, url })
    }
}

impl<'de> Deserialize<'de> for LabelPairs<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = LabelPairs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a label set object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((Text(name), Text(value))) = map.next_entry::<Text<'de>, Text<'de>>()? {
                    pairs.push((name, value));
                }
                // Prometheus sorts labels; fingerprints must not depend on it.
                if !pairs.is_sorted_by(|a, b| a.0 <= b.0) {
                    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                }
                Ok(LabelPairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor)
    }
}

/// A JSON string borrowed when it has no escape.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(text.to_string())))
            }
            fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_are_read_in_place_and_sorted() {
        let answer = SeriesAnswer {
            bytes: bytes::Bytes::from_static(
                br#"{"status":"success","data":[{"__name__":"up","job":"a\"b"},{"z":"1","a":"\u00e9"}]}"#,
            ),
            url: "http://x/api/v1/series".into(),
        };
        let sets = answer.label_sets().unwrap();
        assert_eq!(sets.len(), 2);
        assert!(matches!(sets[0].0[0].1, Cow::Borrowed("up")));
        assert_eq!(sets[0].to_labels()["job"], "a\"b");
        let second: Vec<(&str, &str)> = sets[1].iter().collect();
        assert_eq!(second, vec![("a", "é"), ("z", "1")]);
    }

    #[test]
    fn an_error_answer_is_an_api_error() {
        let answer = SeriesAnswer {
            bytes: bytes::Bytes::from_static(br#"{"status":"error","errorType":"bad_data","error":"boom"}"#),
            url: "http://x/api/v1/series".into(),
        };
        let error = answer.label_sets().unwrap_err();
        assert!(error.to_string().contains("boom"), "{error}");
    }
}
