//! The Cron Trigger's work (wrangler.toml `[triggers]`): the registry's
//! sweep for expiry notices due and for deliveries the queue lost.

use worker::Env;

use crate::objects::client;
use crate::runtime::isolate;

/// The Cron Trigger (wrangler.toml `[triggers]`): expiry notices due, and
/// deliveries the queue lost queued again.
pub async fn sweep(env: Env) {
    // A fresh isolate: the configuration sets the clock's test offset.
    isolate::config(&env).ok();
    match client::sweep(&env).await {
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
