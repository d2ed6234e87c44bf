/* Calendar: drag a draft or scheduled scenario ([data-move-url]) onto another day ([data-day]) to move it.
   The drop posts {send_date, view, date} with htmx to the scenario's move URL, which answers the re-rendered
   #calendar (with the message: moved, or why not). No inline script (CSP); the week view also has a plain form
   per movable scenario for keyboards and browsers without drag and drop. */
(function () {
  "use strict";
  var dragged = null;

  function csrfHeaders() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}"); } catch (e) { return {}; }
  }
  function dayOf(target) { return target && target.closest ? target.closest("[data-day]") : null; }

  document.addEventListener("dragstart", function (event) {
    var item = event.target.closest && event.target.closest("[data-move-url]");
    if (!item) return;
    dragged = item;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", item.getAttribute("data-move-url"));
  });
  document.addEventListener("dragend", function () {
    dragged = null;
    document.querySelectorAll(".calendar-drop").forEach(function (el) { el.classList.remove("calendar-drop"); });
  });
  document.addEventListener("dragover", function (event) {
    var day = dayOf(event.target);
    if (!dragged || !day) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    document.querySelectorAll(".calendar-drop").forEach(function (el) { if (el !== day) el.classList.remove("calendar-drop"); });
    day.classList.add("calendar-drop");
  });
  document.addEventListener("drop", function (event) {
    var day = dayOf(event.target);
    if (!dragged || !day) return;
    event.preventDefault();
    var calendar = document.getElementById("calendar");
    var url = dragged.getAttribute("data-move-url");
    dragged = null;
    day.classList.remove("calendar-drop");
    window.htmx.ajax("POST", url, {
      target: "#calendar",
      swap: "outerHTML",
      headers: csrfHeaders(),
      values: {
        send_date: day.getAttribute("data-day"),
        view: calendar.getAttribute("data-view"),
        date: calendar.getAttribute("data-date"),
      },
    });
  });
})();
