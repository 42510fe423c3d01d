//! Header changes decided before the headers they go on exist: the
//! forwarded request's (the key header out, the key's identity in) and
//! the answer's (rate-limit and CORS headers). The Worker applies them to
//! its own responses, and hands them to `forward.js` as
//! [`HeaderEdits::text`] for an origin's (one crossing into JavaScript
//! instead of one per header).

use crate::limits::credits::Credits;
use crate::limits::{fields, Holder, Quota};
use crate::policy::cors::{self, WebOrigin};
use crate::time::Timestamp;

/// Response headers a browser script may read.
const EXPOSED: &str = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, RateLimit, RateLimit-Policy, Retry-After, X-Keygate-Key-Expires";

/// Header changes, applied in field order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    /// Headers to remove, by name.
    pub delete: Vec<String>,
    /// Remove every header whose (lowercase) name starts with this.
    pub strip_prefix: Option<&'static str>,
    /// Headers to add, keeping any of the same name.
    pub append: Vec<(&'static str, String)>,
    /// Headers to set, replacing any of the same name.
    pub set: Vec<(&'static str, String)>,
}

impl HeaderEdits {
    /// Sets `name` to `value`.
    pub fn set(&mut self, name: &'static str, value: impl Into<String>) {
        self.set.push((name, value.into()));
    }

    /// `X-RateLimit-Limit`, `-Remaining` and `-Reset` (Unix seconds) and
    /// the IETF `RateLimit` for `binding`, the limit that binds first (or
    /// refused); `RateLimit-Policy` lists `all` the key's limits, if given,
    /// and the `credits` of the key and of its owner, if they have them.
    pub fn rate_limit(
        &mut self,
        binding: &Quota,
        all: &[Quota],
        credits: [Option<&Credits>; 2],
        now: Timestamp,
    ) {
        self.set("X-RateLimit-Limit", binding.limit.to_string());
        self.set("X-RateLimit-Remaining", binding.remaining.to_string());
        self.set(
            "X-RateLimit-Reset",
            binding.reset.as_secs_ceil().to_string(),
        );
        self.set("RateLimit", fields::ratelimit(binding, now));
        if !all.is_empty() {
            let mut policy = fields::policy(all);
            let holders = [Holder::Key, Holder::Owner];
            for (credits, holder) in credits.into_iter().zip(holders) {
                if let Some(credits) = credits {
                    policy.push_str(", ");
                    policy.push_str(&fields::credits(credits, holder));
                }
            }
            self.set("RateLimit-Policy", policy);
        }
    }

    /// keygate's CORS decision for a key with `allowed` origins, on any
    /// answer about that key (success or refusal): the origin's own
    /// `Access-Control-*` headers are dropped, and a listed `browser_origin`
    /// may read the answer, rate-limit headers and `Retry-After` included.
    pub fn cors(&mut self, allowed: &[WebOrigin], browser_origin: Option<&str>) {
        if allowed.is_empty() {
            return;
        }
        self.strip_prefix = Some("access-control-");
        self.append.push(("Vary", "Origin".into()));
        if let Some(origin) = browser_origin.filter(|o| cors::is_allowed(allowed, o)) {
            self.set("Access-Control-Allow-Origin", origin);
            self.set("Access-Control-Expose-Headers", EXPOSED);
        }
    }

    /// The edits as `forward.js` applies them, one per line, in field
    /// order: `-name` deletes, `*prefix` deletes every header whose name
    /// starts with it, `+name<TAB>value` appends, `=name<TAB>value` sets.
    /// (Header names hold neither tabs nor line breaks, values no line
    /// breaks: the runtime refuses them.)
    pub fn text(&self) -> String {
        let mut text = String::with_capacity(256);
        let mut line = |op: char, name: &str, value: Option<&str>| {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push(op);
            text.push_str(name);
            if let Some(value) = value {
                text.push('\t');
                text.push_str(value);
            }
        };
        for name in &self.delete {
            line('-', name, None);
        }
        if let Some(prefix) = self.strip_prefix {
            line('*', prefix, None);
        }
        for (name, value) in &self.append {
            line('+', name, Some(value));
        }
        for (name, value) in &self.set {
            line('=', name, Some(value));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_lists_every_edit_in_field_order() {
        let mut edits = HeaderEdits::default();
        edits
            .delete
            .extend(["Host".to_owned(), "X-API-Key".to_owned()]);
        edits.set("X-Keygate-Key-Id", "key_1");
        edits.cors(
            &[WebOrigin::try_from("https://app.example".to_owned()).expect("origin")],
            Some("https://app.example"),
        );
        assert_eq!(
            edits.text(),
            "-Host\n-X-API-Key\n*access-control-\n+Vary\tOrigin\n=X-Keygate-Key-Id\tkey_1\n\
             =Access-Control-Allow-Origin\thttps://app.example\n\
             =Access-Control-Expose-Headers\t"
                .to_owned()
                + EXPOSED
        );
    }

    #[test]
    fn no_edits_is_empty_text_and_a_value_keeps_its_tabs() {
        assert_eq!(HeaderEdits::default().text(), "");
        let mut edits = HeaderEdits::default();
        edits.set("X-A", "a\tb");
        assert_eq!(edits.text(), "=X-A\ta\tb");
    }

    #[test]
    fn a_browser_origin_the_key_does_not_list_reads_nothing() {
        let mut edits = HeaderEdits::default();
        edits.cors(
            &[WebOrigin::try_from("https://app.example".to_owned()).expect("origin")],
            Some("https://evil.example"),
        );
        assert_eq!(edits.text(), "*access-control-\n+Vary\tOrigin");
    }
}
