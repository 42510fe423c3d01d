// app.js — the dashboard's entry: asks the Worker whether a session exists
// (GET {prefix}/session), then shows either the sign-in page or the app
// shell (header, navigation, sign out) with the page the hash names.
import { html, render } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { getSession, onSignedOut, signOut } from "./api.js";
import { useRoute } from "./router.js";
import { CreatePage } from "./pages/create.js";
import { DetailPage } from "./pages/detail.js";
import { KeysPage } from "./pages/keys.js";
import { OverviewPage } from "./pages/overview.js";
import { SignInPage } from "./pages/signin.js";

const TITLES = { keys: "Keys", create: "Create key", overview: "Overview", detail: "Key" };

function App() {
  // undefined: still asking; null: signed out; else {actor, expires_at}.
  const [session, setSession] = useState(undefined);
  const [notice, setNotice] = useState("");

  useEffect(() => {
    getSession().then(setSession, () => setSession(null));
    onSignedOut((error) => {
      setNotice(error?.code === "session_expired" ? "Your session has expired. Sign in again." : "You are signed out. Sign in again.");
      setSession(null);
    });
  }, []);

  // End the session in the page when it ends at the Worker.
  useEffect(() => {
    const at = Date.parse(session?.expires_at ?? "");
    if (!Number.isFinite(at)) return undefined;
    const left = at - Date.now();
    const timer = setTimeout(() => {
      setNotice("Your session has expired. Sign in again.");
      setSession(null);
    }, Math.min(Math.max(left, 0), 2 ** 31 - 1));
    return () => clearTimeout(timer);
  }, [session?.expires_at]);

  if (session === undefined) return html`<main id="main"><h1>keygate admin</h1><p role="status">Loading…</p></main>`;
  if (!session) {
    return html`<${SignInPage} notice=${notice} onSignedIn=${(s) => { setNotice(""); setSession(s); }} />`;
  }
  return html`<${Shell} session=${session} onSignOut=${() => { setNotice("You are signed out."); setSession(null); }} />`;
}

function Shell({ session, onSignOut }) {
  const route = useRoute();
  const main = useRef(null);
  const first = useRef(true);
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState("");

  // A new page: its title, and focus at its start (not on the first render).
  useEffect(() => {
    document.title = `${TITLES[route.name]} · keygate admin`;
    if (first.current) first.current = false;
    else main.current?.focus({ preventScroll: false });
  }, [route.name, route.id]);

  async function out() {
    setBusy(true);
    setFailed("");
    try {
      await signOut();
    } catch (error) {
      // Without a session (401) there is nothing left to end; any other
      // failure left the session standing, and the page must not pretend.
      if (error.status !== 401) {
        setFailed(`Sign-out failed: ${error.message} Try again.`);
        setBusy(false);
        return;
      }
    }
    onSignOut();
  }

  const current = (name) => (route.name === name ? "page" : undefined);
  let page;
  if (route.name === "create") page = html`<${CreatePage} />`;
  else if (route.name === "detail") page = html`<${DetailPage} id=${route.id} key=${route.id} />`;
  else if (route.name === "overview") page = html`<${OverviewPage} />`;
  else page = html`<${KeysPage} route=${route} />`;

  return html`<a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); main.current?.focus(); }}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/keys">keygate <span>admin</span></a>
      <nav aria-label="Main">
        <ul>
          <li><a href="#/keys" aria-current=${current("keys")}>Keys</a></li>
          <li><a href="#/overview" aria-current=${current("overview")}>Overview</a></li>
          <li><a href="#/keys/new" aria-current=${current("create")}>Create key</a></li>
        </ul>
      </nav>
      <div class="who">
        <span>Signed in as <strong>${session.actor === "admin_token" ? "admin token" : session.actor}</strong></span>
        <button type="button" onClick=${out} disabled=${busy}>Sign out</button>
        ${failed && html`<p role="alert" class="note error">${failed}</p>`}
      </div>
    </header>
    <main id="main" ref=${main} tabindex="-1">${page}</main>`;
}

render(html`<${App} />`, document.getElementById("app"));
