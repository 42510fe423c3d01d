//! The `WEBHOOKS` queue's consumer: each message is one delivery's id; an
//! attempt is claimed from the registry, signed (Standard Webhooks), POSTed
//! by `deliver.js` and reported back, and the registry's schedule says
//! whether the message is retried, and when.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder};

use crate::objects::client;
use crate::runtime::{http, isolate};
use keygate_core::error::Error;
use keygate_core::registry::command::HubCommand;
use keygate_core::webhook::delivery::{Attempt, Next, TIMEOUT_MS};
use keygate_core::webhook::sign::WebhookSecret;

#[wasm_bindgen(module = "/src/jobs/deliver.js")]
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

/// The `WEBHOOKS` queue's consumer: each message is a delivery's id. An
/// attempt is claimed from the registry, signed, sent and reported; the
/// registry's schedule says whether the message is retried, and when.
/// Messages are handled one by one: a batch is small, and an endpoint
/// that hangs costs at most [`TIMEOUT_MS`].
pub async fn consume(batch: MessageBatch<f64>, env: Env) -> worker::Result<()> {
    let retries = match isolate::config(&env) {
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
    retries: &keygate_core::webhook::delivery::Schedule,
) -> Result<Next, Error> {
    // Delivered already, or its endpoint was deleted.
    let Some(out) = client::claim(env, delivery).await? else {
        return Ok(Next::Delivered);
    };
    let secret = WebhookSecret::from_hex(&out.secret).ok_or(Error::INTERNAL)?;
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
    let report = HubCommand::Attempted {
        delivery,
        number: out.attempt,
        attempt,
        next,
    };
    if client::attempted(env, report).await? {
        Ok(next)
    } else {
        // Another copy of this message made this attempt first: its chain
        // goes on, this one ends.
        Ok(Next::Delivered)
    }
}
