// witnesslink console: live caseload updates over server-sent events, and a duress
// alarm that cannot be missed (banner + sound). Pages work without this script.
"use strict";
(function () {
  var live = document.getElementById("live");
  var banners = {
    duress: document.getElementById("duress-banner"),
    panic: document.getElementById("panic-banner")
  };
  var table = document.querySelector("[data-live]");
  var audio = null;

  function announce(text) {
    if (live) { live.textContent = ""; live.textContent = text; }
  }

  // Each alert kind's tone (server/console/alert_faces.py names one per kind):
  // [frequency in Hz, beeps, seconds between beeps]. Panic and duress differ.
  var TONES = {
    siren: [1046, 6, 0.25], pulse: [440, 4, 0.6], triple: [880, 3, 0.4],
    double: [660, 2, 0.4], chime: [523, 1, 0.5]
  };

  function beep(sound) {
    var tone = TONES[sound] || TONES.triple;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var now = audio.currentTime;
      for (var i = 0; i < tone[1]; i++) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        var at = now + i * tone[2];
        osc.frequency.value = tone[0];
        gain.gain.setValueAtTime(0.25, at);
        gain.gain.exponentialRampToValueAtTime(0.001, at + 0.2);
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(at); osc.stop(at + 0.2);
      }
      document.documentElement.setAttribute("data-alarm-sounded", "1");
      document.documentElement.setAttribute("data-alarm-tone", sound || "triple");
    } catch (e) { /* no audio device: the banner still shows */ }
  }

  function refreshCaseload() {
    if (!table) { return; }
    fetch(table.getAttribute("data-live"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var holder = document.createElement("tbody");
        var doc = new DOMParser().parseFromString("<table>" + html + "</table>", "text/html");
        var fresh = doc.querySelector("tbody");
        var old = document.getElementById("caseload-rows");
        if (fresh && old && fresh.getAttribute("data-version") !== old.getAttribute("data-version")) {
          old.replaceWith(fresh);
          announce(document.documentElement.lang === "ro" ? "Lista a fost actualizată" : "Caseload updated");
        }
        holder = null;
      })
      .catch(function () { /* the next event retries */ });
  }

  if (!window.EventSource || !document.querySelector(".bar")) { return; }
  var source = new EventSource("/console/events");
  source.addEventListener("caseload", refreshCaseload);
  function showBanner(name) {
    return function (event) {
      var banner = banners[name];
      if (!banner) { return; }
      var open = parseInt(event.data, 10) > 0;
      if (open && banner.hidden) {
        banner.hidden = false;
        beep(banner.getAttribute("data-sound"));
      } else if (!open) {
        banner.hidden = true;
      }
    };
  }
  source.addEventListener("duress", showBanner("duress"));
  source.addEventListener("panic", showBanner("panic"));
  source.addEventListener("signed-out", function () {
    source.close();
    window.location.href = "/console/login";
  });
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target && target.getAttribute && target.getAttribute("data-confirm")) {
      if (!window.confirm(target.getAttribute("data-confirm"))) { event.preventDefault(); }
    }
  });
})();
