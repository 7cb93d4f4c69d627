//! A pipeline as the schema heal sees it: its bronze, silver and staging foreign tables, their
//! columns, and which bronze column feeds which silver column.

use super::*;

pub(super) struct Shape {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) bronze: pg_sys::Oid,
    pub(super) silver: pg_sys::Oid,
    pub(super) dedup_key: Vec<String>,
    pub(super) foreign: pg_sys::Oid,
}

#[derive(Debug, Clone)]
pub(super) struct Col {
    pub(super) name: String,
    pub(super) ty: String,
}

/// A pipeline, with the staging foreign table its bronze table is ingested from (`foreign`:
/// None for a bronze table no source feeds), whether it is enabled and its silver table exists.
pub(super) fn pipeline_shape(pipeline: i64) -> Option<(Shape, Option<pg_sys::Oid>, bool)> {
    Spi::connect(|c| {
        let mut rows = c.select(
            "SELECT p.name, p.source_relid, p.target_relid, p.dedup_key,
                    to_regclass(format('%I.%I', s.staging_schema, st.foreign_table))::oid,
                    p.enabled AND to_regclass(p.target_table) IS NOT NULL
               FROM eai.pipelines p
               LEFT JOIN eai.source_tables st ON to_regclass(format('bronze.%I', st.bronze_table)) = p.source_relid::regclass
               LEFT JOIN eai.sources s ON s.source = st.source
              WHERE p.pipeline_id = $1",
            Some(1),
            &[pipeline.into()],
        )?;
        Ok::<_, pgrx::spi::Error>(rows.next().map(|r| {
            let foreign: Option<pg_sys::Oid> = r.get(5).ok().flatten();
            let shape = Shape {
                id: pipeline,
                name: r.get(1).ok().flatten().unwrap_or_default(),
                bronze: r.get(2).ok().flatten().unwrap_or(pg_sys::InvalidOid),
                silver: r.get(3).ok().flatten().unwrap_or(pg_sys::InvalidOid),
                dedup_key: r.get(4).ok().flatten().unwrap_or_default(),
                foreign: foreign.unwrap_or(pg_sys::InvalidOid),
            };
            (shape, foreign, r.get::<bool>(6).ok().flatten().unwrap_or(false))
        }))
    })
    .ok()
    .flatten()
}

/// The pipeline whose source is watched for drift: enabled, its silver table there, its bronze
/// table fed by a source.
pub(super) fn shape(pipeline: i64) -> Option<Shape> {
    pipeline_shape(pipeline).filter(|(_, foreign, live)| foreign.is_some() && *live).map(|(s, _, _)| s)
}

/// Any pipeline (applying and reverting need no foreign table).
pub(super) fn shape_any(pipeline: i64) -> Option<Shape> {
    pipeline_shape(pipeline).map(|(s, _, _)| s)
}

pub(super) fn columns(rel: pg_sys::Oid) -> Vec<Col> {
    spi(
        "read a table's columns",
        Spi::connect(|c| {
            c.select(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                  WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT LIKE '\\_eai\\_%' ORDER BY a.attnum",
                None,
                &[rel.into()],
            )?
            .map(|r| Ok(Col { name: r.get(1)?.unwrap_or_default(), ty: r.get(2)?.unwrap_or_default() }))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        }),
    )
}

/// (silver column, bronze column feeding it, silver type).
pub(super) fn mapped(pipeline: i64) -> Vec<(String, Option<String>, String)> {
    spi(
        "read a pipeline's columns",
        Spi::connect(|c| {
            c.select(
                "SELECT pc.target_column, pc.source_column, format_type(a.atttypid, a.atttypmod)
                   FROM eai.pipeline_columns pc JOIN eai.pipelines p USING (pipeline_id)
                   JOIN pg_attribute a ON a.attrelid = p.target_relid AND a.attname = pc.target_column AND NOT a.attisdropped
                  WHERE pc.pipeline_id = $1 ORDER BY a.attnum",
                None,
                &[pipeline.into()],
            )?
            .map(|r| Ok((r.get(1)?.unwrap_or_default(), r.get(2)?, r.get(3)?.unwrap_or_default())))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        }),
    )
}
