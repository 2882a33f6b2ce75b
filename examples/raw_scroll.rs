//! The physical limit of reading an index, for `scripts/bench-log-retention`: the same sliced
//! `_doc` scroll the archive step makes (same page size, same slices), writing nothing and
//! parsing no more of each page than the scroll id and the number of hits.
//!
//!   cargo run --release --example raw_scroll -- <url> <index> <slices> <page size>

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;

#[derive(Deserialize)]
struct Page {
    _scroll_id: String,
    hits: Hits,
}

#[derive(Deserialize)]
struct Hits {
    hits: Vec<IgnoredAny>,
}

async fn read_slice(client: reqwest::Client, url: String, index: String, slice: u32, slices: u32, size: usize) -> u64 {
    let mut body = json!({"size": size, "sort": ["_doc"]});
    if slices > 1 {
        body["slice"] = json!({"id": slice, "max": slices});
    }
    let post = |path: String, body: serde_json::Value| {
        let client = client.clone();
        async move {
            let bytes = client
                .post(path)
                .json(&body)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .expect("scroll request")
                .bytes()
                .await
                .expect("scroll body");
            serde_json::from_slice::<Page>(&bytes).expect("scroll page")
        }
    };
    let mut page = post(format!("{url}/{index}/_search?scroll=5m"), body).await;
    let mut total = 0u64;
    while !page.hits.hits.is_empty() {
        total += page.hits.hits.len() as u64;
        let next = json!({"scroll": "5m", "scroll_id": page._scroll_id});
        page = post(format!("{url}/_search/scroll"), next).await;
    }
    let _ = client
        .delete(format!("{url}/_search/scroll"))
        .json(&json!({"scroll_id": page._scroll_id}))
        .send()
        .await;
    total
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, index, slices, size] = args.as_slice() else {
        eprintln!("usage: raw_scroll <url> <index> <slices> <page size>");
        std::process::exit(2);
    };
    let slices: u32 = slices.parse().expect("slices");
    let size: usize = size.parse().expect("page size");
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..slices)
        .map(|slice| {
            tokio::spawn(read_slice(
                client.clone(),
                url.clone(),
                index.clone(),
                slice,
                slices,
                size,
            ))
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("slice task");
    }
    println!("{total}");
}
