/* The gate kiosk. Plain JavaScript, no dependencies.
 *
 * The gate key comes from the kiosk link's #key=... fragment (never sent to the server as part of
 * an address) or is typed once; it is kept in sessionStorage only, and the fragment is removed
 * from the address bar at once. Every attempt is one call to the API: POST /v1/gates/{id}/access
 * with a camera frame (multipart) or {"method": "pin"|"card"|"qr", "value"} (JSON).
 *
 * At a two-factor gate (face_mode "verify_after_credential") the PIN, card or QR code comes first:
 * the kiosk keeps it, asks the person to look at the camera and sends both in one call (multipart
 * image + method + value; at a gate that requires liveness, with the challenge burst). "Without my
 * face" (shown where the gate lets a credential open alone) sends the credential alone: no frame
 * is taken.
 *
 * Face is used only when the person presses "Enter with my face" (a few frames, then it stops);
 * "Use PIN / card / QR instead" is always on screen, and any failed face attempt opens the pad.
 */
(function () {
  "use strict";
  var root = document.getElementById("kiosk");
  var gateId = root.getAttribute("data-gate");
  var S = JSON.parse(document.getElementById("kiosk-strings").textContent);
  var storeKey = "trustface.gateKey." + gateId;
  var $ = function (id) { return document.getElementById(id); };
  var key = null, gate = null, stream = null, busy = false, pin = "", resetTimer = null, liveness = false;
  var twoFactor = false, noFace = false;
  var FACE_TRIES = 3, RESET_MS = 6000, STEP_FRAMES = 3, FRAME_GAP_MS = 350, STEP_LEAD_MS = 700;

  /* buttons are display: inline-flex in web.css, which outranks the hidden attribute */
  function shown(el, on) { el.hidden = !on; el.style.display = on ? "" : "none"; }

  function fmt(s, vars) { return s.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] != null ? vars[k] : m; }); }

  function readKeyFromFragment() {
    var hash = window.location.hash || "";
    var m = /(?:^#|&)key=([^&]+)/.exec(hash);
    if (m) { sessionStorage.setItem(storeKey, decodeURIComponent(m[1])); }
    var l = /(?:^#|&)liveness=([01])/.exec(hash) || /[?&]liveness=([01])/.exec(window.location.search || "");
    if (l) { sessionStorage.setItem(storeKey + ".liveness", l[1]); }
    if (hash) { history.replaceState(null, "", window.location.pathname + window.location.search); }
    liveness = sessionStorage.getItem(storeKey + ".liveness") === "1";
    return sessionStorage.getItem(storeKey);
  }

  function api(path, options) {
    options = options || {};
    options.headers = options.headers || {};
    options.headers["Authorization"] = "Bearer " + key;
    options.credentials = "omit";
    options.cache = "no-store";
    return fetch(path, options);
  }

  function showKeyPanel(message) {
    $("gate-panel").hidden = true;
    $("key-panel").hidden = false;
    var err = $("key-error");
    err.hidden = !message;
    err.textContent = message || "";
    $("gate-key").focus();
  }

  function methodsWords(list) {
    return list.map(function (m) { return S.methods[m] || m; }).join(S.and);
  }

  function setResult(kind, title, detail) {
    var box = $("result");
    box.className = "result " + kind;
    $("result-title").textContent = title;
    $("result-detail").textContent = detail || "";
    if (resetTimer) { clearTimeout(resetTimer); resetTimer = null; }
    if (kind === "granted" || kind === "denied") {
      resetTimer = setTimeout(function () {
        box.className = "result idle";
        $("result-title").textContent = $("result-title").getAttribute("data-idle");
        $("result-detail").textContent = "";
      }, RESET_MS);
    }
  }

  function reasonWords(reason) {
    if (!reason) { return ""; }
    var text = (S.reasons && S.reasons[reason.code]) || reason.message || reason.code;
    text = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?。！？]$/.test(text) ? text : text + (/[\u3000-\u9fff]$/.test(text) ? "。" : ".");
  }

  function openAlt(focus) {
    $("alt-panel").hidden = false;
    $("use-alt").setAttribute("aria-expanded", "true");
    if (focus) { $("pin-ok").scrollIntoView({block: "nearest"}); var first = document.querySelector(".key"); if (first) { first.focus(); } }
  }

  function showDecision(d) {
    if (d.granted) {
      setResult("granted", S.granted, "");
      return;
    }
    var alts = (d.alternatives && d.alternatives.length) ? d.alternatives : (gate ? gate.alternatives : []);
    setResult("denied", S.denied, reasonWords(d.reason) + " " + S.try_alt);
    if (alts.length) { openAlt(true); }
  }

  function start() {
    api("/v1/gates/" + encodeURIComponent(gateId)).then(function (r) {
      if (r.status === 401 || r.status === 403 || r.status === 404) {
        sessionStorage.removeItem(storeKey);
        showKeyPanel(S.key_invalid);
        return null;
      }
      return r.json();
    }).then(function (g) {
      if (!g) { return; }
      gate = g;
      if (g.liveness === "required") { liveness = true; }  // the gate refuses single frames: always the burst route
      twoFactor = g.face_mode === "verify_after_credential";
      $("key-panel").hidden = true;
      $("gate-panel").hidden = false;
      $("gate-name").textContent = g.name;
      document.title = g.name + " · trustface";
      var hasFace = g.methods.indexOf("face") >= 0;
      if (hasFace) { startCamera(); } else { openAlt(false); }
      if (twoFactor) {  // the credential first, then the face: the pad is the way to start
        shown($("face-start"), false);
        $("result-title").setAttribute("data-idle", S.two_factor_first);
        $("result-title").textContent = S.two_factor_first;
        shown($("no-face"), !!(g.credential_alone && g.credential_alone.length));
        openAlt(false);
      }
      loadSignage(g, hasFace);
    }).catch(function () { showKeyPanel(S.offline); });
  }

  function loadSignage(g, hasFace) {
    var link = $("notice-link");
    link.href = "/notice/" + encodeURIComponent(g.site_id);
    fetch("/public/sites/" + encodeURIComponent(g.site_id) + "/notice", {credentials: "omit"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (n) {
        var alts = methodsWords(g.alternatives);
        var text;
        if (hasFace) {
          var purpose = (S.purposes && S.purposes[g.purpose]) || g.purpose.replace(/_/g, " ");
          text = fmt(S.signage, {purpose: purpose, controller: n && n.content ? n.content.controller : "",
                                 alternatives: alts});
          if (n && n.content && n.content.contact) { text += " " + fmt(S.signage_contact, {contact: n.content.contact}); }
        } else {
          text = fmt(S.no_face_gate, {alternatives: alts});
        }
        $("signage-text").textContent = text;
        if (n) { link.textContent = fmt(S.rules_version, {version: n.version}); }
      }).catch(function () {});
  }

  function startCamera() {
    $("camera-col").hidden = false;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setResult("denied", S.denied, S.no_camera); $("face-start").disabled = true; openAlt(false); return;
    }
    navigator.mediaDevices.getUserMedia({video: {facingMode: "user", width: {ideal: 640}, height: {ideal: 480}}, audio: false})
      .then(function (s) { stream = s; var v = $("kiosk-video"); v.srcObject = s; return v.play(); })
      .catch(function () { setResult("denied", S.denied, S.no_camera); $("face-start").disabled = true; openAlt(false); });
  }

  function frame(wait) {
    var v = $("kiosk-video");
    wait = wait == null ? 15 : wait;
    if (!v.videoWidth) {  // the camera is still starting: wait a moment (up to ~3 s)
      if (!wait) { return Promise.resolve(null); }
      return new Promise(function (res) { setTimeout(res, 200); }).then(function () { return frame(wait - 1); });
    }
    var c = document.createElement("canvas");
    c.width = v.videoWidth; c.height = v.videoHeight;
    c.getContext("2d").drawImage(v, 0, 0, c.width, c.height);
    return new Promise(function (resolve) { c.toBlob(resolve, "image/jpeg", 0.92); });
  }

  function tryFace(left, credential) {
    return frame().then(function (blob) {
      if (!blob) { throw new Error("no frame"); }
      var body = new FormData();
      body.append("image", blob, "frame.jpg");
      if (credential) { body.append("method", credential.method); body.append("value", credential.value); }
      return api("/v1/gates/" + encodeURIComponent(gateId) + "/access", {method: "POST", body: body});
    }).then(function (r) { return r.json(); }).then(function (d) {
      if (d && d.error) { throw d.error; }
      if (!d.granted && d.reason && d.reason.code === "E_NO_FACE" && left > 1) {
        return new Promise(function (res) { setTimeout(res, 700); }).then(function () { return tryFace(left - 1, credential); });
      }
      return d;
    });
  }

  function sleep(ms) { return new Promise(function (res) { setTimeout(res, ms); }); }

  /* Liveness (when the kiosk link asks for it: #liveness=1): the API picks random steps; each is
     prompted in large type while a few frames are taken; the burst goes to the API in one call. */
  function livenessAttempt(credential) {
    var challenge, frames = [], times = [];
    function grab() {
      return frame().then(function (blob) { if (!blob) { throw new Error("no frame"); } frames.push(blob); times.push(Date.now()); });
    }
    function doStep(i) {
      if (i >= challenge.steps.length) { return Promise.resolve(); }
      var step = challenge.steps[i];
      setResult("busy", (S.steps && S.steps[step]) || challenge.prompts[i], fmt(S.step_n, {n: i + 1, total: challenge.steps.length}));
      var chain = sleep(STEP_LEAD_MS);
      for (var k = 0; k < STEP_FRAMES; k++) {
        chain = chain.then(grab).then(function () { return sleep(FRAME_GAP_MS); });
      }
      return chain.then(function () { return doStep(i + 1); });
    }
    return api("/v1/gates/" + encodeURIComponent(gateId) + "/liveness/challenge", {method: "POST"})
      .then(function (r) { return r.json(); })
      .then(function (c) {
        if (c && c.error) { throw c.error; }
        challenge = c;
        setResult("busy", S.face_camera, "");
        return sleep(STEP_LEAD_MS).then(grab).then(function () { return doStep(0); });
      }).then(function () {
        setResult("busy", S.checking, "");
        var body = new FormData();
        frames.forEach(function (b, i) { body.append("frame", b, "frame" + i + ".jpg"); });
        body.append("timestamps", times.join(","));
        if (credential) { body.append("method", credential.method); body.append("value", credential.value); }
        return api("/v1/gates/" + encodeURIComponent(gateId) + "/liveness/" + encodeURIComponent(challenge.nonce),
                   {method: "POST", body: body});
      }).then(function (r) { return r.json(); }).then(function (out) {
        if (out && out.error) { throw out.error; }
        return out.decision;
      });
  }

  function faceAttempt() {
    if (busy) { return; }
    busy = true;
    if (liveness) {
      livenessAttempt().then(showDecision).catch(function (e) {
        setResult("denied", S.denied, (e && e.code ? reasonWords(e) + " " : "") + S.try_alt);
        openAlt(true);
      }).then(function () { busy = false; });
      return;
    }
    setResult("busy", S.looking, "");
    tryFace(FACE_TRIES).then(function (d) {
      // the gate requires liveness (set since the page loaded): from now on, always the burst route
      if (!d.granted && d.reason && d.reason.code === "E_LIVENESS_REQUIRED") { liveness = true; return livenessAttempt(); }
      return d;
    }).then(showDecision).catch(function (e) {
      setResult("denied", S.denied, (e && e.code ? reasonWords(e) + " " : "") + S.try_alt);
      openAlt(true);
    }).then(function () { busy = false; });
  }

  /* A visitor pass names nobody, so no face follows it: its QR code's (signed) claims say
     "u": true. Read here only to spare the visitor the camera; the server decides. */
  function visitorPass(value) {
    try {
      var b = value.split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
      while (b.length % 4) { b += "="; }
      return JSON.parse(atob(b)).u === true;
    } catch (e) { return false; }
  }

  /* A two-factor gate: the credential just entered, then the face (one call, or the burst). */
  function secondFactorAttempt(credential) {
    busy = true;
    setResult("busy", S.now_face, "");
    var attempt = liveness ? livenessAttempt(credential)
                           : sleep(STEP_LEAD_MS).then(function () { return tryFace(FACE_TRIES, credential); });
    attempt.then(showDecision).catch(function (e) {
      setResult("denied", S.denied, (e && e.code ? reasonWords(e) + " " : "") + S.try_alt);
      openAlt(true);
    }).then(function () { busy = false; });
  }

  function credentialAttempt(method, value) {
    if (busy) { return; }
    if (twoFactor && !noFace && !(method === "qr" && visitorPass(value))) {
      secondFactorAttempt({method: method, value: value}); return;
    }
    busy = true;
    setResult("busy", S.checking, "");
    api("/v1/gates/" + encodeURIComponent(gateId) + "/access", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({method: method, value: value})
    }).then(function (r) { return r.json(); }).then(function (d) {
      if (d && d.error) { setResult("denied", S.denied, reasonWords(d.error)); return; }
      showDecision(d);
    }).catch(function () { setResult("denied", S.denied, S.offline); })
      .then(function () { busy = false; });
  }

  function showPin() { $("pin-display").textContent = pin.replace(/./g, "●"); }

  function pressDigit(d) { if (pin.length < 12) { pin += d; showPin(); } }

  function submitPin() {
    if (pin.length < 6) { setResult("denied", S.denied, S.pin_short); return; }
    var value = pin; pin = ""; showPin();
    credentialAttempt("pin", value);
  }

  // wiring
  $("result-title").setAttribute("data-idle", $("result-title").textContent);
  $("key-form").addEventListener("submit", function (e) {
    e.preventDefault();
    key = $("gate-key").value.trim();
    $("gate-key").value = "";
    if (key) { sessionStorage.setItem(storeKey, key); start(); }
  });
  $("face-start").addEventListener("click", faceAttempt);
  $("use-alt").addEventListener("click", function () {
    var open = $("alt-panel").hidden;
    $("alt-panel").hidden = !open;
    $("use-alt").setAttribute("aria-expanded", open ? "true" : "false");
    if (open) { var first = document.querySelector(".key"); if (first) { first.focus(); } }
  });
  Array.prototype.forEach.call(document.querySelectorAll(".key[data-digit]"), function (b) {
    b.addEventListener("click", function () { pressDigit(b.getAttribute("data-digit")); });
  });
  $("pin-clear").addEventListener("click", function () { pin = ""; showPin(); });
  $("pin-back").addEventListener("click", function () { pin = pin.slice(0, -1); showPin(); });
  $("pin-ok").addEventListener("click", submitPin);
  document.addEventListener("keydown", function (e) {
    if ($("alt-panel").hidden || e.target === $("card-value") || e.target === $("gate-key")) { return; }
    if (/^[0-9]$/.test(e.key)) { pressDigit(e.key); e.preventDefault(); }
    else if (e.key === "Backspace") { pin = pin.slice(0, -1); showPin(); e.preventDefault(); }
    else if (e.key === "Enter" && pin.length) { submitPin(); e.preventDefault(); }
  });
  var lastMethod = "card";
  $("card-ok").addEventListener("click", function () { lastMethod = "card"; });
  $("qr-ok").addEventListener("click", function () { lastMethod = "qr"; });
  $("token-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var value = $("card-value").value.trim();
    $("card-value").value = "";
    if (value) { credentialAttempt(lastMethod, value); }
  });
  $("no-face").addEventListener("click", function () {
    noFace = !noFace;
    $("no-face").setAttribute("aria-pressed", noFace ? "true" : "false");
  });
  $("fullscreen").addEventListener("click", function () {
    var el = document.documentElement;
    if (el.requestFullscreen) { el.requestFullscreen().catch(function () {}); }
  });

  if (!gateId) { showKeyPanel(S.key_invalid); return; }
  key = readKeyFromFragment();
  if (key) { start(); } else { showKeyPanel(""); }
})();
