// The entry's one pass over the request headers (src/api/entry.rs), done
// here and handed to Rust as one string: one crossing per request, where
// reading the headers from wasm crossed some five times per header.
// Nothing is decided here; Rust reads the string (see `HeaderPass`).

/** The headers Rust reads, in the order of their lines in the answer. */
const READ = [
  "content-length",
  "transfer-encoding",
  "authorization",
  "x-api-key",
  "cf-connecting-ip",
  "origin",
  "access-control-request-method",
  "access-control-request-headers",
  "cookie",
  "sec-fetch-site",
  "cf-ipcountry",
  "cf-ray",
];
const LINE = new Map(READ.map((name, i) => [name, i]));
/** Headers with which frameworks let a request claim another method (dropped). */
const METHOD_OVERRIDES = new Set(["x-http-method-override", "x-http-method", "x-method-override"]);
const NON_ASCII = /[^\x00-\x7f]/;
const encoder = new TextEncoder();

/** `text`'s length in UTF-8 bytes, as Rust counts it. */
const utf8Length = (text) => (NON_ASCII.test(text) ? encoder.encode(text).length : text.length);

/**
 * One pass over `headers` (lowercase names; a repeated header as the
 * runtime joins it): the headers' size in bytes (names and values, UTF-8),
 * the names to drop (`x-keygate-*` and method overrides, comma-separated),
 * then one line per name of READ: empty when absent, else `=` and the value.
 * Header values hold no line breaks, header names no commas.
 */
export function headerPass(headers) {
  const values = new Array(READ.length).fill("");
  const dropped = [];
  let bytes = 0;
  for (const [name, value] of headers) {
    bytes += name.length + utf8Length(value);
    if (name.startsWith("x-keygate-") || METHOD_OVERRIDES.has(name)) dropped.push(name);
    const line = LINE.get(name);
    if (line !== undefined) values[line] = "=" + value;
  }
  return `${bytes}\n${dropped.join(",")}\n${values.join("\n")}`;
}
