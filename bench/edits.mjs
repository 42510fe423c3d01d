// The bare proxy plus the forwarding work keygate must do for every
// admitted request, in plain JavaScript and with no key check at all: copy
// the client's headers, drop the credential, add the identity headers, time
// the origin out, and label the answer with the rate-limit headers. What
// this costs above bench/bare.mjs is the floor of that work; what keygate
// (leased) costs above this is its key check and the wasm around it.
export default {
  fetch(req, env) {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("host");
    headers.delete("authorization");
    headers.delete("x-api-key");
    headers.set("x-keygate-key-id", "key_0123456789abcdef");
    headers.set("x-keygate-environment", "live");
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("origin timeout")), 30_000);
      fetch(env.ORIGIN + url.pathname + url.search, { method: req.method, headers, body: req.body, redirect: "manual" }).then((resp) => {
        clearTimeout(timer);
        const out = new Response(resp.body, resp);
        out.headers.set("x-ratelimit-limit", "10000000");
        out.headers.set("x-ratelimit-remaining", "9999999");
        out.headers.set("x-ratelimit-reset", "1795436100");
        out.headers.set("ratelimit", '"minute";r=9999999;t=60');
        out.headers.set("ratelimit-policy", '"minute";q=10000000;w=60, "day";q=10000000;w=86400');
        resolve(out);
      }, reject);
    });
  },
};
