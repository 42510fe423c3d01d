// pages/overview.js — the whole deployment (GET /v1/usage): totals by
// outcome, including requests refused before any key was judged, the
// series over time, the top keys and the countries. Admin token only: an
// admin key is told why it cannot see this.
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { call, query } from "../api.js";
import { UsageChart } from "../chart.js";
import { OUTCOMES, outcome, isRefusal } from "../outcomes.js";
import { href } from "../router.js";
import { Countries, ErrorNote, fmt, Loading, useLoad } from "../ui.js";

const PERIODS = { hour: "Last 24 hours, by hour", day: "Last 24 days, by day" };

export function OverviewPage() {
  const [granularity, setGranularity] = useState("day");
  const usage = useLoad(() => call(`/v1/usage${query({ granularity })}`).then((r) => r.data), [granularity]);

  return html`<div class="page-head"><h1>Overview</h1></div>
    <form class="inline-form" onSubmit=${(e) => e.preventDefault()}>
      <div class="field">
        <label for="overview-period">Period</label>
        <select id="overview-period" value=${granularity} onInput=${(e) => setGranularity(e.currentTarget.value)}>
          ${Object.entries(PERIODS).map(([g, label]) => html`<option value=${g}>${label}</option>`)}
        </select>
      </div>
    </form>
    ${usage.error
      ? usage.error.status === 403
        ? html`<section class="note warning" role="alert" aria-labelledby="overview-forbidden">
            <h2 id="overview-forbidden">The overview needs the admin token</h2>
            <p>You are signed in with an admin key. An admin key manages only the keys within its reach, and deployment-wide totals would tell it about every other key, so the Worker refuses them (<code>${usage.error.code}</code>).</p>
            <p>Sign out and sign in with the admin token to see the overview. The <a href="#/keys">Keys</a> pages work with this key.</p>
          </section>`
        : html`<${ErrorNote} error=${usage.error} title="The overview could not be loaded" />`
      : !usage.data
        ? html`<${Loading} what="Loading usage…" />`
        : html`<${Usage} usage=${usage.data} title=${PERIODS[granularity]} />`}`;
}

function Usage({ usage, title }) {
  const totals = usage.totals ?? {};
  // Every known outcome, so refusals before any key (missing or invalid keys) always show.
  const known = OUTCOMES.map(([n]) => n);
  const names = [...known, ...Object.keys(totals).filter((n) => !known.includes(n))];
  const all = names.reduce((s, n) => s + (n === "origin_error" ? 0 : totals[n]?.count ?? 0), 0);
  const refused = names.reduce((s, n) => s + (isRefusal(n) ? totals[n]?.count ?? 0 : 0), 0);
  return html`<ul class="stats" aria-label="Summary">
      <li><span class="stat">${fmt(all)}</span> decisions</li>
      <li><span class="stat">${fmt(totals.valid?.count ?? 0)}</span> admitted</li>
      <li><span class="stat">${fmt(refused)}</span> refused</li>
      <li><span class="stat">${fmt((totals.missing_api_key?.count ?? 0) + (totals.invalid_api_key?.count ?? 0))}</span> without a valid key</li>
    </ul>
    <${UsageChart} usage=${usage} title=${title} />
    <div class="split">
      <div class="table-wrap" tabindex="0" role="region" aria-labelledby="overall-caption">
        <table>
          <caption id="overall-caption">Totals by outcome</caption>
          <thead><tr><th scope="col">Outcome</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Units spent</th></tr></thead>
          <tbody>
            ${names.map(
              (n) => html`<tr class=${totals[n]?.count ? "" : "zero"}><th scope="row">${outcome(n).label} <code>${n}</code></th><td class="num">${fmt(totals[n]?.count ?? 0)}</td><td class="num">${fmt(totals[n]?.cost ?? 0)}</td></tr>`,
            )}
          </tbody>
        </table>
      </div>
      <${Countries} countries=${usage.countries} id="overall-countries" />
    </div>
    <div class="split">
      <${TopKeys} rows=${usage.top_keys?.by_requests} id="top-requests" caption="Top keys by requests" />
      <${TopKeys} rows=${usage.top_keys?.by_refusals} id="top-refusals" caption="Top keys by refusals" />
    </div>`;
}

function TopKeys({ rows, id, caption }) {
  return html`<div class="table-wrap" tabindex="0" role="region" aria-labelledby=${`${id}-caption`}>
    <table>
      <caption id=${`${id}-caption`}>${caption}</caption>
      <thead><tr><th scope="col">Key</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Refused</th></tr></thead>
      <tbody>
        ${rows?.length
          ? rows.map(
              (r) => html`<tr>
                <th scope="row"><a href=${href("detail", { id: r.key_id })}>${r.name ?? r.key_id}</a>${r.name ? "" : html` <span class="muted">(no longer listed)</span>`}</th>
                <td class="num">${fmt(r.requests)}</td><td class="num">${fmt(r.refused)}</td>
              </tr>`,
            )
          : html`<tr><td colspan="3">No requests over the period's whole days yet.</td></tr>`}
      </tbody>
    </table>
  </div>`;
}
