// Overview: poll the JSON API every few seconds and redraw the tiles and SVG charts.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const { api } = window.Autoinfra;
  const { lineChart, legend, fmt, clock } = window.AutoinfraCharts;
  const pollS = Number(document.getElementById("tiles").dataset.pollS || 3);
  const set = (key, text) => {
    for (const n of document.querySelectorAll(`[data-live="${key}"]`)) n.textContent = text;
  };
  const COLORS = { cpu: "#2457c5", mem: "#8a3ffc", power: "#a86400", pending: "#b3261e",
    short: "#5b6776", on: "#1e7f4f" };

  function energyKwh(rows) {
    let j = 0;
    for (let i = 1; i < rows.length; i++) {
      j += rows[i - 1].power_w * (rows[i].time_s - rows[i - 1].time_s);
    }
    return j / 3.6e6;
  }

  function drawStates(machines) {
    const bars = document.getElementById("state-bars");
    const total = Math.max(1, machines.total);
    for (const span of bars.querySelectorAll("span")) {
      const name = span.className.replace("st-", "");
      const n = machines[name] || 0;
      span.style.width = (100 * n / total) + "%";   // CSSOM, allowed under style-src 'self'
      span.title = `${name}: ${n}`;
      set("state-" + name, String(n));
    }
  }

  function draw(rows) {
    const pts = (k) => rows.map((r) => [r.time_s, r[k]]);
    const charts = [
      ["util", [{ name: "CPU", color: COLORS.cpu, points: pts("cpu_utilization"), unit: "%" },
                { name: "memory", color: COLORS.mem, points: pts("mem_utilization"), unit: "%" }], { unit: "%", yMax: 1 }],
      ["power", [{ name: "power (W)", color: COLORS.power, points: pts("power_w") }], {}],
      ["pending", [{ name: "pending tasks", color: COLORS.pending, points: pts("pending_tasks") },
                   { name: "services short", color: COLORS.short, points: pts("services_short") }], { integer: true }],
      ["on", [{ name: "machines on", color: COLORS.on, points: pts("machines_on") }], { integer: true }],
    ];
    for (const [id, series, opts] of charts) {
      lineChart(document.getElementById("chart-" + id), series, opts);
      legend(document.getElementById("legend-" + id), series);
    }
    set("energy", energyKwh(rows).toFixed(2) + " kWh");
  }

  async function poll() {
    try {
      const [status, rows] = await Promise.all([api("/cluster/status"), api("/cluster/metrics?limit=720")]);
      const l = status.latest || {};
      set("time", clock(status.time_s || 0, true));
      set("cpu", fmt(l.cpu_utilization || 0, "%"));
      set("mem", fmt(l.mem_utilization || 0, "%"));
      set("power", ((l.power_w || 0) / 1000).toFixed(1) + " kW");
      set("pending", String(l.pending_tasks || 0));
      set("approvals", String(status.pending_approvals || 0));
      set("incidents", String(status.open_incidents || 0));
      for (const c of document.querySelectorAll('[data-live-count="pending_approvals"]')) {
        c.textContent = String(status.pending_approvals || 0);
      }
      drawStates(status.machines || { total: 0 });
      draw(rows);
    } catch (e) {
      window.Autoinfra.flash("live update failed: " + e.message, false);
    }
  }
  poll();
  setInterval(() => { if (!document.hidden) poll(); }, pollS * 1000);
  window.addEventListener("resize", poll);
});
