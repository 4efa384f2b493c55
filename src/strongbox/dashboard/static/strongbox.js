/* strongbox.js: mounts Strongbox's hosted card fields in a merchant page.
 *
 *   <script src="https://STRONGBOX/elements/strongbox.js"></script>
 *   var card = Strongbox("pk_test_…").card({ onReady, onPaymentMethod, onError, height,
 *                                            loadTimeoutMs });
 *   card.mount("#card-element");
 *   card.createPaymentMethod().then(function (pm) { … pm.id … }, function (error) { … });
 *
 * Card data is typed into an iframe served by Strongbox and sent straight to Strongbox; this
 * page only ever receives the PaymentMethod (id, brand, last 4, expiry). Messages are accepted
 * only from the Strongbox origin this script was loaded from and only from the mounted iframe.
 * The page's origin must be registered for the merchant (`strongbox merchants origins add`).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src) { throw new Error("strongbox.js must be loaded with a src URL"); }
  var STRONGBOX_ORIGIN = new URL(script.src).origin;
  var LOAD_TIMEOUT_MS = 5000;

  function StrongboxError(error) {
    var err = new Error(error.message || "Strongbox error");
    err.type = error.type;
    err.code = error.code;
    err.param = error.param;
    return err;
  }

  function CardElement(publishableKey, options) {
    this._key = publishableKey;
    this._options = options || {};
    this._frame = null;
    this._ready = false;
    this._nextRequest = 1;
    this._pending = {};
    this._queue = [];
    this._onMessage = this._handle.bind(this);
  }

  CardElement.prototype.mount = function (target) {
    var container = typeof target === "string" ? document.querySelector(target) : target;
    if (!container) { throw new Error("Strongbox: mount target not found"); }
    if (this._frame) { throw new Error("Strongbox: this card element is already mounted"); }
    var frame = document.createElement("iframe");
    var url = new URL("/elements/card", STRONGBOX_ORIGIN);
    url.searchParams.set("key", this._key);
    url.searchParams.set("origin", window.location.origin);
    frame.src = url.toString();
    frame.title = "Secure card payment input";
    frame.setAttribute("allow", "");
    frame.setAttribute("referrerpolicy", "no-referrer");
    frame.style.border = "0";
    frame.style.width = "100%";
    frame.style.height = (this._options.height || 220) + "px";
    var self = this;
    frame.addEventListener("load", function () {
      window.setTimeout(function () {
        if (!self._ready) {
          self._fail({ type: "invalid_request_error", code: "elements_unavailable",
            message: "The card form could not be loaded: check the publishable key and that " +
              "this page's origin is registered with Strongbox." });
        }
      }, self._options.loadTimeoutMs || LOAD_TIMEOUT_MS);
    });
    window.addEventListener("message", this._onMessage);
    container.appendChild(frame);
    this._frame = frame;
    return this;
  };

  CardElement.prototype.unmount = function () {
    window.removeEventListener("message", this._onMessage);
    if (this._frame && this._frame.parentNode) { this._frame.parentNode.removeChild(this._frame); }
    this._frame = null;
    this._ready = false;
  };

  /* Saves the typed card; resolves with the PaymentMethod, rejects with an Error (type, code,
   * param, message). */
  CardElement.prototype.createPaymentMethod = function () {
    var self = this;
    if (!this._frame) { return Promise.reject(new Error("Strongbox: mount the card element first")); }
    return new Promise(function (resolve, reject) {
      var id = self._nextRequest++;
      self._pending[id] = { resolve: resolve, reject: reject };
      if (self._ready) { self._send(id); } else { self._queue.push(id); }
    });
  };

  CardElement.prototype._send = function (id) {
    this._frame.contentWindow.postMessage({ source: "strongbox", type: "submit", request: id },
                                          STRONGBOX_ORIGIN);
  };

  CardElement.prototype._fail = function (error) {
    var pending = this._pending;
    this._pending = {};
    this._queue = [];
    Object.keys(pending).forEach(function (id) { pending[id].reject(StrongboxError(error)); });
    if (this._options.onError) { this._options.onError(StrongboxError(error)); }
  };

  CardElement.prototype._handle = function (event) {
    if (event.origin !== STRONGBOX_ORIGIN) { return; }
    if (!this._frame || event.source !== this._frame.contentWindow) { return; }
    var data = event.data;
    if (!data || typeof data !== "object" || data.source !== "strongbox") { return; }
    var pending = data.request != null ? this._pending[data.request] : null;
    if (pending) { delete this._pending[data.request]; }
    if (data.type === "ready") {
      this._ready = true;
      var queued = this._queue;
      this._queue = [];
      for (var i = 0; i < queued.length; i++) { this._send(queued[i]); }
      if (this._options.onReady) { this._options.onReady(); }
    } else if (data.type === "payment_method" && data.payment_method) {
      if (pending) { pending.resolve(data.payment_method); }
      if (this._options.onPaymentMethod) { this._options.onPaymentMethod(data.payment_method); }
    } else if (data.type === "error" && data.error) {
      if (pending) { pending.reject(StrongboxError(data.error)); }
      if (this._options.onError) { this._options.onError(StrongboxError(data.error)); }
    }
  };

  function Strongbox(publishableKey) {
    if (!(this instanceof Strongbox)) { return new Strongbox(publishableKey); }
    if (typeof publishableKey !== "string" || publishableKey.indexOf("pk_") !== 0) {
      throw new Error("Strongbox: a publishable key (pk_…) is required");
    }
    this._key = publishableKey;
  }

  Strongbox.prototype.card = function (options) { return new CardElement(this._key, options); };
  Strongbox.origin = STRONGBOX_ORIGIN;

  window.Strongbox = Strongbox;
}());
