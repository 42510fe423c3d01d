//! The admin API's pure parts: which route a request names, what its body
//! says, and who presents it. The edge (`edge::admin`) runs the handlers.
//!
//! # Layout
//!
//! - [`route`]: the route table (`AdminRoute`, `match_route`).
//! - [`body`]: decoding request bodies, with a 422 that names the field.
//! - [`token`]: the admin token's length rule and constant-time check.
//! - [`session`]: the dashboard's signed session cookie and the
//!   same-origin rule for requests that carry it.

pub mod body;
pub mod route;
pub mod session;
pub mod token;

pub use body::{not_null, parse_body, whole, MAX_BODY_BYTES};
pub use route::{match_route, AdminRoute, OwnerMethod, Page, SessionMethod, WebhookRoute};
pub use token::{check_admin_token, configured_token, MIN_ADMIN_TOKEN_CHARS};

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/_keygate";

    proptest::proptest! {
        #[test]
        fn fuzz_admin_routes_and_bodies(path in "(/[a-z0-9_.-]{0,10}){0,5}", body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            for method in ["GET", "POST", "PATCH", "DELETE", "PUT"] {
                let _ = match_route(P, method, &format!("{P}{path}"));
            }
            if let Err(e) = parse_body::<crate::lifecycle::request::NewKey>(&body) {
                proptest::prop_assert!(matches!(e.status(), 400 | 413 | 422));
            }
        }
    }
}
