// router.js — hash routes: #/keys (with its filters as a query), #/keys/new,
// #/keys/<id>, #/overview. Only ids and filters ever go in a URL: never a
// token or a secret.
import { useEffect, useState } from "preact/hooks";

/** The route a hash names: {name, id?, params}. Unknown hashes are the key list. */
export function parse(hash) {
  const raw = hash.replace(/^#/, "");
  const [path, search = ""] = raw.split("?");
  const params = Object.fromEntries(new URLSearchParams(search));
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "overview" && parts.length === 1) return { name: "overview", params };
  if (parts[0] === "keys" && parts[1] === "new" && parts.length === 2) return { name: "create", params };
  if (parts[0] === "keys" && parts.length === 2) return { name: "detail", id: parts[1], params };
  return { name: "keys", params };
}

/** The hash for a route name (and id or query params). */
export function href(name, { id, params } = {}) {
  const q = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null)).toString() : "";
  const base = { keys: "#/keys", create: "#/keys/new", overview: "#/overview", detail: `#/keys/${encodeURIComponent(id ?? "")}` }[name];
  return q ? `${base}?${q}` : base;
}

/** Goes to a hash (a history entry, like following a link). */
export function navigate(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

/** The current route, re-rendering on every hash change. */
export function useRoute() {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const update = () => setRoute(parse(location.hash));
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}
