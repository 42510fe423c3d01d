// keyform.js — the fields of a key as the create and edit forms show them:
// what each control is, how its text becomes the request body (only what
// was filled in for a create, only what changed for an edit), and which
// control an API error's `field` belongs to.
import { html } from "htm/preact";
import { fromLocalInput, toLocalInput } from "./time.js";

/**
 * Every field: `create` ones exist only at creation (the key's type and
 * environment never change); `nullable` ones are cleared with null in an
 * edit; dotted names are nested objects in the body.
 */
export const FIELDS = {
  name: { label: "Name", kind: "text", required: true, maxLength: 200, hint: "1–200 characters, e.g. “acme production”." },
  description: { label: "Description", kind: "textarea", nullable: true, maxLength: 1000, hint: "Optional, up to 1,000 characters." },
  environment: { label: "Environment", kind: "text", create: true, required: true, list: "kg-environments", hint: "One of the deployment's ENVIRONMENTS (live and test by default)." },
  type: {
    label: "Type",
    kind: "select",
    create: true,
    options: [["", "secret (default)"], ["restricted", "restricted"], ["publishable", "publishable"]],
    hint: "secret: full access unless scoped; restricted: explicit grants only; publishable: read-only, for browsers.",
  },
  owner_id: { label: "Owner id", kind: "text", nullable: true, hint: "Your customer or tenant id, forwarded to the origin as X-Keygate-Owner-Id." },
  tier: { label: "Tier", kind: "text", nullable: true, hint: "A configured tier (TIERS); its limits apply unless the key sets its own." },
  "rate_limits.per_minute": { label: "Requests per minute", kind: "int", hint: "Empty: the tier's or the deployment's default." },
  "rate_limits.per_day": { label: "Requests per day", kind: "int", hint: "Empty: the tier's or the deployment's default." },
  window: { label: "Window", kind: "select", defaulted: true, options: [["", "fixed (default)"], ["fixed", "fixed"], ["rolling", "rolling"]] },
  limits: {
    label: "Named limits (JSON)",
    kind: "json",
    empty: [],
    hint: 'Up to 16, e.g. [{"name": "burst", "limit": 10, "window_seconds": 1}].',
  },
  admission: {
    label: "Admission",
    kind: "select",
    defaulted: true,
    options: [["", "leased (default)"], ["leased", "leased"], ["exact", "exact"]],
    hint: "exact: edits and revocation always apply to the very next request.",
  },
  "credits.remaining": { label: "Credits remaining", kind: "int", credits: true, hint: "Empty: the key is not metered." },
  "credits.refill.interval": { label: "Refill", kind: "select", credits: true, options: [["", "no refill"], ["daily", "daily"], ["monthly", "monthly"], ["never", "never"]] },
  "credits.refill.amount": { label: "Refill amount", kind: "int", credits: true },
  "credits.refill.day_of_month": { label: "Refill day of month", kind: "int", credits: true, hint: "Monthly refills only (default 1)." },
  scopes: { label: "Scopes", kind: "lines", hint: "One per line, e.g. orders:read. A secret key with no scopes and no permissions has full access." },
  permissions: { label: "Permissions (JSON)", kind: "json", empty: {}, hint: 'instance → service → entity → operations, e.g. {"shop": {"orders": {"*": ["list", "get"]}}}.' },
  allowed_ips: { label: "Allowed IP addresses", kind: "lines", hint: "One per line: addresses or CIDR ranges. Empty: any address." },
  allowed_origins: { label: "Allowed browser origins", kind: "lines", hint: "One per line, e.g. https://app.example.com (for CORS)." },
  expires_at: { label: "Expires at", kind: "datetime", nullable: true, hint: "In your local time. Empty: never expires." },
  metadata: { label: "Metadata (JSON object)", kind: "json", nullable: true, hint: "Any JSON object up to 4 KiB, returned by whoami and verify." },
};

