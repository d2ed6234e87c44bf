/* Show only the definition fields of the chosen segment type. */
(function () {
  "use strict";
  const type = document.getElementById("id_type");
  if (!type) return;
  function sync() {
    document.querySelectorAll(".segment-type-panel").forEach((p) => p.classList.toggle("d-none", p.dataset.type !== type.value));
  }
  type.addEventListener("change", sync);
  sync();
})();
