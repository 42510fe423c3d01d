// pages/detail.js — one key: every field, its limits now, usage by outcome
// (hourly and daily, uPlot), edit (PATCH, only what changed), rotate with a
// chosen grace period (new secret shown once), revoke behind a dialog that
// names the key, and the audit trail.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { call, keyPath, query } from "../api.js";
import { UsageChart } from "../chart.js";
import { ConfirmDialog, SecretDialog } from "../dialog.js";
import { bodyOf, controlId, FIELD_NAMES, KeyFields, submitKeyForm, valuesOf } from "../keyform.js";
import { outcome, present } from "../outcomes.js";
import { Time } from "../time.js";
import { Countries, ErrorNote, fmt, Loading, orDash, StatusBadge, useLoad } from "../ui.js";

const GRACE = [
  [0, "No grace: retire it now"],
  [300, "5 minutes"],
  [3600, "1 hour"],
  [86400, "24 hours (default)"],
  [604800, "7 days"],
  [2592000, "30 days"],
];

export function DetailPage({ id }) {
  const key = useLoad(() => call(keyPath(id)).then((r) => r.data), [id]);
  const audit = useLoad(() => call(`${keyPath(id)}/audit`).then((r) => r.data), [id]);
  const hourly = useLoad(() => call(`${keyPath(id)}/usage${query({ granularity: "hour" })}`).then((r) => r.data), [id]);
  const daily = useLoad(() => call(`${keyPath(id)}/usage${query({ granularity: "day" })}`).then((r) => r.data), [id]);
  const [notice, setNotice] = useState("");

  useEffect(() => {
    if (key.data) document.title = `${key.data.name} · keygate admin`;
  }, [key.data?.name]);

  const refresh = (message) => {
    setNotice(message);
    key.reload();
    audit.reload();
    hourly.reload();
    daily.reload();
  };

  if (key.error) {
    return html`<p><a href="#/keys">← All keys</a></p>
      <h1>Key ${id}</h1>
      <${ErrorNote} error=${key.error} title=${key.error.status === 404 ? "No such key" : "The key could not be read"} />`;
  }
  if (!key.data) return html`<h1>Key</h1><${Loading} what="Loading the key…" />`;
  const k = key.data;
  const revoked = k.status === "revoked";

  return html`<p class="crumbs"><a href="#/keys">← All keys</a></p>
    <div class="page-head">
      <h1>${k.name}</h1>
      <${StatusBadge} status=${k.status} />
    </div>
    <p class="lede"><code class="display">${k.display}</code> · <span class="mono">${k.id}</span></p>
    <div role="status">${notice ? html`<p class="note info">${notice}</p>` : ""}</div>
    <section aria-labelledby="usage-title">
      <h2 id="usage-title">Usage by outcome</h2>
      <div class="charts">
        ${hourly.data ? html`<${UsageChart} usage=${hourly.data} title="Last 24 hours, by hour" />` : hourly.error ? html`<${ErrorNote} error=${hourly.error} title="Hourly usage is unavailable" />` : html`<${Loading} />`}
        ${daily.data ? html`<${UsageChart} usage=${daily.data} title="Last 24 days, by day" />` : daily.error ? html`<${ErrorNote} error=${daily.error} title="Daily usage is unavailable" />` : html`<${Loading} />`}
      </div>
      ${daily.data ? html`<${Totals} usage=${daily.data} />` : ""}
    </section>
    <${Fields} k=${k} />
    ${revoked
      ? html`<section aria-labelledby="revoked-title">
          <h2 id="revoked-title">Revoked</h2>
          <p>This key was revoked <${Time} value=${k.revoked_at} />${k.revoked_reason ? html` (${k.revoked_reason})` : ""}. Every request with it gets 401 <code>key_revoked</code>; it can no longer be edited or rotated.</p>
        </section>`
      : html`<${EditForm} k=${k} onSaved=${(updated) => refresh(`Saved the changes to “${updated.name}”.`)} />
          <${Rotate} k=${k} onRotated=${() => refresh(`Rotated the secret of “${k.name}”.`)} />
          <${Revoke} k=${k} onRevoked=${() => refresh(`Revoked “${k.name}”.`)} />`}
    <${Audit} audit=${audit} />`;
}

