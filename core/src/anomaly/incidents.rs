//! Incidents: related anomalies as one row. Two anomalies are related when they come from the
//! same batch, happened within `window` of each other, or lie on one lineage chain (one table
//! feeds the other, directly or not) within `lineage_window`. Relation is transitive (union-find).
//! The probable root cause of an incident is its most upstream anomaly (fewest lineage steps from
//! a source; then the earliest; then the highest score), and its severity the highest of its
//! anomalies.
use std::collections::{HashMap, HashSet};

use super::Severity;

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: i64,
    /// The table (an oid, or any identifier the lineage edges use).
    pub table: u32,
    pub batch: Option<i64>,
    /// Seconds.
    pub at: i64,
    pub severity: Severity,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Indices into the items, in order.
    pub members: Vec<usize>,
    pub root: usize,
    pub severity: Severity,
}

/// Steps from the nearest source to each table of `edges` (upstream, downstream).
pub fn depths(edges: &[(u32, u32)]) -> HashMap<u32, usize> {
    let mut parents: HashMap<u32, Vec<u32>> = HashMap::new();
    for (u, d) in edges {
        parents.entry(*d).or_default().push(*u);
        parents.entry(*u).or_default();
    }
    fn depth(t: u32, parents: &HashMap<u32, Vec<u32>>, memo: &mut HashMap<u32, usize>, path: &mut HashSet<u32>) -> usize {
        if let Some(d) = memo.get(&t) {
            return *d;
        }
        if !path.insert(t) {
            return 0; // a cycle: stop
        }
        let d = parents.get(&t).map(|ps| ps.iter().map(|p| depth(*p, parents, memo, path) + 1).min().unwrap_or(0)).unwrap_or(0);
        path.remove(&t);
        memo.insert(t, d);
        d
    }
    let mut memo = HashMap::new();
    for t in parents.keys().copied().collect::<Vec<_>>() {
        depth(t, &parents, &mut memo, &mut HashSet::new());
    }
    memo
}

/// Pairs of tables on one lineage chain (either direction), from the edges.
fn chained(edges: &[(u32, u32)]) -> HashSet<(u32, u32)> {
    let mut down: HashMap<u32, Vec<u32>> = HashMap::new();
    for (u, d) in edges {
        down.entry(*u).or_default().push(*d);
    }
    let mut pairs = HashSet::new();
    for start in down.keys().copied().collect::<Vec<_>>() {
        let mut stack = vec![start];
        let mut seen = HashSet::new();
        while let Some(t) = stack.pop() {
            for n in down.get(&t).into_iter().flatten() {
                if seen.insert(*n) {
                    pairs.insert((start, *n));
                    pairs.insert((*n, start));
                    stack.push(*n);
                }
            }
        }
    }
    pairs
}

pub fn group(items: &[Item], edges: &[(u32, u32)], window: i64, lineage_window: i64) -> Vec<Incident> {
    let n = items.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while p[r] != r {
            r = p[r];
        }
        let mut i = i;
        while p[i] != r {
            let next = p[i];
            p[i] = r;
            i = next;
        }
        r
    }
    let chain = chained(edges);
    for i in 0..n {
        for j in (i + 1)..n {
            let (a, b) = (&items[i], &items[j]);
            let dt = (a.at - b.at).abs();
            let related = (a.batch.is_some() && a.batch == b.batch && a.table == b.table)
                || dt <= window
                || (dt <= lineage_window && (a.table == b.table || chain.contains(&(a.table, b.table))));
            if related {
                let (ra, rb) = (find(&mut parent, i), find(&mut parent, j));
                if ra != rb {
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
        }
    }
    let depth = depths(edges);
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut slot: HashMap<usize, usize> = HashMap::new();
    for i in 0..n {
        let r = find(&mut parent, i);
        let g = *slot.entry(r).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
        .into_iter()
        .map(|members| {
            let root = *members
                .iter()
                .min_by(|x, y| {
                    let (a, b) = (&items[**x], &items[**y]);
                    let (da, db) = (depth.get(&a.table).copied().unwrap_or(0), depth.get(&b.table).copied().unwrap_or(0));
                    da.cmp(&db).then(a.at.cmp(&b.at)).then(b.score.total_cmp(&a.score))
                })
                .expect("a group has members");
            let severity = members.iter().map(|m| items[*m].severity).max().expect("members");
            Incident { members, root, severity }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: i64, table: u32, batch: Option<i64>, at: i64, severity: Severity) -> Item {
        Item { id, table, batch, at, severity, score: 1.0 }
    }

    #[test]
    fn a_lineage_chain_is_one_incident_rooted_upstream() {
        // bronze 1 -> silver 2 -> gold 3; an unrelated table 9 much later.
        let edges = [(1, 2), (2, 3)];
        let items = [
            item(10, 3, None, 1_000, Severity::High),
            item(11, 2, Some(5), 900, Severity::Low),
            item(12, 1, Some(5), 950, Severity::Medium),
            item(13, 9, None, 100_000, Severity::Low),
        ];
        let g = group(&items, &edges, 60, 3600);
        assert_eq!(g.len(), 2);
        let big = g.iter().find(|i| i.members.len() == 3).unwrap();
        assert_eq!(items[big.root].id, 12, "the bronze anomaly is the most upstream");
        assert_eq!(big.severity, Severity::High);
        assert_eq!(g.iter().find(|i| i.members.len() == 1).unwrap().severity, Severity::Low);
    }

    #[test]
    fn same_time_groups_and_distance_separates() {
        let items = [item(1, 1, None, 0, Severity::Low), item(2, 2, None, 30, Severity::Low), item(3, 2, None, 10_000, Severity::Low)];
        let g = group(&items, &[], 60, 3600);
        assert_eq!(g.iter().map(|i| i.members.len()).collect::<Vec<_>>(), [2, 1]);
        assert!(group(&[], &[], 60, 3600).is_empty());
    }

    #[test]
    fn depths_follow_the_shortest_path_and_survive_cycles() {
        let d = depths(&[(1, 2), (2, 3), (1, 3), (4, 4)]);
        assert_eq!((d[&1], d[&2], d[&3]), (0, 1, 1));
        assert!(d.contains_key(&4));
    }
}
