// Origin-side check that a request came through keygate (README: "What the
// origin can trust"). Node's own crypto; the same ten lines port to any stack.
import { createHmac, timingSafeEqual } from "node:crypto";

/** True when keygate signed this request (`method`, `url` as received, lower-case `headers`) with `secret` in the last `maxAgeSecs`. */
export function signedByKeygate({ method, url, headers }, secret, maxAgeSecs = 60) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(headers["x-keygate-signature"] ?? "");
  if (!m || Math.abs(Date.now() / 1000 - Number(m[1])) > maxAgeSecs) return false;
  const signed = [m[1], method, url, headers["x-keygate-key-id"], headers["x-keygate-owner-id"] ?? "", headers["x-keygate-environment"]].join("\n");
  const expected = createHmac("sha256", secret).update(signed).digest();
  return timingSafeEqual(expected, Buffer.from(m[2], "hex"));
}