/** Every field of the key, as a definition list. */
function Fields({ k }) {
  const json = (v) => (v && Object.keys(v).length ? html`<pre class="mono">${JSON.stringify(v, null, 2)}</pre>` : "—");
  const list = (a) => (a?.length ? html`<ul class="plain">${a.map((x) => html`<li><code>${x}</code></li>`)}</ul>` : "—");
  const rows = [
    ["Id", html`<span class="mono">${k.id}</span>`],
    ["Key", html`<code>${k.display}</code>`],
    ["Environment", k.environment],
    ["Type", k.type],
    ["Status", html`<${StatusBadge} status=${k.status} />`],
    ["Description", orDash(k.description)],
    ["Owner", orDash(k.owner_id)],
    ["Tier", orDash(k.tier)],
    ["Created", html`<${Time} value=${k.created_at} />`],
    ["Last used", html`<${Time} value=${k.last_used} empty="never" />`],
    ["Expires", html`<${Time} value=${k.expires_at} empty="never" />`],
    ["Revoked", k.revoked_at ? html`<${Time} value=${k.revoked_at} />${k.revoked_reason ? ` — ${k.revoked_reason}` : ""}` : "—"],
    ["Rate limits", `${fmt(k.rate_limits?.per_minute)} per minute, ${fmt(k.rate_limits?.per_day)} per day`],
    ["Window", orDash(k.window)],
    ["Named limits", k.limits?.length ? html`<ul class="plain">${k.limits.map((l) => html`<li><code>${l.name}</code>: ${fmt(l.limit)} per ${fmt(l.window_seconds)} s</li>`)}</ul>` : "—"],
    ["Admission", orDash(k.admission)],
    [
      "Credits",
      k.credits
        ? `${fmt(k.credits.remaining)} remaining${k.credits.refill ? `; refill to ${fmt(k.credits.refill.amount)} ${k.credits.refill.interval}${k.credits.refill.day_of_month ? ` on day ${k.credits.refill.day_of_month}` : ""}` : ""}`
        : "not metered",
    ],
    ["Scopes", list(k.scopes)],
    ["Permissions", json(k.permissions)],
    ["Allowed IPs", k.allowed_ips?.length ? list(k.allowed_ips) : "any"],
    ["Allowed origins", list(k.allowed_origins)],
    ["Metadata", json(k.metadata)],
    [
      "Previous secrets",
      k.previous_secrets?.length
        ? html`<ul class="plain">${k.previous_secrets.map((p) => html`<li><code>${p.display}</code> works until <${Time} value=${p.expires_at} /></li>`)}</ul>`
        : "—",
    ],
  ];
  return html`<section aria-labelledby="fields-title">
    <h2 id="fields-title">Details</h2>
    <dl class="fields">${rows.map(([label, value]) => html`<div><dt>${label}</dt><dd>${value}</dd></div>`)}</dl>
    ${k.usage?.length
      ? html`<div class="table-wrap" tabindex="0" role="region" aria-labelledby="quota-caption">
          <table>
            <caption id="quota-caption">Limits now</caption>
            <thead><tr><th scope="col">Limit</th><th scope="col" class="num">Allowed</th><th scope="col" class="num">Remaining</th><th scope="col">Window</th><th scope="col">Resets</th></tr></thead>
            <tbody>
              ${k.usage.map(
                (q) => html`<tr><th scope="row">${q.policy}</th><td class="num">${fmt(q.limit)}</td><td class="num">${fmt(q.remaining)}</td><td>${fmt(q.window_seconds)} s</td><td><${Time} value=${q.reset * 1000} /></td></tr>`,
              )}
            </tbody>
          </table>
        </div>`
      : ""}
  </section>`;
}

/** Totals by outcome and countries over the daily range. */
function Totals({ usage }) {
  const names = present(usage.totals);
  return html`<div class="split">
    <div class="table-wrap" tabindex="0" role="region" aria-labelledby="totals-caption">
      <table>
        <caption id="totals-caption">Totals, last 24 days</caption>
        <thead><tr><th scope="col">Outcome</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Units spent</th></tr></thead>
        <tbody>
          ${names.length
            ? names.map((n) => html`<tr><th scope="row">${outcome(n).label}</th><td class="num">${fmt(usage.totals[n].count)}</td><td class="num">${fmt(usage.totals[n].cost)}</td></tr>`)
            : html`<tr><td colspan="3">No requests yet.</td></tr>`}
        </tbody>
      </table>
    </div>
    <${Countries} countries=${usage.countries} id="key-countries" />
  </div>`;
}

/** PATCH: the editable fields; only what changed is sent. */
function EditForm({ k, onSaved }) {
  const initial = valuesOf(k);
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState({});
  const [general, setGeneral] = useState(null);
  const [busy, setBusy] = useState(false);
  const [focus, setFocus] = useState(0);
  const version = JSON.stringify(initial);

  useEffect(() => setValues(valuesOf(k)), [version]);
  useEffect(() => {
    if (!focus) return;
    const first = FIELD_NAMES.find((n) => errors[n]);
    document.getElementById(first ? controlId("edit", first) : "edit-error")?.focus();
  }, [focus]);

  const onInput = (name, value) => setValues((v) => ({ ...v, [name]: value }));
  async function submit(e) {
    e.preventDefault();
    const { body, errors: local } = bodyOf(values, initial);
    setGeneral(null);
    if (Object.keys(local).length) {
      setErrors(local);
      setFocus((n) => n + 1);
      return;
    }
    if (!Object.keys(body).length) {
      setErrors({});
      setGeneral({ message: "Nothing to save: no field was changed." });
      return;
    }
    await submitKeyForm(() => call(keyPath(k.id), { method: "PATCH", body }), onSaved, { setBusy, setErrors, setGeneral, setFocus });
  }

  return html`<section aria-labelledby="edit-title">
    <h2 id="edit-title">Edit</h2>
    <p>Changes apply to the key's next request (within a second for a key under heavy traffic, unless its admission is <code>exact</code>). The secret does not change.</p>
    <div id="edit-error" tabindex="-1">${general ? html`<${ErrorNote} error=${general} title="Not saved" />` : ""}</div>
    <form class="key-form" onSubmit=${submit} novalidate aria-labelledby="edit-title">
      <${KeyFields} form="edit" values=${values} errors=${errors} onInput=${onInput} edit />
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>${busy ? "Saving…" : "Save changes"}</button>
        <button type="button" onClick=${() => { setValues(initial); setErrors({}); setGeneral(null); }}>Undo changes</button>
      </div>
    </form>
  </section>`;
}

