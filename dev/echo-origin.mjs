// A stand-in origin API for `make dev`: answers every request with JSON that
// echoes what keygate forwarded, so the README walkthrough works offline.
// Usage: node dev/echo-origin.mjs [port]   (listens on 127.0.0.1 only)
import http from "node:http";

const port = Number(process.argv[2] ?? 8788);
http
  .createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({
      origin: "echo",
      method: req.method,
      path: req.url,
      key_id: req.headers["x-keygate-key-id"] ?? null,
      environment: req.headers["x-keygate-environment"] ?? null,
    }) + "\n");
  })
  .listen(port, "127.0.0.1", () => console.log(`echo origin on http://127.0.0.1:${port}`));
