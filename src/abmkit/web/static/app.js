/* abmkit web UI: draws the Vega-Lite charts a page carries as JSON in data-spec attributes,
   on load and again on content htmx swaps in. No other behaviour lives here. */
(function () {
  "use strict";

  function draw(root) {
    if (typeof window.vegaEmbed !== "function") { return; }
    root.querySelectorAll("[data-chart]:not([data-rendered])").forEach(function (el) {
      el.setAttribute("data-rendered", "pending");
      var spec = JSON.parse(el.getAttribute("data-spec"));
      window.vegaEmbed(el, spec, {actions: false, renderer: "svg", mode: "vega-lite"})
        .then(function () { el.setAttribute("data-rendered", "true"); })
        .catch(function (err) {
          el.setAttribute("data-rendered", "error");
          el.textContent = "This chart could not be drawn: " + err;
          console.error(err);
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:load", function (event) { draw(event.target); });
})();
