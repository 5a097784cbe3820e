// Audit page: the verify button asks the API to re-read and check the whole chain.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("verify");
  const out = document.getElementById("verify-result");
  button.addEventListener("click", async () => {
    button.disabled = true;
    out.textContent = "checking…";
    out.className = "verify-result";
    try {
      const r = await window.Autoinfra.api("/audit/verify");
      if (r.valid) {
        out.textContent = `chain holds: ${r.records} records verified`;
        out.className = "verify-result chip ok";
      } else {
        out.textContent = `chain BROKEN at record ${r.first_invalid} (of ${r.records})`;
        out.className = "verify-result chip bad";
      }
    } catch (e) {
      out.textContent = "verify failed: " + e.message;
      out.className = "verify-result chip bad";
    } finally {
      button.disabled = false;
    }
  });
});
