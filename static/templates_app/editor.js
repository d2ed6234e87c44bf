/* The template form's code editor: CodeMirror over the message textarea, with the highlighting of the chosen
 * templating type (MJML as XML, HTML, plain text).
 *
 * Progressive: without JavaScript (or if CodeMirror failed to load) the plain textarea stays and works. The
 * textarea stays the form field: every edit is copied back to it and announced with an `input` event, so the
 * form's HTMX live preview (hx-trigger "input changed") and a normal submit both see what is in the editor.
 */
(function () {
  "use strict";

  var MODES = { mjml: "xml", html: "htmlmixed", text: "text/plain" };

  function modeFor(select) {
    return (select && MODES[select.value]) || "xml";
  }

  function attach(textarea) {
    if (typeof window.CodeMirror !== "function" || textarea.dataset.codeEditorReady) {
      return;
    }
    textarea.dataset.codeEditorReady = "1";
    var form = textarea.form;
    var typeSelect = form ? form.querySelector("[name=templating_type]") : null;
    var editor = window.CodeMirror.fromTextArea(textarea, {
      mode: modeFor(typeSelect),
      lineNumbers: true,
      lineWrapping: true,
      indentUnit: 2,
      tabSize: 2,
      autoCloseTags: true,
      viewportMargin: Infinity,
    });
    editor.getWrapperElement().classList.add("herald-code-editor", "form-control", "p-0");

    editor.on("change", function () {
      editor.save();
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
    });
    if (typeSelect) {
      typeSelect.addEventListener("change", function () {
        editor.setOption("mode", modeFor(typeSelect));
      });
    }
    if (form) {
      // The editor copies on every change already; this also covers a submit straight after a paste.
      form.addEventListener("submit", function () {
        editor.save();
      });
    }
    // A label click focuses the editor, as it focused the textarea.
    var label = textarea.id ? document.querySelector("label[for='" + textarea.id + "']") : null;
    if (label) {
      label.addEventListener("click", function () {
        editor.focus();
      });
    }
  }

  function init() {
    document.querySelectorAll("textarea[data-code-editor]").forEach(attach);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
