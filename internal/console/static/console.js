// backupbridge operator console: the one script (CSP script-src 'self').
// A POST form is sent once: after the first submit its buttons are disabled
// (and a second submit is ignored), so a double click sends one request.
// The server also answers a repeated form (same nonce) with the first answer.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") {
      return;
    }
    if (form.getAttribute("data-submitted") === "1") {
      ev.preventDefault();
      return;
    }
    form.setAttribute("data-submitted", "1");
    form.setAttribute("aria-busy", "true");
    // After this event: a button disabled during it would not be sent.
    window.setTimeout(function () {
      var buttons = form.querySelectorAll("button[type=submit], input[type=submit]");
      for (var i = 0; i < buttons.length; i++) {
        buttons[i].disabled = true;
      }
    }, 0);
  });
  // Back/forward cache: a page shown again gets working buttons back.
  window.addEventListener("pageshow", function (ev) {
    if (!ev.persisted) {
      return;
    }
    var forms = document.querySelectorAll("form[data-submitted]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].removeAttribute("data-submitted");
      forms[i].removeAttribute("aria-busy");
      var buttons = forms[i].querySelectorAll("button, input[type=submit]");
      for (var j = 0; j < buttons.length; j++) {
        buttons[j].disabled = false;
      }
    }
  });
})();
