/* Journey builder: show only the inputs that belong to the chosen trigger, goal, step type and branch condition.
   Each block says which select it follows and for which values: data-show-for="trigger_type:event batch".
   No inline script: the page's Content-Security-Policy forbids it. Without this file every block shows. */
(function () {
  "use strict";

  function sync(root) {
    root.querySelectorAll("[data-show-for]").forEach(function (el) {
      var spec = el.getAttribute("data-show-for").split(":");
      var form = el.closest("form") || root;
      var select = form.querySelector('[name="' + spec[0] + '"]');
      if (!select) {
        return;
      }
      var wanted = spec[1].split(" ");
      el.hidden = wanted.indexOf(select.value) === -1;
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target && event.target.tagName === "SELECT") {
      sync(document);
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    sync(document);
  });
  sync(document);
})();
