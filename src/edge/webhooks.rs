//! Webhooks at the edge (see [`crate::webhook`]): the admin routes, the
//! queue consumer that makes each delivery attempt, and the Cron Trigger
//! that sweeps for expiry notices and lost deliveries.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    event, js_sys, web_sys, Context, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder,
    Response, ScheduleContext, ScheduledEvent,
};

use super::registry_object::WEBHOOK_QUEUE;
use super::{http, store};
use crate::admin::WebhookRoute;
use crate::error::Error;
use crate::lifecycle::registry::{RegistryCommand, RegistryReply, WebhookAction};
use crate::policy::actor::Actor;
use crate::webhook::delivery::{Attempt, Next, TIMEOUT_MS};
use crate::webhook::sign::WebhookSecret;

#[wasm_bindgen(module = "/src/edge/deliver.js")]
extern "C" {
    /// See `deliver.js`: resolves with the endpoint's status.
    #[wasm_bindgen(js_name = post)]
    fn post_js(
        url: &str,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &str,
        timeout_ms: f64,
    ) -> js_sys::Promise;
}

/// Runs a webhook route for `actor` (the admin token only: the registry
/// command cannot be made without the deployment permit). The registry
/// checks, stores and answers; the answer is passed on as it is.
pub async fn handle(
    route: WebhookRoute,
    req: &web_sys::Request,
    env: &Env,
    actor: &Actor,
) -> Result<worker::Result<Response>, Error> {
    let permit = actor.deployment_permit()?;
    let action = match route {
        WebhookRoute::Create => {
            if env.queue(WEBHOOK_QUEUE).is_err() {
                worker::console_error!(
                    "webhooks need the {WEBHOOK_QUEUE} queue bound (wrangler.toml)"
                );
                return Err(Error::Misconfigured);
            }
            WebhookAction::Create {
                body: super::admin::read_text(req).await?,
            }
        }
        WebhookRoute::List => WebhookAction::List,
        WebhookRoute::Get(id) => WebhookAction::Get { id },
        WebhookRoute::Delete(id) => WebhookAction::Delete { id },
        WebhookRoute::Test(id) => WebhookAction::Test { id },
        WebhookRoute::Deliveries(id) => WebhookAction::Deliveries { id },
    };
    match store::registry(env, &RegistryCommand::Webhooks { action, permit }).await? {
        RegistryReply::Answer { status, body } => Ok(http::json_text(status, body)),
        RegistryReply::Refused { error } => Err(error),
        _ => Err(Error::Internal),
    }
}

/// The `WEBHOOKS` queue's consumer: each message is a delivery's id. An
/// attempt is claimed from the registry, signed, sent and reported; the
/// registry's schedule says whether the message is retried, and when.
/// Messages are handled one by one: a batch is small, and an endpoint
/// that hangs costs at most [`TIMEOUT_MS`].
#[event(queue)]
pub async fn queue(batch: MessageBatch<f64>, env: Env, _ctx: Context) -> worker::Result<()> {
    let retries = match super::config(&env) {
        Ok(config) => config.webhook_retries.clone(),
        Err(_) => {
            // Nothing can be judged: every message waits for a fixed config.
            batch.retry_all();
            return Ok(());
        }
    };
    for message in batch.raw_iter() {
        let Some(delivery) = message.body().as_f64().map(|id| id as u64) else {
            message.ack();
            continue;
        };
        match attempt(&env, delivery, &retries).await {
            Ok(Next::RetryIn(secs)) => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(secs)
                    .build(),
            ),
            Ok(Next::Delivered | Next::DeadLetter) => message.ack(),
            Err(e) => {
                // The registry did not answer: try the whole step again.
                worker::console_error!("webhook delivery {delivery}: {e:?}");
                message.retry();
            }
        }
    }
    Ok(())
}

/// One attempt at `delivery`; what follows it.
async fn attempt(
    env: &Env,
    delivery: u64,
    retries: &crate::webhook::delivery::Schedule,
) -> Result<Next, Error> {
    let claimed = store::registry(env, &RegistryCommand::Claim { delivery }).await?;
    let RegistryReply::Claimed { outgoing } = claimed else {
        return Err(Error::Internal);
    };
    // Delivered already, or its endpoint was deleted.
    let Some(out) = outgoing else {
        return Ok(Next::Delivered);
    };
    let secret = WebhookSecret::from_hex(&out.secret).ok_or(Error::Internal)?;
    let at = http::now();
    let timestamp = at.as_secs();
    let signature = secret.sign(&out.event_id, timestamp, &out.payload);
    let sent = JsFuture::from(post_js(
        &out.url,
        &out.event_id,
        &timestamp.to_string(),
        &signature,
        &out.payload,
        TIMEOUT_MS as f64,
    ))
    .await;
    let failure = |e: JsValue| e.as_string().unwrap_or_else(|| "network_error".to_owned());
    let answer = match &sent {
        Ok(status) => Ok(status.as_f64().unwrap_or(0.0) as u16),
        Err(e) => Err(failure(e.clone())),
    };
    let took = http::now().as_millis().saturating_sub(at.as_millis());
    let attempt = Attempt::of(
        at,
        answer.as_ref().map(|s| *s).map_err(String::as_str),
        took,
    );
    let next = retries.next(out.attempt, attempt.succeeded());
    let report = RegistryCommand::Attempted {
        delivery,
        number: out.attempt,
        attempt,
        next,
    };
    match store::registry(env, &report).await? {
        RegistryReply::Done => Ok(next),
        // Another copy of this message made this attempt first: its chain
        // goes on, this one ends.
        RegistryReply::Refused { .. } => Ok(Next::Delivered),
        _ => Err(Error::Internal),
    }
}

/// The Cron Trigger (wrangler.toml `[triggers]`): expiry notices due, and
/// deliveries the queue lost queued again.
#[event(scheduled)]
pub async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    // A fresh isolate: the configuration sets the clock's test offset.
    super::config(&env).ok();
    match store::registry(&env, &RegistryCommand::Sweep).await {
        Ok(RegistryReply::Swept { notices, requeued }) => {
            if notices > 0 || requeued > 0 {
                worker::console_log!(
                    "webhook sweep: {notices} expiry events, {requeued} deliveries queued again"
                );
            }
        }
        other => worker::console_error!("webhook sweep failed: {other:?}"),
    }
}
