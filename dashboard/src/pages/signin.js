// pages/signin.js — the sign-in form: the admin token (or an API key that
// holds `admin`) goes once, in the body of POST {prefix}/session; the
// Worker answers with an HttpOnly cookie. The token is never kept: the
// field is cleared as soon as it is sent.
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { signIn } from "../api.js";

export function SignInPage({ onSignedIn, notice }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const input = useRef(null);

  useEffect(() => {
    document.title = "Sign in · keygate admin";
    input.current?.focus();
  }, []);

  async function submit(e) {
    e.preventDefault();
    const field = input.current;
    const token = field.value;
    field.value = "";
    if (!token.trim()) {
      setError({ message: "Enter the admin token or an admin API key." });
      field.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const session = await signIn(token.trim());
      onSignedIn(session);
    } catch (err) {
      setError(err);
      setBusy(false);
      field.focus();
    }
  }

  return html`<main id="main" class="signin">
    <h1>keygate admin</h1>
    <p>Sign in with the deployment's admin token, or with an API key that holds the <code>admin</code> scope.</p>
    ${notice && !error ? html`<p class="note info" role="status">${notice}</p>` : ""}
    <form class="card" onSubmit=${submit} novalidate>
      <label for="signin-token">Admin token or admin API key</label>
      <input id="signin-token" ref=${input} name="token" type="password" autocomplete="current-password"
        spellcheck="false" aria-required="true" aria-invalid=${error ? "true" : undefined}
        aria-describedby=${error ? "signin-error signin-hint" : "signin-hint"} />
      <p class="hint" id="signin-hint">It is sent once to start a session (a secure cookie for this page only) and never stored by the page.</p>
      ${error
        ? html`<p class="field-error" id="signin-error" role="alert">${error.message}${error.code ? html` <code>${error.code}</code>` : ""}</p>`
        : ""}
      <button type="submit" class="primary" disabled=${busy}>${busy ? "Signing in…" : "Sign in"}</button>
    </form>
  </main>`;
}
