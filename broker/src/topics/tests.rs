use std::collections::BTreeMap;

use fastport_proto::topic::{Topic, TopicFilter};

use super::TopicIndex;
use crate::clients::{ClientKey, Clients};

fn keys(n: usize) -> Vec<ClientKey> {
    let mut clients = Clients::default();
    (0..n)
        .map(|i| clients.get_or_insert(&format!("c{i}")))
        .collect()
}

fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).expect("a valid filter")
}

fn targets(index: &TopicIndex, topic: &str) -> Vec<ClientKey> {
    let mut out = vec![keys(1)[0]];
    index.targets(&Topic::new(topic).expect("a valid topic"), &mut out);
    out
}

#[test]
fn hash_matches_its_parent_level_and_everything_below() {
    let k = keys(1);
    let mut index = TopicIndex::default();
    index.add(&filter("a/#"), k[0], false);
    for topic in ["a", "a/b", "a/b/c/d"] {
        assert_eq!(targets(&index, topic), k, "{topic}");
    }
    for topic in ["b", "ab", "b/a"] {
        assert!(targets(&index, topic).is_empty(), "{topic}");
    }
}

#[test]
fn plus_matches_exactly_one_level() {
    let k = keys(1);
    let mut index = TopicIndex::default();
    index.add(&filter("a/+/c"), k[0], false);
    assert_eq!(targets(&index, "a/b/c"), k);
    for topic in ["a/c", "a/b/b/c", "a/b", "a/b/c/d"] {
        assert!(targets(&index, topic).is_empty(), "{topic}");
    }
}

#[test]
fn a_leading_wildcard_does_not_match_a_dollar_topic_but_a_dollar_level_does() {
    let k = keys(3);
    let mut index = TopicIndex::default();
    index.add(&filter("#"), k[0], false);
    index.add(&filter("+/uptime"), k[1], false);
    index.add(&filter("$SYS/#"), k[2], false);
    assert_eq!(targets(&index, "$SYS/uptime"), vec![k[2]]);
    assert_eq!(
        targets(&index, "$SYS"),
        vec![k[2]],
        "# includes the parent level"
    );
    assert_eq!(targets(&index, "host/uptime"), vec![k[0], k[1]]);
    // Only the first level counts: `$` further down is an ordinary character.
    assert_eq!(targets(&index, "a/$x"), vec![k[0]]);
}

#[test]
fn a_client_on_several_matching_filters_is_a_target_once_in_key_order() {
    let k = keys(3);
    let mut index = TopicIndex::default();
    for f in ["a/b", "a/+", "+/b", "#", "a/#"] {
        index.add(&filter(f), k[2], false);
        index.add(&filter(f), k[0], true);
    }
    index.add(&filter("+/+"), k[1], false);
    assert_eq!(targets(&index, "a/b"), k);
    assert_eq!(index.len(), 6);
}

#[test]
fn get_finds_each_filter_by_its_text_only() {
    let k = keys(2);
    let mut index = TopicIndex::default();
    index.add(&filter("a/+/#"), k[0], true);
    index.add(&filter("a/+"), k[1], false);
    let clients = |f: &str| {
        index
            .get(f)
            .map(|s| s.clients.clone().into_iter().collect())
    };
    assert_eq!(clients("a/+/#"), Some(vec![(k[0], true)]));
    assert_eq!(clients("a/+"), Some(vec![(k[1], false)]));
    for other in ["a", "a/+/+", "a/#", "a/+/#/b", "a/+/", "+", "#", "a/b"] {
        assert!(index.get(other).is_none(), "{other}");
    }
}

#[test]
fn removing_the_last_subscriber_frees_the_filter_and_its_nodes() {
    let k = keys(2);
    let mut index = TopicIndex::default();
    let filters = ["a/+/c/#", "a/+/c", "a/b/+", "+/#", "#", "x/y/z/+"];
    for f in filters {
        assert!(index.add(&filter(f), k[0], false));
        assert!(!index.add(&filter(f), k[0], true), "already subscribed");
        assert!(index.add(&filter(f), k[1], false));
    }
    assert_eq!(index.len(), filters.len());
    assert!(index.wildcards.count() > 1);
    for f in filters {
        assert!(index.remove(f, k[0]));
        assert!(!index.remove(f, k[0]), "removed already");
    }
    assert_eq!(index.len(), filters.len(), "k[1] still holds them");
    for f in filters {
        assert!(index.remove(f, k[1]));
    }
    assert_eq!(index.len(), 0);
    assert_eq!(index.wildcards.count(), 1, "only the root is left");
    assert!(index.wildcards.is_empty());
}

