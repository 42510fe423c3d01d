// pages/create.js — issuing a key: every field of POST /v1/keys, the API's
// 422 shown next to the control it names, and the new secret shown once in
// a dialog; closing it goes to the key's page.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { call } from "../api.js";
import { SecretDialog } from "../dialog.js";
import { bodyOf, controlId, EnvironmentList, FIELD_NAMES, KeyFields, submitKeyForm } from "../keyform.js";
import { href, navigate } from "../router.js";
import { ErrorNote } from "../ui.js";

const FORM = "create";

export function CreatePage() {
  const [values, setValues] = useState({ environment: "live" });
  const [errors, setErrors] = useState({});
  const [general, setGeneral] = useState(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState(null);
  const [focus, setFocus] = useState(0);

  // After a refusal, move to the first control that needs fixing.
  useEffect(() => {
    if (!focus) return;
    const first = FIELD_NAMES.find((n) => errors[n]);
    if (first) document.getElementById(controlId(FORM, first))?.focus();
    else document.getElementById("create-error")?.focus();
  }, [focus]);

  const onInput = (name, value) => setValues((v) => ({ ...v, [name]: value }));

  async function submit(e) {
    e.preventDefault();
    const { body, errors: local } = bodyOf(values);
    setGeneral(null);
    if (Object.keys(local).length) {
      setErrors(local);
      setFocus((n) => n + 1);
      return;
    }
    await submitKeyForm(() => call("/v1/keys", { method: "POST", body }), setCreated, { setBusy, setErrors, setGeneral, setFocus });
  }

  function done() {
    const id = created.id;
    setCreated(null);
    navigate(href("detail", { id }));
  }

  return html`<div class="page-head"><h1>Create key</h1></div>
    <p>Only <strong>Name</strong> and <strong>Environment</strong> are required; everything left empty takes the deployment's defaults.</p>
    <div id="create-error" tabindex="-1">${general ? html`<${ErrorNote} error=${general} title="The key was not created" />` : ""}</div>
    <form class="key-form" onSubmit=${submit} novalidate aria-label="New key">
      <${EnvironmentList} />
      <${KeyFields} form=${FORM} values=${values} errors=${errors} onInput=${onInput} />
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>${busy ? "Creating…" : "Create key"}</button>
        <a class="button" href="#/keys">Cancel</a>
      </div>
    </form>
    ${created
      ? html`<${SecretDialog} title=${`Key “${created.name}” created`} secret=${created.key} onClose=${done}>
          <p>Give this secret to the client that will call your API (<code>Authorization: Bearer …</code> or <code>X-API-Key</code>). From now on the dashboard shows it only as <code>${created.display}</code>.</p>
        </${SecretDialog}>`
      : ""}`;
}
