//! The webhook admin routes (see [`keygate_core::webhook`]): the registry
//! checks, stores and answers; the answer is passed on as it is.

use worker::{web_sys, Env};

use super::Handled;
use crate::objects::client;
use crate::objects::registry::WEBHOOK_QUEUE;
use crate::runtime::http;
use keygate_core::admin::WebhookRoute;
use keygate_core::error::Error;
use keygate_core::policy::actor::Actor;
use keygate_core::registry::command::WebhookAction;

/// Runs a webhook route for `actor` (the admin token only: the registry
/// command cannot be made without the deployment permit). The registry
/// checks, stores and answers; the answer is passed on as it is.
pub async fn handle(
    route: WebhookRoute,
    req: &web_sys::Request,
    env: &Env,
    actor: &Actor,
) -> Handled {
    let permit = actor.deployment_permit()?;
    let action = match route {
        WebhookRoute::Create => {
            if env.queue(WEBHOOK_QUEUE).is_err() {
                worker::console_error!(
                    "webhooks need the {WEBHOOK_QUEUE} queue bound (wrangler.toml)"
                );
                return Err(Error::MISCONFIGURED);
            }
            WebhookAction::Create {
                body: super::read_text(req).await?,
            }
        }
        WebhookRoute::List => WebhookAction::List,
        WebhookRoute::Get(id) => WebhookAction::Get { id },
        WebhookRoute::Delete(id) => WebhookAction::Delete { id },
        WebhookRoute::Test(id) => WebhookAction::Test { id },
        WebhookRoute::Deliveries(id) => WebhookAction::Deliveries { id },
    };
    let (status, body) = client::webhooks(env, action, permit).await?;
    http::reply_text(status, body)
}
