// outcomes.js — the decisions keygate counts, in the order the dashboard
// lists them, with a readable label and a chart colour each (colours and
// dashes chosen to stay distinguishable without colour vision).
export const OUTCOMES = [
  ["valid", "Valid", "#1a7f37", []],
  ["rate_limited", "Rate limited", "#b35900", [6, 3]],
  ["credits_exhausted", "Credits exhausted", "#7a3db8", [2, 3]],
  ["insufficient_permissions", "Insufficient permissions", "#c2185b", [8, 3, 2, 3]],
  ["route_not_allowed", "Route not allowed", "#6d4c41", [4, 4]],
  ["ip_not_allowed", "IP not allowed", "#00838f", [10, 4]],
  ["key_expired", "Key expired", "#8d6e00", [2, 2]],
  ["key_revoked", "Key revoked", "#455a64", [12, 3, 3, 3]],
  ["origin_error", "Origin error", "#d32f2f", [1, 3]],
  ["missing_api_key", "Missing API key", "#3949ab", [5, 2]],
  ["invalid_api_key", "Invalid API key", "#ad1457", [3, 6]],
  ["request_too_large", "Request too large", "#2e7d32", [9, 2, 1, 2]],
];

const BY_NAME = new Map(OUTCOMES.map(([name, label, color, dash]) => [name, { name, label, color, dash }]));

/** Label, colour and dash for an outcome (unknown ones get a neutral look). */
export const outcome = (name) => BY_NAME.get(name) ?? { name, label: name.replace(/_/g, " "), color: "#555", dash: [] };

/** The outcomes present in a Counts object, in list order (unknown ones last). */
export function present(counts = {}) {
  const known = OUTCOMES.map(([n]) => n).filter((n) => counts[n]);
  const other = Object.keys(counts).filter((n) => !BY_NAME.has(n));
  return [...known, ...other];
}

/** Every refusal: any outcome but `valid` and `origin_error` (which counts admitted requests). */
export const isRefusal = (name) => name !== "valid" && name !== "origin_error";