/** The form's sections, in order. */
export const SECTIONS = [
  ["Basics", ["name", "description", "environment", "type", "owner_id"]],
  ["Limits", ["tier", "rate_limits.per_minute", "rate_limits.per_day", "window", "limits", "admission"]],
  ["Credits", ["credits.remaining", "credits.refill.interval", "credits.refill.amount", "credits.refill.day_of_month"]],
  ["Access", ["scopes", "permissions", "allowed_ips", "allowed_origins"]],
  ["Lifetime and data", ["expires_at", "metadata"]],
];

/** API fields that name an object whose first control should show the error. */
const ALIASES = { rate_limits: "rate_limits.per_minute", credits: "credits.remaining", "credits.refill": "credits.refill.interval" };

const get = (obj, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
function set(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys[keys.length - 1]] = value;
}

/** The form's text for every field of an existing key (what an edit starts from). */
export function valuesOf(key) {
  const values = {};
  for (const [name, spec] of Object.entries(FIELDS)) {
    const v = get(key, name);
    if (spec.kind === "lines") values[name] = (v ?? []).join("\n");
    else if (spec.kind === "json") values[name] = v == null || (typeof v === "object" && Object.keys(v).length === 0) ? "" : JSON.stringify(v, null, 2);
    else if (spec.kind === "datetime") values[name] = toLocalInput(v);
    else values[name] = v == null ? "" : String(v);
  }
  return values;
}

const SKIP = Symbol("skip");

/** A field whose text cannot be sent, and why. */
class Invalid {
  constructor(message) {
    this.message = message;
  }
}

/** One field's text as a body value, SKIP, or Invalid. */
function convert(name, spec, text, edit) {
  const t = (text ?? "").trim();
  if (t === "") {
    if (!edit) return SKIP;
    if (spec.nullable) return null;
    if (spec.kind === "lines") return [];
    if (spec.kind === "json") return spec.empty;
    return spec.kind === "text" ? "" : SKIP;
  }
  switch (spec.kind) {
    case "int":
      // Anything but digits goes as typed: the API names the field and says why.
      return /^-?\d+$/.test(t) ? Number(t) : t;
    case "lines":
      return t.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
    case "json":
      try {
        return JSON.parse(t);
      } catch (e) {
        return new Invalid(`This is not valid JSON (${e.message}).`);
      }
    case "datetime":
      return fromLocalInput(t);
    default:
      return t;
  }
}

/**
 * The request body for `values`: for a create (no `initial`), every field
 * filled in; for an edit, every field that differs from `initial` (credits
 * go whole: an edit replaces them). Returns {body, errors}; `errors` are
 * fields whose text cannot be sent (JSON that does not parse).
 */
export function bodyOf(values, initial) {
  const edit = Boolean(initial);
  const body = {};
  const errors = {};
  let creditsChanged = false;
  for (const [name, spec] of Object.entries(FIELDS)) {
    if (edit && spec.create) continue;
    if (edit && (values[name] ?? "") === (initial[name] ?? "")) continue;
    if (spec.credits) {
      creditsChanged = true;
      continue;
    }
    const value = convert(name, spec, values[name], edit);
    if (value === SKIP) continue;
    if (value instanceof Invalid) errors[name] = value.message;
    else set(body, name, value);
  }
  if (!edit || creditsChanged) {
    const filled = Object.keys(FIELDS).filter((n) => FIELDS[n].credits && (values[n] ?? "").trim() !== "");
    if (filled.length) {
      const credits = {};
      for (const n of filled) set(credits, n.slice("credits.".length), convert(n, FIELDS[n], values[n], false));
      body.credits = credits;
    } else if (edit) {
      body.credits = null;
    }
  }
  return { body, errors };
}

/**
 * Where an API error belongs: {fields: {control: message}} when its
 * `field` (or a parent of it, e.g. `limits[0].name` → `limits`) is one of
 * `names`, else {general: message}.
 */
export function placeError(error, names) {
  let field = error?.field;
  while (field) {
    const name = ALIASES[field] ?? field;
    if (names.includes(name)) return { fields: { [name]: error.message }, general: null };
    const cut = Math.max(field.lastIndexOf("."), field.lastIndexOf("["));
    field = cut > 0 ? field.slice(0, cut) : "";
  }
  return { fields: {}, general: error };
}

