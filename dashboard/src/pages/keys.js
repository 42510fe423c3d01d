// pages/keys.js — the key list: GET /v1/keys with its search, filters and
// pages by cursor (kept in the hash with the cursors of the pages before,
// so Back, "Newer" and a link all work), a table
// that scrolls sideways on small screens, and what to do when there are none.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { call, query } from "../api.js";
import { placeError } from "../keyform.js";
import { href, navigate } from "../router.js";
import { Time } from "../time.js";
import { ErrorNote, fmt, Loading, orDash, StatusBadge } from "../ui.js";

const FILTERS = ["q", "environment", "type", "status", "owner_id"];
const PER_PAGE = [10, 20, 50, 100];

/** The list's filters, page cursor and the cursors of the pages before it ("-" for the first) from the route's query. */
function fromRoute(params) {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params[f] ?? ""]));
  const back = params.back ? params.back.split(",") : [];
  return { filters, cursor: params.cursor ?? "", back, perPage: Number(params.per_page) || 20 };
}

export function KeysPage({ route }) {
  const { filters, cursor, back, perPage } = fromRoute(route.params);
  const routeKey = JSON.stringify(route.params);
  const [draft, setDraft] = useState(filters);
  const [state, setState] = useState({ loading: true });

  useEffect(() => setDraft(filters), [routeKey]);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    call(`/v1/keys${query({ ...filters, cursor, per_page: perPage })}`).then(
      (r) => live && setState({ loading: false, keys: r.data, meta: r.meta }),
      (error) => live && setState({ loading: false, error }),
    );
    return () => {
      live = false;
    };
  }, [routeKey]);

  const go = (next) => navigate(href("keys", { params: next }));
  const apply = (e) => {
    e.preventDefault();
    go({ ...draft, per_page: perPage === 20 ? "" : perPage });
  };
  const setFilter = (name) => (e) => setDraft({ ...draft, [name]: e.currentTarget.value });
  const filtered = FILTERS.some((f) => filters[f]);
  const placed = state.error ? placeError(state.error, [...FILTERS, "cursor", "per_page"]) : { fields: {} };
  const err = (name) =>
    placed.fields[name] ? html`<p class="field-error" id=${`filter-${name}-error`}>${placed.fields[name]}</p>` : "";
  const aria = (name) => ({
    "aria-invalid": placed.fields[name] ? "true" : undefined,
    "aria-describedby": placed.fields[name] ? `filter-${name}-error` : undefined,
  });

  return html`<div class="page-head">
      <h1>Keys</h1>
      <a class="button primary" href="#/keys/new">Create key</a>
    </div>
    <form class="filters card" role="search" aria-label="Search and filter keys" onSubmit=${apply}>
      <div class="field grow">
        <label for="filter-q">Search</label>
        <input id="filter-q" type="search" value=${draft.q} onInput=${setFilter("q")} placeholder="name, description or id" ...${aria("q")} />
        ${err("q")}
      </div>
      <div class="field">
        <label for="filter-environment">Environment</label>
        <input id="filter-environment" type="text" list="kg-filter-environments" value=${draft.environment} onInput=${setFilter("environment")} placeholder="any" autocomplete="off" ...${aria("environment")} />
        <datalist id="kg-filter-environments"><option value="live"></option><option value="test"></option></datalist>
        ${err("environment")}
      </div>
      <div class="field">
        <label for="filter-type">Type</label>
        <select id="filter-type" value=${draft.type} onInput=${setFilter("type")} ...${aria("type")}>
          <option value="">any</option><option value="secret">secret</option><option value="restricted">restricted</option><option value="publishable">publishable</option>
        </select>
        ${err("type")}
      </div>
      <div class="field">
        <label for="filter-status">Status</label>
        <select id="filter-status" value=${draft.status} onInput=${setFilter("status")} ...${aria("status")}>
          <option value="">any</option><option value="active">active</option><option value="expired">expired</option><option value="revoked">revoked</option>
        </select>
        ${err("status")}
      </div>
      <div class="field">
        <label for="filter-owner">Owner id</label>
        <input id="filter-owner" type="text" value=${draft.owner_id} onInput=${setFilter("owner_id")} placeholder="any" autocomplete="off" ...${aria("owner_id")} />
        ${err("owner_id")}
      </div>
      <div class="field">
        <label for="filter-per-page">Per page</label>
        <select id="filter-per-page" value=${String(perPage)} onInput=${(e) => go({ ...filters, per_page: e.currentTarget.value })}>
          ${PER_PAGE.map((n) => html`<option value=${String(n)}>${n}</option>`)}
        </select>
      </div>
      <div class="filter-actions">
        <button type="submit" class="primary">Search</button>
        ${filtered ? html`<a class="button" href="#/keys">Clear filters</a>` : ""}
      </div>
    </form>
    ${state.error && placed.general ? html`<${ErrorNote} error=${state.error} title="The keys could not be listed" />` : ""}
    ${state.error && !placed.general ? html`<p class="note error" role="alert">Check the filter marked above.</p>` : ""}
    ${state.loading && !state.keys ? html`<${Loading} what="Loading keys…" />` : ""}
    ${state.keys && !state.error ? html`<${KeyTable} keys=${state.keys} meta=${state.meta} filtered=${filtered} filters=${filters} perPage=${perPage} cursor=${cursor} back=${back} />` : ""}`;
}

