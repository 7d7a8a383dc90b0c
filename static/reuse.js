// The inbox's Copy buttons: copy a snippet and note the use. A static file,
// not inline, because the Content-Security-Policy allows scripts from 'self' only.
// Without JavaScript the readonly textareas can still be selected and copied.
(function () {
  "use strict";
  function note(button, text) {
    var box = button.closest("details");
    var status = box && box.querySelector("[data-copy-status]");
    if (status) { status.textContent = text; }
  }
  function recordUse(button) {
    var body = new FormData();
    body.append("csrf_token", button.dataset.csrf);
    body.append("channel", "copy");
    return fetch(button.dataset.used, { method: "POST", body: body, credentials: "same-origin" });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) { return; }
    var area = document.getElementById(button.dataset.copy);
    if (!area) { return; }
    area.select();
    var copied = navigator.clipboard
      ? navigator.clipboard.writeText(area.value)
      : Promise.reject(new Error("no clipboard"));
    copied.then(function () {
      note(button, "Copied.");
      recordUse(button).catch(function () {});
    }, function () {
      note(button, "Selected: press Ctrl+C (or Cmd+C) to copy.");
    });
  });
})();
