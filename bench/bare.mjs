// The runtime's own cost: a Worker that only proxies to the origin.
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    return fetch(env.ORIGIN + url.pathname + url.search, { method: req.method, headers: req.headers, body: req.body, redirect: "manual" });
  },
};
