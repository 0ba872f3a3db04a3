/* The console's small scripts (plain JavaScript): an optional camera for enrolment, and the live
   access log. Every page works without them: a photo file can be chosen, the log reloaded. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };

  // enrolment: take the photo with the desk camera instead of choosing a file
  var open = $("camera-open");
  if (open) {
    var status = $("camera-status");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || typeof DataTransfer === "undefined") {
      open.hidden = true;
    }
    open.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({video: {width: {ideal: 1280}}, audio: false}).then(function (stream) {
        var video = $("camera-video");
        video.srcObject = stream;
        $("camera").hidden = false;
        open.hidden = true;
        $("camera-take").focus();
        $("camera-take").onclick = function () {
          var c = document.createElement("canvas");
          c.width = video.videoWidth; c.height = video.videoHeight;
          c.getContext("2d").drawImage(video, 0, 0);
          c.toBlob(function (blob) {
            var dt = new DataTransfer();
            dt.items.add(new File([blob], "camera.jpg", {type: "image/jpeg"}));
            $("photo").files = dt.files;
            stream.getTracks().forEach(function (t) { t.stop(); });
            $("camera").hidden = true;
            status.textContent = open.getAttribute("data-taken");
          }, "image/jpeg", 0.92);
        };
      }).catch(function () { status.textContent = open.getAttribute("data-failed"); });
    });
  }

  // live access log: refresh the rows every few seconds while the page is visible
  var table = $("access-log");
  if (table) {
    var source = table.getAttribute("data-source");
    var label = table.getAttribute("data-updated");
    var refresh = function () {
      if (document.hidden) { return; }
      fetch(source, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.text();
      }).then(function (html) {
        $("log-rows").innerHTML = html;
        $("log-status").textContent = label + " " + new Date().toLocaleTimeString();
      }).catch(function () {});
    };
    setInterval(refresh, 3000);
  }
})();
