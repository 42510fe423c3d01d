//! The Cron Trigger's work (wrangler.toml `[triggers]`): every registry
//! shard's sweep — retention deletes in batches, expiry notices due, and
//! (on the hub) deliveries the queue lost.

use worker::Env;

use crate::objects::client;
use crate::runtime::isolate;

/// The Cron Trigger (wrangler.toml `[triggers]`): old audit entries and
/// deliveries deleted, expiry notices due, deliveries the queue lost
/// queued again.
pub async fn sweep(env: Env) {
    // A fresh isolate: the configuration sets the clock's test offset.
    let shards = match isolate::config(&env) {
        Ok(config) => config.registry_shards,
        Err(e) => {
            worker::console_error!("sweep skipped: {e:?}");
            return;
        }
    };
    match client::sweep(&env, shards).await {
        Ok((notices, requeued)) => {
            if notices > 0 || requeued > 0 {
                worker::console_log!(
                    "webhook sweep: {notices} expiry events, {requeued} deliveries queued again"
                );
            }
        }
        Err(e) => worker::console_error!("webhook sweep failed: {e:?}"),
    }
}
