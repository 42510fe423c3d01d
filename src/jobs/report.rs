//! The `REPORTS` queue's consumer: isolates' usage batches (see
//! [`keygate_core::analytics::overall`]) added into the registry shards —
//! a whole queue batch at once, one call per shard whatever the number of
//! keys or isolates in it. A shard that cannot take its part gets it back
//! on the queue as a message of its own, so the shards that did are not
//! counted twice; only when that fails too is the batch retried whole.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use worker::{Env, MessageBatch};

use crate::api::telemetry::{queue_reports, REPORTS_QUEUE};
use crate::objects::client;
use keygate_core::analytics::overall::UsageReport;
use keygate_core::registry::shard::Shard;

/// Whether `batch` holds usage reports (JSON text) rather than webhook
/// deliveries (numbers): the two queues share the Worker's `queue` export.
pub fn holds_reports(batch: &MessageBatch<f64>) -> bool {
    batch.raw_iter().any(|m| m.body().is_string())
}

/// Adds every report in `batch` to the shards.
pub async fn consume(batch: MessageBatch<f64>, env: Env) -> worker::Result<()> {
    let mut parts: BTreeMap<Shard, UsageReport> = BTreeMap::new();
    for message in batch.raw_iter() {
        let report = message
            .body()
            .as_string()
            .and_then(|text| serde_json::from_str::<UsageReport>(&text).ok());
        // Not a report this release reads: nothing to add, and retrying it
        // would not change that.
        let Some(report) = report else {
            worker::console_error!("usage report unreadable: dropped");
            continue;
        };
        for (shard, part) in report.by_shard() {
            parts.entry(shard).or_default().absorb(part);
        }
    }
    let env = &env;
    let sent = join_all(parts.into_iter().map(|(shard, part)| async move {
        match client::report(env, shard, part.clone()).await {
            Ok(()) => None,
            Err(e) => {
                worker::console_error!("usage report for shard {shard} failed: {e:?}");
                Some(part)
            }
        }
    }))
    .await;
    let failed: Vec<UsageReport> = sent.into_iter().flatten().collect();
    let requeued = match failed.is_empty() {
        true => Ok(()),
        false => match env.queue(REPORTS_QUEUE) {
            Ok(queue) => queue_reports(&queue, failed).await,
            Err(e) => Err(e),
        },
    };
    if requeued.is_err() {
        batch.retry_all();
        return Ok(());
    }
    batch.ack_all();
    Ok(())
}
