// Shared by every dashboard page: the API client (session cookie + CSRF header), the flash line,
// forms that post JSON to the API, and log out. No framework; no inline script anywhere (CSP).
"use strict";

(function (global) {
  const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";
  const API = meta("api-base") || "/api/v1";

  function csrf() {
    // the meta tag is rendered with the page; the cookie is the fallback after a re-login
    const m = meta("csrf-token");
    if (m) return m;
    const hit = document.cookie.split("; ").find((c) => c.startsWith("autoinfra_csrf="));
    return hit ? decodeURIComponent(hit.split("=")[1]) : "";
  }

  async function api(path, opts) {
    opts = opts || {};
    const headers = { Accept: "application/json" };
    let body;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.json);
    }
    const method = opts.method || (body ? "POST" : "GET");
    if (method !== "GET") headers["X-CSRF-Token"] = csrf();
    const res = await fetch(API + path, { method, headers, body, credentials: "same-origin" });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const reason = (data && (data.error || data.detail)) || res.statusText;
      const err = new Error(`${res.status}: ${typeof reason === "string" ? reason : JSON.stringify(reason)}`);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function flash(text, ok) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.className = "flash " + (ok ? "ok" : "bad");
    box.hidden = false;
  }

  // <form data-api="/path/{field}" data-method="POST" data-fields="a,b" data-then="reload">
  // posts the named fields as JSON; {field} in the path is filled from the form. A button with a
  // data-api attribute of its own overrides the form's (approve and reject share one form).
  function wireForms(root) {
    for (const form of (root || document).querySelectorAll("form[data-api]")) {
      if (form.dataset.wired) continue;
      form.dataset.wired = "1";
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const button = ev.submitter;
        let path = (button && button.dataset.api) || form.dataset.api;
        const fd = new FormData(form);
        path = path.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(fd.get(k) || ""));
        const json = {};
        for (const name of (form.dataset.fields || "").split(",").filter(Boolean)) {
          json[name] = String(fd.get(name) || "");
        }
        for (const b of form.querySelectorAll("button")) b.disabled = true;
        try {
          const out = await api(path, { method: form.dataset.method || "POST", json });
          let said = (button && button.dataset.done) || form.dataset.done || "done";
          // an approval of a high-risk request may be one vote of several: say so
          if (out && out.recorded && out.decided === false) {
            said = `vote recorded: ${out.votes} of ${out.approvers_required} needed`;
          }
          flash(said, true);
          form.dispatchEvent(new CustomEvent("api:done", { detail: out, bubbles: true }));
          if (form.dataset.then === "reload") setTimeout(() => location.reload(), 700);
        } catch (e) {
          flash(e.message, false);
          for (const b of form.querySelectorAll("button")) b.disabled = false;
        }
      });
    }
  }

  function wireLogout() {
    const form = document.getElementById("logout");
    if (!form) return;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try { await api("/session", { method: "DELETE" }); } catch (e) { /* gone already */ }
      location.href = form.dataset.login || "/ui/login";
    });
  }

  // Elements with data-refresh-s reload their own HTML fragment from the same page every few
  // seconds (server-rendered, escaped), unless someone is typing in them.
  function wireRefresh() {
    for (const box of document.querySelectorAll("[data-refresh-s]")) {
      const every = Math.max(2, Number(box.dataset.refreshS)) * 1000;
      setInterval(async () => {
        const busy = box.contains(document.activeElement) ||
          [...box.querySelectorAll("textarea, input[type=text]")].some((f) => f.value);
        if (busy || document.hidden) return;
        try {
          const res = await fetch(location.href, { credentials: "same-origin" });
          if (!res.ok) return;
          const doc = new DOMParser().parseFromString(await res.text(), "text/html");
          const fresh = doc.getElementById(box.id);
          if (fresh) {
            box.replaceChildren(...fresh.childNodes);
            wireForms(box);
          }
        } catch (e) { /* the next round will try again */ }
      }, every);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    wireForms(document);
    wireLogout();
    wireRefresh();
  });

  global.Autoinfra = { api, flash, csrf, API };
})(window);
