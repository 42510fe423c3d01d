// Builds the admin dashboard into the Worker's static assets:
// dashboard/src/app.js → build/assets/ui/app.js (one minified ES module),
// dashboard/src/app.css + uPlot's CSS → build/assets/ui/app.css, and
// dashboard/index.html → build/assets/ui/index.html. Run from the repo
// root: `node dashboard/build.mjs`. Writes nothing outside build/assets/ui/.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const src = path.join(root, "dashboard", "src");
const out = path.join(root, "build", "assets", "ui");
mkdirSync(out, { recursive: true });

const common = { bundle: true, minify: true, target: "es2020", legalComments: "none", logLevel: "warning", absWorkingDir: root };

await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: [path.join(src, "app.js")],
    outfile: path.join(out, "app.js"),
    format: "esm",
    platform: "browser",
    define: { "process.env.NODE_ENV": '"production"' },
  }),
  esbuild.build({
    ...common,
    // One stylesheet: uPlot's first, ours after it (ours may refine it).
    stdin: {
      contents: `@import "uplot/dist/uPlot.min.css";\n@import "./app.css";\n`,
      resolveDir: src,
      loader: "css",
      sourcefile: "dashboard.css",
    },
    outfile: path.join(out, "app.css"),
  }),
]);
copyFileSync(path.join(root, "dashboard", "index.html"), path.join(out, "index.html"));

let raw = 0;
let gz = 0;
for (const name of ["index.html", "app.js", "app.css"]) {
  const file = path.join(out, name);
  const size = statSync(file).size;
  const zipped = gzipSync(readFileSync(file), { level: 9 }).length;
  raw += size;
  gz += zipped;
  console.log(`${path.relative(root, file).padEnd(28)} ${(size / 1024).toFixed(1).padStart(6)} KiB  ${(zipped / 1024).toFixed(1).padStart(5)} KiB gzip`);
}
console.log(`${"total".padEnd(28)} ${(raw / 1024).toFixed(1).padStart(6)} KiB  ${(gz / 1024).toFixed(1).padStart(5)} KiB gzip`);
