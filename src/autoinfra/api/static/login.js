// The login page: the token goes to POST /api/v1/session as JSON; the answer sets the session
// and CSRF cookies, then the browser goes on to the page it came for. The token is never stored.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("login");
  const box = document.getElementById("flash");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = document.getElementById("token").value.trim();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const res = await fetch(form.action, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ token }),
        credentials: "same-origin",
      });
      if (!res.ok) {
        let reason = res.statusText;
        try { const data = await res.json(); reason = data.error || JSON.stringify(data.detail); } catch (e) { /* keep */ }
        throw new Error(`${res.status}: ${reason}`);
      }
      const next = new URLSearchParams(location.search).get("next") || "/ui/";
      // only ever a path on this site, never another origin
      location.href = next.startsWith("/") && !next.startsWith("//") ? next : "/ui/";
    } catch (e) {
      box.textContent = "Login refused: " + e.message;
      box.hidden = false;
      button.disabled = false;
    }
  });
});