/**
 * Sends a key form with `send` (a promise of the API's answer) and hands
 * the answer's data to `done`; a refusal goes next to the field it names
 * (or above the form), and focus moves to it. `form` holds the form's
 * state setters: setBusy, setErrors, setGeneral, setFocus.
 */
export async function submitKeyForm(send, done, form) {
  form.setBusy(true);
  try {
    const res = await send();
    form.setErrors({});
    done(res.data);
  } catch (err) {
    const placed = placeError(err, FIELD_NAMES);
    form.setErrors(placed.fields);
    form.setGeneral(placed.general ?? { ...err, message: `Fix the field marked below: ${err.message}` });
    form.setFocus((n) => n + 1);
  } finally {
    form.setBusy(false);
  }
}

/** The control id for field `name` in form `form`. */
export const controlId = (form, name) => `${form}-${name.replace(/[^a-z0-9]+/gi, "-")}`;

/** A labelled control with its hint and its error (announced and linked with aria-describedby). */
export function Field({ form, name, value, error, onInput, edit = false }) {
  const spec = FIELDS[name];
  const id = controlId(form, name);
  const hintId = spec.hint ? `${id}-hint` : null;
  const errorId = error ? `${id}-error` : null;
  const props = {
    id,
    name,
    value,
    "aria-describedby": [errorId, hintId].filter(Boolean).join(" ") || undefined,
    "aria-invalid": error ? "true" : undefined,
    "aria-required": spec.required ? "true" : undefined,
    onInput: (e) => onInput(name, e.currentTarget.value),
  };
  let control;
  switch (spec.kind) {
    case "select": {
      const options = edit && spec.defaulted ? spec.options.filter(([v]) => v !== "") : spec.options;
      control = html`<select ...${props}>${options.map(([v, label]) => html`<option value=${v}>${label}</option>`)}</select>`;
      break;
    }
    case "int":
      control = html`<input ...${props} type="number" inputmode="numeric" min="0" step="1" />`;
      break;
    case "datetime":
      control = html`<input ...${props} type="datetime-local" />`;
      break;
    case "textarea":
      control = html`<textarea ...${props} rows="2" maxlength=${spec.maxLength}></textarea>`;
      break;
    case "lines":
    case "json":
      control = html`<textarea ...${props} rows=${spec.kind === "json" ? 3 : 2} spellcheck="false" class="mono"></textarea>`;
      break;
    default:
      control = html`<input ...${props} type="text" maxlength=${spec.maxLength} list=${spec.list} autocomplete="off" spellcheck="false" />`;
  }
  return html`<div class=${`field${error ? " invalid" : ""}${spec.kind === "json" || spec.kind === "lines" || spec.kind === "textarea" ? " wide" : ""}`}>
    <label for=${id}>${spec.label}${spec.required ? html`<span class="req" aria-hidden="true"> *</span>` : ""}</label>
    ${control}
    ${error ? html`<p class="field-error" id=${errorId}>${error}</p>` : ""}
    ${spec.hint ? html`<p class="hint" id=${hintId}>${spec.hint}</p>` : ""}
  </div>`;
}

/** The key form's sections as fieldsets (create shows every field; edit leaves out type and environment). */
export function KeyFields({ form, values, errors, onInput, edit = false }) {
  return SECTIONS.map(([legend, names]) => {
    const shown = names.filter((n) => !(edit && FIELDS[n].create));
    return html`<fieldset class="group">
      <legend>${legend}</legend>
      <div class="grid">
        ${shown.map((n) => html`<${Field} form=${form} name=${n} value=${values[n] ?? ""} error=${errors[n]} onInput=${onInput} edit=${edit} />`)}
      </div>
    </fieldset>`;
  });
}

/** Every control name a key form has. */
export const FIELD_NAMES = Object.keys(FIELDS);

/** Suggestions for the environment field (any configured name is accepted). */
export const EnvironmentList = () => html`<datalist id="kg-environments"><option value="live"></option><option value="test"></option></datalist>`;
