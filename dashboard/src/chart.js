// chart.js — usage over time with uPlot: one line per outcome over the
// usage answer's range (empty buckets filled with zero), sized to its
// container. Screen readers get a summary and a table of the same numbers.
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { outcome, present } from "./outcomes.js";
import { bucketLabel } from "./time.js";
import { fmt } from "./ui.js";

const STEP = { minute: 60, hour: 3600, day: 86400 };
const HEIGHT = 220;

/** x (bucket starts, unix s) and one array per outcome, from a usage answer. */
export function series(usage) {
  const step = STEP[usage.granularity] ?? 3600;
  const from = Math.floor(Date.parse(usage.from) / 1000);
  const to = Math.floor(Date.parse(usage.to) / 1000);
  const names = present(usage.totals);
  const x = [];
  for (let t = from; t <= to && x.length < 1000; t += step) x.push(t);
  const index = new Map(x.map((t, i) => [t, i]));
  const ys = names.map(() => x.map(() => 0));
  for (const bucket of usage.buckets ?? []) {
    const i = index.get(Math.floor(Date.parse(bucket.start) / 1000));
    if (i === undefined) continue;
    names.forEach((name, s) => {
      ys[s][i] = bucket.outcomes?.[name]?.count ?? 0;
    });
  }
  return { x, names, ys, step };
}

/** A figure with the chart, its legend and its numbers as a table. */
export function UsageChart({ usage, title }) {
  const box = useRef(null);
  const { x, names, ys } = series(usage);
  const total = names.reduce((sum, n) => sum + (usage.totals[n]?.count ?? 0), 0);

  useEffect(() => {
    const el = box.current;
    if (!el || !names.length) return undefined;
    const opts = {
      width: Math.max(200, el.clientWidth),
      height: HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.1))] } },
      axes: [
        { stroke: "#3d4450", grid: { stroke: "#e3e6ea" }, ticks: { stroke: "#c9ced6" } },
        {
          stroke: "#3d4450",
          grid: { stroke: "#e3e6ea" },
          ticks: { stroke: "#c9ced6" },
          values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? fmt(t) : "")),
        },
      ],
      series: [
        {},
        ...names.map((name) => {
          const o = outcome(name);
          return { label: o.label, stroke: o.color, width: 2, dash: o.dash, points: { show: true, size: 5, fill: o.color } };
        }),
      ],
    };
    const plot = new uPlot(opts, [x, ...ys], el);
    const resize = new ResizeObserver(() => {
      const width = Math.max(200, el.clientWidth);
      if (width !== plot.width) plot.setSize({ width, height: HEIGHT });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [usage]);

  const summary = names.length
    ? `${title}: ${names.map((n) => `${outcome(n).label} ${fmt(usage.totals[n].count)}`).join(", ")}.`
    : `${title}: no requests.`;
  return html`<figure class="chart">
    <figcaption>${title} <span class="muted">(${fmt(total)} in all)</span></figcaption>
    ${names.length
      ? html`<div class="chart-box" ref=${box} role="img" aria-label=${summary}></div>
          <ul class="legend" aria-hidden="true">
            ${names.map((n) => html`<li><span class=${`swatch o-${n}`}></span>${outcome(n).label}</li>`)}
          </ul>
          <details class="chart-data">
            <summary>Show these numbers as a table</summary>
            <div class="table-wrap" tabindex="0" role="region" aria-label=${`${title}, as a table`}>
              <table>
                <thead><tr><th scope="col">Period</th>${names.map((n) => html`<th scope="col">${outcome(n).label}</th>`)}</tr></thead>
                <tbody>
                  ${x.map((t, i) =>
                    names.some((_, s) => ys[s][i])
                      ? html`<tr><th scope="row">${bucketLabel(t, usage.granularity)}</th>${ys.map((y) => html`<td>${fmt(y[i])}</td>`)}</tr>`
                      : null,
                  )}
                </tbody>
              </table>
            </div>
          </details>`
      : html`<p class="muted">No requests in this period.</p>`}
  </figure>`;
}