/** POST …/rotate with a chosen grace period; the new secret shown once. */
function Rotate({ k, onRotated }) {
  const [grace, setGrace] = useState("86400");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [rotated, setRotated] = useState(null);

  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await call(`${keyPath(k.id)}/rotate`, { method: "POST", body: { expire_previous_in_seconds: Number(grace) } });
      setRotated(res.data);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const previous = rotated?.previous_secrets?.[rotated.previous_secrets.length - 1];

  return html`<section aria-labelledby="rotate-title">
    <h2 id="rotate-title">Rotate the secret</h2>
    <p>Issues a new secret for this key; its id, permissions, limits and counters stay. The current secret can keep working for a while, so clients can switch without downtime.</p>
    <form class="inline-form" onSubmit=${submit}>
      <div class="field">
        <label for="rotate-grace">Keep the current secret working for</label>
        <select id="rotate-grace" value=${grace} onInput=${(e) => setGrace(e.currentTarget.value)}>
          ${GRACE.map(([s, label]) => html`<option value=${String(s)}>${label}</option>`)}
        </select>
      </div>
      <button type="submit" disabled=${busy}>${busy ? "Rotating…" : "Rotate secret"}</button>
    </form>
    <${ErrorNote} error=${error} title="Not rotated" />
    ${rotated
      ? html`<${SecretDialog} title=${`New secret for “${rotated.name}”`} secret=${rotated.key} onClose=${() => { setRotated(null); onRotated(); }}>
          <p>${previous
            ? html`The previous secret (<code>${previous.display}</code>) keeps working until <${Time} value=${previous.expires_at} />.`
            : "The previous secret no longer works."}</p>
        </${SecretDialog}>`
      : ""}
  </section>`;
}

/** DELETE, after a dialog that names the key. */
function Revoke({ k, onRevoked }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  async function confirm() {
    setBusy(true);
    setError(null);
    try {
      await call(keyPath(k.id), { method: "DELETE" });
      setAsking(false);
      onRevoked();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return html`<section aria-labelledby="revoke-title" class="danger-zone">
    <h2 id="revoke-title">Revoke</h2>
    <p>Revoking is immediate and cannot be undone: the next request with this key is refused with 401 <code>key_revoked</code>.</p>
    <button type="button" class="danger" onClick=${() => { setError(null); setAsking(true); }}>Revoke this key…</button>
    ${asking
      ? html`<${ConfirmDialog} title=${`Revoke “${k.name}”?`} confirmLabel=${`Revoke “${k.name}”`} busy=${busy} error=${error}
          onConfirm=${confirm} onCancel=${() => setAsking(false)}>
          <p>Every client using <strong>${k.name}</strong> (<code>${k.display}</code>, ${k.environment}) will be refused from its next request. This cannot be undone.</p>
        </${ConfirmDialog}>`
      : ""}
  </section>`;
}

/** The key's admin actions of the last 30 days. */
function Audit({ audit }) {
  return html`<section aria-labelledby="audit-title">
    <h2 id="audit-title">Audit trail</h2>
    ${audit.error
      ? html`<${ErrorNote} error=${audit.error} title="The audit trail could not be read" />`
      : !audit.data
        ? html`<${Loading} />`
        : audit.data.length
          ? html`<div class="table-wrap" tabindex="0" role="region" aria-labelledby="audit-caption">
              <table>
                <caption id="audit-caption">Admin actions of the last 30 days, newest first</caption>
                <thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">By</th><th scope="col">Detail</th></tr></thead>
                <tbody>
                  ${audit.data.map(
                    (a) => html`<tr><td><${Time} value=${a.at} /></td><td>${a.action.replace(/_/g, " ")}</td><td>${a.actor === "admin_token" ? "admin token" : html`<span class="mono">${a.actor}</span>`}</td><td>${orDash(a.detail)}</td></tr>`,
                  )}
                </tbody>
              </table>
            </div>`
          : html`<p class="muted">No admin actions in the last 30 days.</p>`}
  </section>`;
}