#[test]
fn a_deep_filter_is_one_edge_and_sharing_a_prefix_splits_it_once() {
    let k = keys(2);
    let mut index = TopicIndex::default();
    let deep = format!("a{}/+", "/b".repeat(61));
    index.add(&filter(&deep), k[0], false);
    assert_eq!(index.wildcards.count(), 2, "the root and the filter's node");
    let shorter = format!("a{}/#", "/b".repeat(30));
    index.add(&filter(&shorter), k[1], false);
    assert_eq!(index.wildcards.count(), 3, "one split node");
    let topic = format!("a{}/c", "/b".repeat(61));
    assert_eq!(targets(&index, &topic), k);
    assert!(index.remove(&shorter, k[1]));
    assert_eq!(index.wildcards.count(), 2, "joined again");
    assert_eq!(targets(&index, &topic), vec![k[0]]);
    assert!(index.remove(&deep, k[0]));
    assert_eq!(index.wildcards.count(), 1);
}

#[test]
fn removing_text_that_is_no_subscribed_filter_changes_nothing() {
    let k = keys(1);
    let mut index = TopicIndex::default();
    index.add(&filter("a/#"), k[0], false);
    index.add(&filter("a/+"), k[0], false);
    let nodes = index.wildcards.count();
    let deep = "+/".repeat(100_000);
    for text in [
        "a/#/b",
        "a/#/",
        "a+",
        "a/+/",
        "a//#",
        "",
        "#/a",
        "a/b#",
        deep.as_str(),
    ] {
        assert!(!index.remove(text, k[0]), "{text:.20}");
        assert!(index.get(text).is_none(), "{text:.20}");
    }
    assert_eq!(index.wildcards.count(), nodes);
    assert_eq!(index.len(), 2);
    assert_eq!(targets(&index, "a/b"), k);
}

/// A small deterministic generator (xorshift64*), so a failure replays from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    fn text(&mut self, levels: &[&str]) -> String {
        let depth = 1 + self.below(6);
        let parts: Vec<&str> = (0..depth)
            .map(|_| levels[self.below(levels.len())])
            .collect();
        parts.join("/")
    }
}

/// Filter levels, invalid ones included (empty, `#` not last, mixed): they must be
/// rejected by `TopicFilter::new` or never found by `remove`.
const FILTER_LEVELS: [&str; 8] = ["a", "b", "c", "$s", "+", "#", "", "a+"];
const TOPIC_LEVELS: [&str; 5] = ["a", "b", "c", "$s", ""];

#[test]
fn the_tree_matches_what_matching_each_filter_one_by_one_does() {
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let k = keys(6);
        let mut index = TopicIndex::default();
        // The model: filter -> client -> presence.
        let mut model: BTreeMap<String, BTreeMap<ClientKey, bool>> = BTreeMap::new();
        for step in 0..600 {
            let client = k[rng.below(k.len())];
            let text = rng.text(&FILTER_LEVELS);
            if rng.below(3) > 0 {
                let Ok(f) = TopicFilter::new(text.as_str()) else {
                    continue;
                };
                let presence = rng.below(2) == 0;
                let subs = model.entry(text.clone()).or_default();
                let new = subs.insert(client, presence).is_none();
                assert_eq!(
                    index.add(&f, client, presence),
                    new,
                    "seed {seed} step {step}"
                );
            } else {
                // Often a filter that is subscribed, sometimes any text.
                let text = match rng.below(2) {
                    0 if !model.is_empty() => {
                        let i = rng.below(model.len());
                        model.keys().nth(i).cloned().unwrap_or(text)
                    }
                    _ => text,
                };
                let removed = model.get_mut(&text).and_then(|s| s.remove(&client));
                if model.get(&text).is_some_and(|s| s.is_empty()) {
                    model.remove(&text);
                }
                assert_eq!(
                    index.remove(&text, client),
                    removed.is_some(),
                    "seed {seed} {text}"
                );
            }
            check(&index, &model, &mut rng, seed);
        }
        for (text, subs) in std::mem::take(&mut model) {
            for client in subs.into_keys() {
                assert!(index.remove(&text, client));
            }
        }
        assert_eq!(index.len(), 0);
        assert_eq!(index.wildcards.count(), 1, "seed {seed}: nodes left behind");
    }
}

fn check(
    index: &TopicIndex,
    model: &BTreeMap<String, BTreeMap<ClientKey, bool>>,
    rng: &mut Rng,
    seed: u64,
) {
    assert_eq!(index.len(), model.len(), "seed {seed}");
    // Every node but the root has subscribers or a branch: at most two nodes a filter.
    let wildcard = model.keys().filter(|f| filter(f).has_wildcards()).count();
    assert!(index.wildcards.count() <= 1 + 2 * wildcard, "seed {seed}");
    assert!(index.wildcards.compact(), "seed {seed}");
    for (text, subs) in model {
        let got = index.get(text).map(|s| &s.clients);
        assert_eq!(got, Some(subs), "seed {seed} {text}");
    }
    let mut out = Vec::new();
    for _ in 0..8 {
        let Ok(topic) = Topic::new(rng.text(&TOPIC_LEVELS)) else {
            continue;
        };
        let mut want: Vec<ClientKey> = model
            .iter()
            .filter(|(text, _)| filter(text).matches(&topic))
            .flat_map(|(_, subs)| subs.keys().copied())
            .collect();
        want.sort_unstable();
        want.dedup();
        index.targets(&topic, &mut out);
        assert_eq!(out, want, "seed {seed} topic {}", topic.as_str());
    }
}
