// Small SVG line charts, no library: a chart is an <svg class="chart"> redrawn from arrays.
// Every element is created with createElementNS and text goes through textContent, so nothing
// from the data is ever parsed as markup.
"use strict";

(function (global) {
  const NS = "http://www.w3.org/2000/svg";
  const PAD = { left: 48, right: 12, top: 10, bottom: 26 };

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function fmt(v, unit) {
    if (unit === "%") return Math.round(v * 100) + "%";
    if (Math.abs(v) >= 10000) return (v / 1000).toFixed(0) + "k";
    if (Math.abs(v) >= 1000) return (v / 1000).toFixed(1) + "k";
    return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }

  function clock(s, withSeconds) {
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    const hm = h + ":" + String(m).padStart(2, "0");
    return withSeconds ? hm + ":" + String(sec).padStart(2, "0") : hm;
  }

  // series: [{name, color, points: [[x, y], ...]}]; opts: {unit, yMax}
  function lineChart(svg, series, opts) {
    opts = opts || {};
    const w = svg.clientWidth || 480, h = svg.clientHeight || 220;
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const all = series.flatMap((s) => s.points);
    if (all.length < 2) {
      const t = el("text", { x: w / 2, y: h / 2, "text-anchor": "middle" }, svg);
      t.textContent = "waiting for data…";
      return;
    }
    const xs = all.map((p) => p[0]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
    const top = Math.max(...all.map((p) => p[1]));
    // counts (tasks, machines) get whole-number ticks: at least 0..4, steps that divide evenly
    const yMax = opts.yMax || (opts.integer ? Math.max(4, niceMax(top)) : niceMax(top));
    const steps = opts.unit === "%" || yMax % 4 === 0 ? 4 : 5;
    const iw = w - PAD.left - PAD.right, ih = h - PAD.top - PAD.bottom;
    const X = (x) => PAD.left + ((x - x0) / (x1 - x0)) * iw;
    const Y = (y) => PAD.top + ih - (Math.min(y, yMax) / yMax) * ih;

    const grid = el("g", { class: "grid" }, svg);
    for (let i = 0; i <= steps; i++) {
      const v = (yMax * i) / steps, y = Y(v);
      el("line", { x1: PAD.left, x2: w - PAD.right, y1: y, y2: y }, grid);
      const t = el("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end" }, svg);
      t.textContent = fmt(v, opts.unit);
    }
    const axis = el("g", { class: "axis" }, svg);
    el("line", { x1: PAD.left, x2: w - PAD.right, y1: Y(0), y2: Y(0) }, axis);
    const ticks = Math.max(2, Math.min(6, Math.floor(iw / 90)));
    for (let i = 0; i <= ticks; i++) {
      const x = x0 + ((x1 - x0) * i) / ticks;
      // the end labels hang inwards, so they are not cut off at the chart's edges
      const anchor = i === 0 ? "start" : i === ticks ? "end" : "middle";
      const t = el("text", { x: X(x), y: h - 8, "text-anchor": anchor }, svg);
      t.textContent = clock(x, x1 - x0 < 1800);  // a short span needs seconds to tell ticks apart
    }
    for (const s of series) {
      if (!s.points.length) continue;
      const d = s.points.map((p, i) => (i ? "L" : "M") + X(p[0]).toFixed(1) + " " + Y(p[1]).toFixed(1)).join("");
      el("path", { d, class: "series", stroke: s.color }, svg);
    }
  }

  // a legend built as DOM next to the chart (HTML text, escaped by textContent)
  function legend(container, series) {
    container.replaceChildren();
    for (const s of series) {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = s.color;
      item.appendChild(swatch);
      const last = s.points.length ? s.points[s.points.length - 1][1] : null;
      item.appendChild(document.createTextNode(s.name + (last === null ? "" : ": " + fmt(last, s.unit))));
      container.appendChild(item);
    }
  }

  global.AutoinfraCharts = { lineChart, legend, fmt, clock };
})(window);
