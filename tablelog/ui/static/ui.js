// tablelog ui: small enhancements only; every page works without script.
(function () {
  "use strict";
  // Anything the Content-Security-Policy blocked is counted on <body> (the tests read it).
  var blocked = 0;
  document.addEventListener("securitypolicyviolation", function () {
    blocked += 1;
    document.body.setAttribute("data-csp-blocked", String(blocked));
  });
  // A select marked data-autosubmit submits its form when changed (the picker).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });
  // The runs page: a header checkbox that selects every run shown.
  var all = document.getElementById("pick-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="run"]').forEach(function (c) {
        c.checked = all.checked;
      });
    });
  }
  // Left/right arrow keys page through a table (outside text fields).
  document.addEventListener("keydown", function (e) {
    var t = e.target && e.target.tagName;
    if (t === "INPUT" || t === "SELECT" || t === "TEXTAREA" || e.altKey || e.ctrlKey || e.metaKey) return;
    var a = document.getElementById(e.key === "ArrowRight" ? "next" : e.key === "ArrowLeft" ? "prev" : "");
    if (a) location.href = a.href;
  });
  document.body.setAttribute("data-ready", "1");
})();
