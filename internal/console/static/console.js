// Sluice console: live refresh of [data-live] regions and checks before
// submit. Everything works without it; it only saves reloads and round trips.
(function () {
  "use strict";
  function refresh(el) {
    if (el.contains(document.activeElement)) return; // do not pull a field from under the cursor
    fetch(el.dataset.live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var src = doc.getElementById(el.id) || doc.body;
        // Only when something changed: a polite live region re-announces
        // whatever is written into it.
        if (src && el.innerHTML !== src.innerHTML) el.innerHTML = src.innerHTML;
      })
      .catch(function () { /* keep the last good view; the next poll tries again */ });
  }
  function live() {
    document.querySelectorAll("[data-live]").forEach(refresh);
  }
  setInterval(live, 5000);

  // Before submit: let the browser check types, formats and patterns from
  // the schema and move focus to the first problem.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute("data-validate")) return;
    var bad = Array.prototype.filter.call(form.elements, function (x) {
      return x.willValidate && !x.checkValidity();
    });
    form.querySelectorAll(".field-error").forEach(function (n) { n.remove(); });
    bad.forEach(function (x) {
      x.setAttribute("aria-invalid", "true");
      var msg = document.createElement("span");
      msg.className = "field-error";
      msg.id = x.id + "-err";
      msg.textContent = x.validationMessage;
      x.insertAdjacentElement("afterend", msg);
      x.setAttribute("aria-describedby", (x.getAttribute("aria-describedby") || "") + " " + msg.id);
    });
    if (bad.length) {
      e.preventDefault();
      bad[0].focus();
    }
  }, true);
})();
