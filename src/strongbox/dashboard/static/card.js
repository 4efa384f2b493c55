/* Strongbox hosted card fields: the script of the card page inside the merchant's iframe.
 *
 * The card data goes from these inputs straight to Strongbox (same origin as this page) with
 * the merchant's publishable key. The merchant page gets only the resulting PaymentMethod id
 * (plus brand, last 4 and expiry) by postMessage, sent to the registered origin the page was
 * opened for (an explicit targetOrigin, never "*"). Messages are accepted only from that
 * origin and from the parent window.
 */
(function () {
  "use strict";

  var form = document.getElementById("card-form");
  var KEY = form.getAttribute("data-key");
  var PARENT_ORIGIN = form.getAttribute("data-origin");
  var number = document.getElementById("card-number");
  var expiry = document.getElementById("card-expiry");
  var cvc = document.getElementById("card-cvc");
  var button = document.getElementById("card-submit");
  var message = document.getElementById("card-message");
  var FIELDS = { "card[number]": number, "card[exp_month]": expiry, "card[exp_year]": expiry,
                 "card[cvc]": cvc };
  var busy = false;

  function post(msg) {
    msg.source = "strongbox";
    window.parent.postMessage(msg, PARENT_ORIGIN);
  }

  function show(text, kind) {
    message.textContent = text;
    message.className = kind || "";
  }

  function clearInvalid() {
    [number, expiry, cvc].forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }

  function parseExpiry(text) {
    var digits = text.replace(/[^0-9]/g, "");
    if (digits.length === 3) { digits = "0" + digits; }
    if (digits.length !== 4 && digits.length !== 6) { return null; }
    var year = digits.slice(2);
    return { month: digits.slice(0, 2), year: year.length === 2 ? "20" + year : year };
  }

  function localError(param, text) {
    return { type: "invalid_request_error", code: "incomplete", param: param, message: text };
  }

  function fail(requestId, error) {
    clearInvalid();
    var field = error.param && FIELDS[error.param];
    if (field) { field.setAttribute("aria-invalid", "true"); }
    show(error.message || "The card could not be saved.", "error");
    post({ type: "error", request: requestId, error: {
      type: error.type, code: error.code, param: error.param, message: error.message } });
  }

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "elements-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function submit(requestId) {
    if (busy) {
      post({ type: "error", request: requestId, error: localError(null,
        "The card is already being saved.") });
      return;
    }
    var pan = number.value.replace(/[\s-]/g, "");
    var exp = parseExpiry(expiry.value);
    if (!pan) { fail(requestId, localError("card[number]", "Enter the card number.")); return; }
    if (!exp) {
      fail(requestId, localError("card[exp_month]", "Enter the expiry date as MM / YY."));
      return;
    }
    if (!cvc.value) { fail(requestId, localError("card[cvc]", "Enter the CVC.")); return; }
    var body = new URLSearchParams();
    body.set("type", "card");
    body.set("card[number]", pan);
    body.set("card[exp_month]", exp.month);
    body.set("card[exp_year]", exp.year);
    body.set("card[cvc]", cvc.value);
    busy = true;
    button.disabled = true;
    show("Saving…");
    fetch("/v1/payment_methods", {
      method: "POST",
      headers: {
        "Authorization": "Bearer " + KEY,
        "Content-Type": "application/x-www-form-urlencoded",
        "Idempotency-Key": newKey()
      },
      body: body.toString(),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer"
    }).then(function (response) {
      return response.json().then(function (json) { return { ok: response.ok, json: json }; });
    }).then(function (result) {
      if (!result.ok || !result.json || result.json.object !== "payment_method") {
        var err = (result.json && result.json.error) ||
          { type: "api_error", message: "The card could not be saved." };
        fail(requestId, err);
        return;
      }
      var pm = result.json;
      var card = pm.card || {};
      clearInvalid();
      number.value = "";
      cvc.value = "";
      show("Card ending in " + card.last4 + " saved.", "ok");
      post({ type: "payment_method", request: requestId, payment_method: {
        id: pm.id, object: "payment_method", type: pm.type, card: {
          brand: card.brand, last4: card.last4, exp_month: card.exp_month,
          exp_year: card.exp_year, funding: card.funding, country: card.country } } });
    }).catch(function () {
      fail(requestId, { type: "api_error", code: "network_error",
        message: "Strongbox could not be reached. Try again." });
    }).then(function () {
      busy = false;
      button.disabled = false;
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit(null);
  });

  window.addEventListener("message", function (event) {
    if (event.origin !== PARENT_ORIGIN || event.source !== window.parent) { return; }
    var data = event.data;
    if (!data || typeof data !== "object" || data.source !== "strongbox") { return; }
    if (data.type === "submit") { submit(typeof data.request === "number" ? data.request : null); }
  });

  post({ type: "ready" });
}());
