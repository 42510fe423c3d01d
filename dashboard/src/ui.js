// ui.js — small pieces every page uses: loading data into state, showing an
// API error, a key's status, numbers and empty values, a countries table.
import { html } from "htm/preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

/** Runs `load()` now and whenever `deps` change: {data, error, loading, reload}. Stale answers are dropped. */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const seq = useRef(0);
  const run = useCallback(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === seq.current && setState({ data, error: null, loading: false }),
      (error) => mine === seq.current && setState({ data: undefined, error, loading: false }),
    );
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

const number = new Intl.NumberFormat();
/** A count, grouped for reading; "—" for none. */
export const fmt = (n) => (typeof n === "number" ? number.format(n) : "—");

/** Text or an em dash for null/empty. */
export const orDash = (v) => (v === null || v === undefined || v === "" ? "—" : v);

/** An API error as a page shows it. */
export function ErrorNote({ error, title = "Something went wrong" }) {
  if (!error) return null;
  return html`<div class="note error" role="alert">
    <p><strong>${title}.</strong> ${error.message}${error.code && error.code !== "error" ? html` <code>${error.code}</code>` : ""}</p>
  </div>`;
}

/** A key's status as a labelled badge. */
export const StatusBadge = ({ status }) => html`<span class=${`badge status-${status}`}>${status}</span>`;

/** A short "Loading…" for a region still waiting for data. */
export const Loading = ({ what = "Loading…" }) => html`<p class="loading" role="status">${what}</p>`;

/** Requests by client country. */
export function Countries({ countries, id }) {
  return html`<div class="table-wrap" tabindex="0" role="region" aria-labelledby=${`${id}-caption`}>
    <table>
      <caption id=${`${id}-caption`}>Countries</caption>
      <thead><tr><th scope="col">Country</th><th scope="col" class="num">Requests</th></tr></thead>
      <tbody>
        ${countries?.length
          ? countries.map((c) => html`<tr><th scope="row">${c.country}</th><td class="num">${fmt(c.count)}</td></tr>`)
          : html`<tr><td colspan="2">No requests with a known country.</td></tr>`}
      </tbody>
    </table>
  </div>`;
}
