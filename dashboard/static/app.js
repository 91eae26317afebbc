/* tracehouse dashboard: behaviour shared by every page (no inline script anywhere; CSP script-src 'self'). */
"use strict";
(function () {
  // Window pickers submit on change.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });
  // "/" focuses the page's search box (unless typing already).
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    var box = document.querySelector("[data-hotkey='/']");
    if (box) { ev.preventDefault(); box.focus(); }
  });
})();
