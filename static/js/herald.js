/* Herald's dashboard behaviour, loaded on every page by base.html.
   No inline scripts or on*="" attributes anywhere: the Content-Security-Policy forbids them, so pages declare
   what they want with data-* attributes and this file acts on them. */
(function () {
  "use strict";

  // <form data-confirm="…"> or a submit <button data-confirm="…">: ask before an irreversible action.
  // Listened to on the document in the capture phase, so it also covers forms HTMX swapped in later and runs
  // before HTMX's own submit handling.
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      var submitter = event.submitter;
      var message =
        (submitter && submitter.getAttribute("data-confirm")) || (form && form.getAttribute("data-confirm"));
      if (message && !window.confirm(message)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );
})();
