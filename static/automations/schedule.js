/* Automation form: show only the builder inputs of the chosen "Repeat" at once (the server renders the same
   on every htmx swap of #schedule). No inline script: the page's Content-Security-Policy forbids it. */
(function () {
  "use strict";

  function sync(root) {
    var mode = root.querySelector('select[name="mode"]');
    if (!mode) {
      return;
    }
    root.querySelectorAll("[data-modes]").forEach(function (el) {
      el.hidden = el.getAttribute("data-modes").split(" ").indexOf(mode.value) === -1;
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "mode") {
      sync(document);
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    sync(document);
  });
  sync(document);
})();
