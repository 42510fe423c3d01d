// dialog.js — modal dialogs on the native <dialog> (showModal: focus is
// trapped, Escape closes): the one-time secret, shown with a Copy button,
// and a confirmation that names what it will do.
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";

let counter = 0;

/** A modal <dialog>, open while mounted; `onClose` runs when it closes (Escape included). */
export function Modal({ onClose, labelledBy, describedBy, className = "", children, dialogRef }) {
  const ref = useRef(null);
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  useEffect(() => {
    const dialog = ref.current;
    if (dialogRef) dialogRef.current = dialog;
    const closed = () => closeRef.current?.();
    dialog.addEventListener("close", closed);
    if (!dialog.open) dialog.showModal();
    return () => {
      dialog.removeEventListener("close", closed);
      if (dialog.open) dialog.close();
    };
  }, []);
  return html`<dialog ref=${ref} class=${`modal ${className}`} aria-labelledby=${labelledBy} aria-describedby=${describedBy}>${children}</dialog>`;
}

/**
 * Shows a new secret once: a read-only field, Copy (clipboard, or select
 * the text when the clipboard is unavailable), and the warning that it
 * will not be shown again. `onClose` runs when the dialog is dismissed.
 */
export function SecretDialog({ title, secret, children, onClose }) {
  const [id] = useState(() => `secret-${++counter}`);
  const [copied, setCopied] = useState("");
  const input = useRef(null);
  const dialog = useRef(null);

  async function copy() {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("Copied to the clipboard.");
    } catch {
      input.current.focus();
      input.current.select();
      let ok = false;
      try {
        ok = document.execCommand("copy");
      } catch {
        ok = false;
      }
      setCopied(ok ? "Copied to the clipboard." : "The key is selected: press Ctrl+C (⌘C on a Mac) to copy it.");
    }
  }

  return html`<${Modal} onClose=${onClose} labelledBy=${`${id}-title`} describedBy=${`${id}-warning`} className="secret-dialog" dialogRef=${dialog}>
    <h2 id=${`${id}-title`}>${title}</h2>
    <p id=${`${id}-warning`} class="note warning"><strong>Copy it now: you will not see it again.</strong> keygate keeps only a hash of it.</p>
    ${children}
    <label for=${`${id}-value`}>Secret key</label>
    <div class="copy-row">
      <input id=${`${id}-value`} ref=${input} class="secret" type="text" readonly value=${secret}
        spellcheck="false" autocomplete="off" autocapitalize="off" onFocus=${(e) => e.currentTarget.select()} />
      <button type="button" onClick=${copy}>Copy</button>
    </div>
    <p class="copied" role="status">${copied}</p>
    <div class="actions">
      <button type="button" class="primary" onClick=${() => dialog.current?.close()}>Done</button>
    </div>
  </${Modal}>`;
}

/**
 * Asks before an irreversible action: `title` and `children` say what will
 * happen; the confirm button's own label names the thing (`confirmLabel`).
 */
export function ConfirmDialog({ title, confirmLabel, onConfirm, onCancel, busy = false, error = null, children }) {
  const [id] = useState(() => `confirm-${++counter}`);
  const dialog = useRef(null);
  return html`<${Modal} onClose=${onCancel} labelledBy=${`${id}-title`} describedBy=${`${id}-body`} className="confirm-dialog" dialogRef=${dialog}>
    <h2 id=${`${id}-title`}>${title}</h2>
    <div id=${`${id}-body`}>${children}</div>
    ${error ? html`<p class="note error" role="alert">${error.message} ${error.code ? html`<code>${error.code}</code>` : ""}</p>` : ""}
    <div class="actions">
      <button type="button" autofocus onClick=${() => dialog.current?.close()}>Cancel</button>
      <button type="button" class="danger" disabled=${busy} onClick=${onConfirm}>${busy ? "Working…" : confirmLabel}</button>
    </div>
  </${Modal}>`;
}
