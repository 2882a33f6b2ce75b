//! Where an index's shards are, against where the warm step asked them to be: data tiers
//! (`data_warm` role, `_tier_preference`) or a node attribute (`box_type: warm`). Pure.
//! The plan trusts shard placement, not the settings it wrote.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clients::search::{CatShard, NodeInfo};

/// How the warm step moves an index to warm nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WarmMethod {
    /// Data tiers when a node has the `data_warm` role, else the attribute.
    #[default]
    Auto,
    /// `index.routing.allocation.include._tier_preference: data_warm,data_hot`, as ILM's
    /// migrate action does (Elasticsearch ≥ 7.10 with tier roles).
    Tier,
    /// `index.routing.allocation.require.<warm_attribute>: <warm_value>`.
    Attribute,
}

/// The setting that sends an index to warm nodes, as (key, value).
pub fn warm_setting(method: WarmMethod, attribute: &str, value: &str) -> (String, String) {
    match method {
        WarmMethod::Tier => (TIER_KEY.to_string(), "data_warm,data_hot".to_string()),
        _ => (
            format!("index.routing.allocation.require.{attribute}"),
            value.to_string(),
        ),
    }
}

pub const TIER_KEY: &str = "index.routing.allocation.include._tier_preference";

/// `auto` resolved against the cluster's nodes.
pub fn resolve(method: WarmMethod, nodes: &[NodeInfo]) -> WarmMethod {
    match method {
        WarmMethod::Auto if nodes.iter().any(|n| n.roles.iter().any(|r| r == "data_warm")) => WarmMethod::Tier,
        WarmMethod::Auto => WarmMethod::Attribute,
        other => other,
    }
}

/// Whether shards on `node` are on the warm tier.
pub fn is_warm_node(node: &NodeInfo, method: WarmMethod, attribute: &str, value: &str) -> bool {
    match method {
        WarmMethod::Tier => node.roles.iter().any(|r| r == "data_warm"),
        _ => node.attributes.get(attribute).is_some_and(|v| v == value),
    }
}

/// Where an index asked to be warm actually is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Every shard copy started on warm nodes.
    Warm,
    /// Shards moving (relocating or initializing).
    Warming,
    /// Shards on non-warm nodes and not moving: allocation cannot satisfy the request.
    Stuck,
}

/// The placement of one index from its `_cat/shards` rows and the nodes by name.
pub fn placement(
    shards: &[&CatShard],
    nodes: &BTreeMap<String, NodeInfo>,
    method: WarmMethod,
    attribute: &str,
    value: &str,
) -> Placement {
    let mut all_warm = true;
    for shard in shards {
        match shard.state.as_str() {
            "RELOCATING" | "INITIALIZING" => return Placement::Warming,
            "STARTED" => {
                let on_warm = shard
                    .node
                    .as_deref()
                    .and_then(|name| nodes.get(name))
                    .is_some_and(|node| is_warm_node(node, method, attribute, value));
                all_warm &= on_warm;
            }
            _ => all_warm = false,
        }
    }
    if all_warm && !shards.is_empty() {
        Placement::Warm
    } else {
        Placement::Stuck
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, roles: &[&str], box_type: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            attributes: [("box_type".to_string(), box_type.to_string())].into(),
        }
    }

    fn shard(state: &str, node: &str) -> CatShard {
        CatShard {
            index: "i".into(),
            shard: "0".into(),
            prirep: "p".into(),
            state: state.into(),
            node: Some(node.into()),
        }
    }

    #[test]
    fn auto_uses_tiers_only_when_a_node_has_the_warm_role() {
        let tiers = [
            node("h", &["data_hot", "data_content"], "hot"),
            node("w", &["data_warm"], "warm"),
        ];
        assert_eq!(resolve(WarmMethod::Auto, &tiers), WarmMethod::Tier);
        let plain = [node("a", &["data", "master"], "warm")];
        assert_eq!(resolve(WarmMethod::Auto, &plain), WarmMethod::Attribute);
        assert_eq!(resolve(WarmMethod::Attribute, &tiers), WarmMethod::Attribute);
        assert_eq!(
            warm_setting(WarmMethod::Tier, "box_type", "warm").1,
            "data_warm,data_hot"
        );
        assert_eq!(
            warm_setting(WarmMethod::Attribute, "box_type", "warm").0,
            "index.routing.allocation.require.box_type"
        );
    }

    #[test]
    fn placement_follows_the_shards_not_the_settings() {
        let nodes: BTreeMap<String, NodeInfo> = [
            node("h", &["data_hot", "data_content"], "hot"),
            node("w", &["data_warm"], "warm"),
        ]
        .into_iter()
        .map(|n| (n.name.clone(), n))
        .collect();
        let on = |state: &str, n: &str| shard(state, n);
        let (a, b, c, d) = (
            on("STARTED", "w"),
            on("STARTED", "h"),
            on("RELOCATING", "h"),
            on("UNASSIGNED", ""),
        );
        let p = |shards: &[&CatShard], method| placement(shards, &nodes, method, "box_type", "warm");
        assert_eq!(p(&[&a], WarmMethod::Tier), Placement::Warm);
        assert_eq!(p(&[&a, &b], WarmMethod::Tier), Placement::Stuck);
        assert_eq!(p(&[&a, &c], WarmMethod::Tier), Placement::Warming);
        assert_eq!(p(&[&d], WarmMethod::Attribute), Placement::Stuck);
        assert_eq!(p(&[&b], WarmMethod::Attribute), Placement::Stuck);
        assert_eq!(p(&[&a], WarmMethod::Attribute), Placement::Warm);
        assert_eq!(p(&[], WarmMethod::Attribute), Placement::Stuck);
    }
}
