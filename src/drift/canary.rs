//! The canary: judges an applied heal by the first batch promoted after it, and reverts it when
//! it made things worse.

use super::*;

pub(super) fn quality(silver: pg_sys::Oid) -> Option<f64> {
    Spi::get_one_with_args::<f64>(
        "SELECT avg(q.score)::float8 FROM eai.quality_score($1::regclass) q WHERE q.dimension = 'validity'",
        &[silver.into()],
    )
    .ok()
    .flatten()
}

/// Judges applied heals by the first batch promoted after them.
pub(super) fn check_canaries(s: &Shape) -> i64 {
    let pending: Vec<(i64, i64, Option<f64>)> = spi(
        "read pending canaries",
        Spi::connect(|c| {
            c.select(
                "SELECT remediation_id, after_promotion, (before ->> 'quality')::float8 FROM eai.remediations
                  WHERE pipeline_id = $1 AND status = 'applied' AND canary = 'pending' ORDER BY remediation_id",
                None,
                &[s.id.into()],
            )?
            .map(|r| Ok((r.get(1)?.unwrap_or(0), r.get(2)?.unwrap_or(0), r.get(3)?)))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        }),
    );
    let mut judged = 0;
    for (id, after, quality_before) in pending {
        let first = spi(
            "read the first promotion after a heal",
            Spi::get_two_with_args::<i64, i64>(
                "SELECT p.rows_read, p.rows_quarantined FROM (SELECT 1) one LEFT JOIN LATERAL (
                   SELECT rows_read, rows_quarantined FROM eai.promotions WHERE pipeline_id = $1 AND promotion_id > $2 AND rows_read > 0
                    ORDER BY promotion_id LIMIT 1) p ON true",
                &[s.id.into(), after.into()],
            ),
        );
        let (Some(read), Some(quarantined)) = first else { continue };
        let baseline = spi(
            "read the usual quarantine share",
            Spi::get_one_with_args::<f64>(
                "SELECT coalesce(avg(rows_quarantined::float8 / rows_read), 0)::float8 FROM (
                   SELECT rows_read, rows_quarantined FROM eai.promotions WHERE pipeline_id = $1 AND promotion_id <= $2 AND rows_read > 0
                    ORDER BY promotion_id DESC LIMIT 5) p",
                &[s.id.into(), after.into()],
            ),
        )
        .unwrap_or(0.0);
        let observed = quarantined as f64 / read.max(1) as f64;
        judged += 1;
        match sd::canary(baseline, observed, quality_before, quality(s.silver), guc::canary_max_drop()) {
            Ok(detail) => set(id, json!({"canary": "passed", "canary_detail": detail})),
            Err(why) => {
                let reverted = revert(id, "eai (canary)");
                set(id, json!({"canary": "failed", "canary_detail": why}));
                escalate(
                    id,
                    "remediation_failed",
                    "high",
                    &format!("remediation {id} of pipeline {} made things worse and was reverted", s.name),
                    &match reverted {
                        Ok(()) => why.clone(),
                        Err(e) => format!("{why}; the revert failed: {e}"),
                    },
                    // safe: text for a person to read (to_run), never run by eai; only an integer in it.
                    &format!("SELECT * FROM eai.remediations WHERE remediation_id = {id};"), // safe: an integer, in text for a person
                );
            }
        }
    }
    judged
}
