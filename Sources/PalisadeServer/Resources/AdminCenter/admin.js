// Palisade admin center: small enhancements only. Every form works without this file.
"use strict";
(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // Confirm before destructive actions (forms marked data-confirm).
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // Filter a table's rows as you type (input[data-filter-table="tableId"]).
  document.querySelectorAll("input[data-filter-table]").forEach((input) => {
    const table = document.getElementById(input.getAttribute("data-filter-table"));
    if (!table) return;
    input.addEventListener("input", () => {
      const needle = input.value.trim().toLowerCase();
      table.querySelectorAll("tbody tr").forEach((row) => {
        row.classList.toggle("hidden", needle !== "" && !row.textContent.toLowerCase().includes(needle));
      });
    });
  });

  // Live preview of a dynamic group's rule (textarea[data-rule-preview]): which devices it
  // selects, or where the rule is wrong, through the admin API with the session's CSRF token.
  document.querySelectorAll("textarea[data-rule-preview]").forEach((area) => {
    const output = document.getElementById(area.getAttribute("data-rule-preview"));
    const errorLine = document.getElementById(area.id + "-error");
    let timer = null;
    const show = async () => {
      const rule = area.value.trim();
      if (!output) return;
      if (rule === "") { output.textContent = "Type a rule to see the devices it selects."; return; }
      try {
        const response = await fetch("/api/v1/groups/preview", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
          body: JSON.stringify({ membershipRule: rule }),
        });
        const body = await response.json();
        output.textContent = "";
        if (!response.ok) {
          const error = body.error || {};
          const position = error.details && typeof error.details.position === "number" ? error.details.position : null;
          const text = (error.message || "the rule is not valid") + (position !== null ? " (at character " + (position + 1) + ")" : "");
          if (errorLine) { errorLine.textContent = text; errorLine.classList.remove("hidden"); }
          area.setAttribute("aria-invalid", "true");
          output.textContent = "No preview while the rule has an error.";
          return;
        }
        if (errorLine) { errorLine.textContent = ""; errorLine.classList.add("hidden"); }
        area.removeAttribute("aria-invalid");
        const heading = document.createElement("p");
        heading.className = "preview-count";
        heading.textContent = body.count + (body.count === 1 ? " device matches" : " devices match") + (body.sample.length < body.count ? " (first " + body.sample.length + " shown)" : "");
        output.appendChild(heading);
        const list = document.createElement("ul");
        body.sample.forEach((device) => {
          const item = document.createElement("li");
          item.textContent = device.name + " (" + device.platform + ")";
          list.appendChild(item);
        });
        output.appendChild(list);
      } catch (e) {
        output.textContent = "Preview unavailable: " + e;
      }
    };
    area.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(show, 300); });
    show();
  });

  // "Add a row" for list settings: copies the last row of the list with empty inputs.
  document.querySelectorAll("button[data-add-row]").forEach((button) => {
    button.classList.remove("hidden");
    button.addEventListener("click", () => {
      const body = document.getElementById(button.getAttribute("data-add-row"));
      if (!body || !body.lastElementChild) return;
      const copy = body.lastElementChild.cloneNode(true);
      copy.querySelectorAll("input, textarea").forEach((input) => { input.value = ""; input.removeAttribute("aria-invalid"); });
      copy.querySelectorAll("select").forEach((select) => { select.selectedIndex = 0; });
      body.appendChild(copy);
    });
  });
})();
