/* Self-service: the link carries the code in its #fragment (never sent in an address or a log);
   hand it to the server once, by the page's own form, and drop it from the address bar. */
(function () {
  "use strict";
  var m = /(?:^#|&)token=([^&]+)/.exec(window.location.hash || "");
  var form = document.getElementById("token-form");
  if (!m || !form) { return; }
  history.replaceState(null, "", window.location.pathname);
  document.getElementById("token").value = decodeURIComponent(m[1]);
  form.submit();
})();
