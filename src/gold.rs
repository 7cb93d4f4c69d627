//! Glue for gold tables (sql/gold.sql): the column lineage of a gold table's definition view,
//! read from its rewrite rule by `eai_core::node_tree`.

use eai_core::node_tree;
use pgrx::prelude::*;

use crate::errors::EaiError;

/// For each output column of `view`, the table columns it is computed from; plus, with a NULL
/// column name, the columns the query only reads (joins, filters, grouping).
#[pg_extern(stable, parallel_safe)]
fn _view_lineage(
    view: pg_sys::Oid,
) -> TableIterator<'static, (name!(column_name, Option<String>), name!(input_relid, pg_sys::Oid), name!(input_column, String))> {
    let rows: Vec<(Option<String>, pg_sys::Oid, String)> = Spi::connect(|client| {
        let action: Option<String> = client
            .select("SELECT ev_action::text FROM pg_rewrite WHERE ev_class = $1 AND rulename = '_RETURN'", Some(1), &[view.into()])?
            .first()
            .get(1)?;
        let Some(action) = action else { return Ok(Vec::new()) };
        let tree = node_tree::parse(&action)
            .unwrap_or_else(|e| EaiError::catalog("read the definition of a gold view", format!("view {}: {e}", u32::from(view))).report());
        let query = match &tree {
            node_tree::Node::List(items) => items.first().cloned().unwrap_or(node_tree::Node::Null),
            other => other.clone(),
        };
        let itself = u32::from(view);
        let mut out: Vec<(Option<String>, u32, i16)> = Vec::new();
        let mut used = std::collections::BTreeSet::new();
        for (column, inputs) in node_tree::query_lineage(&query, itself) {
            for (rel, att) in inputs {
                used.insert((rel, att));
                out.push((Some(column.clone()), rel, att));
            }
        }
        for (rel, att) in node_tree::query_inputs(&query, itself) {
            if !used.contains(&(rel, att)) {
                out.push((None, rel, att));
            }
        }
        let mut named = Vec::with_capacity(out.len());
        for (column, rel, att) in out {
            let name: Option<String> = client
                .select(
                    "SELECT attname::text FROM pg_attribute WHERE attrelid = $1 AND attnum = $2 AND NOT attisdropped",
                    Some(1),
                    &[pg_sys::Oid::from(rel).into(), att.into()],
                )?
                .first()
                .get(1)?;
            if let Some(name) = name {
                named.push((column, pg_sys::Oid::from(rel), name));
            }
        }
        Ok::<_, pgrx::spi::Error>(named)
    })
    .unwrap_or_else(|e| EaiError::catalog("read a gold view", format!("view {}: {e}", u32::from(view))).report());
    TableIterator::new(rows)
}