function KeyTable({ keys, meta, filtered, filters, perPage, cursor, back }) {
  if (keys.length === 0 && !filtered && !cursor) {
    return html`<section class="empty card" aria-labelledby="empty-title">
      <h2 id="empty-title">No keys yet</h2>
      <p>Your API's clients send a key with every request; keygate checks it, applies its limits and forwards the request to your origin.</p>
      <p>To issue your first key, go to <a href="#/keys/new">Create key</a>, give it a name and an environment (<code>live</code> or <code>test</code>), and copy the secret it shows you once.</p>
    </section>`;
  }
  const params = (at, before) => ({ ...filters, per_page: perPage === 20 ? "" : perPage, cursor: at, back: before.join(",") });
  const previous = back[back.length - 1];
  const newer = back.length ? params(previous === "-" ? "" : previous, back.slice(0, -1)) : null;
  const older = meta.next_cursor ? params(meta.next_cursor, [...back, cursor || "-"]) : null;
  const page = back.length + 1;
  return html`<p class="summary" role="status">
      ${keys.length
        ? `Page ${fmt(page)}: ${fmt(keys.length)} ${keys.length === 1 ? "key" : "keys"}${older ? ", more after" : ""}`
        : older
          ? "No keys on this page (a narrow search looks through a bounded number at a time): go on to the next."
          : "No keys match these filters."}
    </p>
    ${keys.length
      ? html`<div class="table-wrap" tabindex="0" role="region" aria-labelledby="keys-caption">
          <table class="keys">
            <caption id="keys-caption">Keys, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Name</th><th scope="col">Key</th><th scope="col">Environment</th><th scope="col">Type</th>
                <th scope="col">Status</th><th scope="col">Owner</th><th scope="col">Created</th><th scope="col">Last used</th>
                <th scope="col" class="num">Requests today</th>
              </tr>
            </thead>
            <tbody>
              ${keys.map(
                (k) => html`<tr key=${k.id}>
                  <th scope="row"><a href=${href("detail", { id: k.id })}>${k.name}</a></th>
                  <td><code class="display">${k.display}</code></td>
                  <td>${k.environment}</td>
                  <td>${k.type}</td>
                  <td><${StatusBadge} status=${k.status} /></td>
                  <td>${orDash(k.owner_id)}</td>
                  <td><${Time} value=${k.created_at} compact /></td>
                  <td><${Time} value=${k.last_used} empty="never" compact /></td>
                  <td class="num">${fmt(k.requests_today)}</td>
                </tr>`,
              )}
            </tbody>
          </table>
        </div>`
      : ""}
    ${newer || older
      ? html`<nav class="pager" aria-label="Pages of keys">
          ${newer ? html`<a class="button" href=${href("keys", { params: newer })} rel="prev">← Newer</a>` : html`<span class="button disabled" aria-hidden="true">← Newer</span>`}
          <span>Page ${fmt(page)}</span>
          ${older ? html`<a class="button" href=${href("keys", { params: older })} rel="next">Older →</a>` : html`<span class="button disabled" aria-hidden="true">Older →</span>`}
        </nav>`
      : ""}`;
}
