/*! abmkit snippet: page views to the beacon, the known-contact token of an e-mail link kept
 *  in a first-party cookie, and the elements marked data-abm-slot personalized.
 *  Embed: <script async src="https://ABM-SERVER/v1/snippet.js" data-site="SITE-KEY"></script>
 *  Options (attributes of the script tag): data-timeout (ms the slots stay hidden while the
 *  variants are asked for, default 800), data-track="off" (no page view).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.abm) { return; }
  var site = script.getAttribute("data-site") || "";
  var base = new URL(script.src, location.href).origin + "/v1/";
  var COOKIE = "abm_ct", PARAM = "abm_ct", DAYS = 180;
  var timeout = parseInt(script.getAttribute("data-timeout") || "800", 10);

  function id() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return "e" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  function readCookie(name) {
    var found = document.cookie.split("; ").filter(function (c) {
      return c.indexOf(name + "=") === 0;
    })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
  }

  // The token arrives once, in the link of an e-mail: keep it, then take it out of the address.
  function knownContact() {
    var url = new URL(location.href);
    var token = url.searchParams.get(PARAM);
    if (token) {
      document.cookie = COOKIE + "=" + encodeURIComponent(token) + "; Max-Age=" +
        DAYS * 86400 + "; Path=/; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
      url.searchParams.delete(PARAM);
      if (history.replaceState) { history.replaceState(history.state, "", url.toString()); }
      return token;
    }
    return readCookie(COOKIE);
  }

  function session() {
    try {
      var s = sessionStorage.getItem("abm_session");
      if (!s) { s = id(); sessionStorage.setItem("abm_session", s); }
      return s;
    } catch (e) { return undefined; }
  }

  var token = knownContact();

  // text/plain keeps the request "simple": no CORS preflight, and sendBeacon accepts it.
  function send(event) {
    event.id = id();
    if (token) { event.ct = token; }
    event.session = session();
    var body = JSON.stringify({ events: [event] });
    var url = base + "events?site=" + encodeURIComponent(site);
    var blob = new Blob([body], { type: "text/plain" });
    if (navigator.sendBeacon && navigator.sendBeacon(url, blob)) { return; }
    fetch(url, { method: "POST", body: body, keepalive: true, mode: "cors",
      credentials: "omit", headers: { "Content-Type": "text/plain" } }).catch(function () {});
  }

  function pageView() {
    send({ type: "page_view", url: location.href, referrer: document.referrer || undefined });
  }

  // Slots stay hidden (at most `timeout` ms) until their variants are in: no flash of the
  // page's own text.
  var hide = document.createElement("style");
  hide.textContent = "[data-abm-slot]{visibility:hidden}";
  (document.head || document.documentElement).appendChild(hide);
  var timer = setTimeout(show, timeout);

  function show() {
    clearTimeout(timer);
    if (hide.parentNode) { hide.parentNode.removeChild(hide); }
  }

  function swap(slots) {
    var marked = document.querySelectorAll("[data-abm-slot]");
    for (var i = 0; i < marked.length; i++) {
      var text = slots[marked[i].getAttribute("data-abm-slot")];
      if (typeof text === "string") { marked[i].textContent = text; }
    }
  }

  function personalize() {
    if (!document.querySelector("[data-abm-slot]")) { show(); return Promise.resolve(null); }
    var url = base + "personalize?site=" + encodeURIComponent(site) +
      (token ? "&ct=" + encodeURIComponent(token) : "");
    return fetch(url, { mode: "cors", credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (answer) {
        if (answer && answer.slots) { swap(answer.slots); }
        return answer;
      })
      .catch(function () { return null; })
      .then(function (answer) { show(); return answer; });
  }

  function forms() {
    document.addEventListener("submit", function (e) {
      var form = e.target;
      if (!form || !form.hasAttribute || !form.hasAttribute("data-abm-form")) { return; }
      var field = form.querySelector("input[type=email], input[name=email]");
      send({ type: "form", url: location.href, email: field && field.value ? field.value : undefined });
    }, true);
  }

  window.abm = { track: send, personalize: personalize };
  if (script.getAttribute("data-track") !== "off") { pageView(); }
  forms();
  var ready = document.readyState === "loading"
    ? new Promise(function (done) { document.addEventListener("DOMContentLoaded", done); })
    : Promise.resolve();
  window.abm.ready = ready.then(personalize);
})();
