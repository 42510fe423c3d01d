// One webhook attempt (see src/jobs/deliver.rs): a POST with the Standard
// Webhooks headers Rust computed, under a timeout. Resolves with the
// endpoint's status (redirects are not followed: a 3xx is a failed
// attempt); rejects with "timeout" or "network_error". The answer's body
// is never read, only released.

export function post(url, id, timestamp, signature, body, timeoutMs) {
  const headers = {
    "content-type": "application/json",
    "user-agent": "keygate-webhooks",
    "webhook-id": id,
    "webhook-timestamp": timestamp,
    "webhook-signature": signature,
  };
  return fetch(url, {
    method: "POST",
    headers,
    body,
    redirect: "manual",
    signal: AbortSignal.timeout(timeoutMs),
  }).then(
    async (res) => {
      try {
        await res.body?.cancel();
      } catch {}
      return res.status;
    },
    (e) => {
      throw e?.name === "TimeoutError" ? "timeout" : "network_error";
    },
  );
}
