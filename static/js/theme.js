// Colour mode: follow the system setting unless the user picked one with the toggle.
// Loaded in <head> (not deferred) so the page never flashes the wrong theme.
(function () {
  "use strict";
  var stored = null;
  try { stored = localStorage.getItem("theme"); } catch (e) { /* private mode */ }
  function preferred() {
    if (stored === "light" || stored === "dark") return stored;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function apply(theme) {
    document.documentElement.setAttribute("data-bs-theme", theme);
    var button = document.getElementById("theme-toggle");
    if (button) {
      var next = theme === "dark" ? "light" : "dark";
      button.setAttribute("aria-label", "Switch to " + next + " mode");
      button.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
      button.textContent = theme === "dark" ? "☀︎" : "☾";
    }
  }
  apply(preferred());
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () {
    if (stored !== "light" && stored !== "dark") apply(preferred());
  });
  document.addEventListener("DOMContentLoaded", function () {
    apply(preferred());
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    button.addEventListener("click", function () {
      stored = document.documentElement.getAttribute("data-bs-theme") === "dark" ? "light" : "dark";
      try { localStorage.setItem("theme", stored); } catch (e) { /* private mode */ }
      apply(stored);
    });
  });
})();
