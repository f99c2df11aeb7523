// Behaviour for every page, loaded as a file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  // Ask before a destructive action: <button data-confirm="Really …?"> (or any clickable element).
  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-confirm]");
    if (el && !window.confirm(el.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // <a data-back href="/">Go back</a>: the previous page when there is one, else the link.
  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-back]");
    if (el && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
})();
