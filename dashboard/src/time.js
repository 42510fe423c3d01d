// time.js — times as people read them: in the browser's own zone, inside
// <time datetime> with the exact UTC instant on hover; and the conversions
// between the API's RFC 3339 (UTC) and a datetime-local input.
import { html } from "htm/preact";

const full = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const short = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });

/** `2026-11-23T17:15:42Z` (no milliseconds), or "" for nothing. */
export function utcIso(value) {
  if (value === null || value === undefined || value === "") return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A local, readable form of an instant. */
export const local = (value) => full.format(new Date(value));

/**
 * <time> for an instant (ISO string or ms), "—" for none; `empty` overrides
 * the dash. `compact` leaves out the year when it is this year (for tables).
 */
export function Time({ value, empty = "—", compact = false }) {
  const iso = utcIso(value);
  if (!iso) return html`<span>${empty}</span>`;
  const d = new Date(iso);
  const text = compact && d.getFullYear() === new Date().getFullYear() ? short.format(d) : local(iso);
  return html`<time datetime=${iso} title=${iso}>${text}</time>`;
}

/** A datetime-local input's value ("YYYY-MM-DDTHH:MM", local zone) for an instant. */
export function toLocalInput(value) {
  const iso = utcIso(value);
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The RFC 3339 UTC instant a datetime-local value names; the raw text when it is not one (the API says why). */
export function fromLocalInput(value) {
  if (!value) return "";
  return utcIso(new Date(value)) || value;
}

/** Chart axis label for a bucket start (unix seconds) at a granularity. */
export function bucketLabel(seconds, granularity) {
  const d = new Date(seconds * 1000);
  return granularity === "day"
    ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" })
    : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}
