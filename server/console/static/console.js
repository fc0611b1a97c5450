// witnesslink console: live caseload updates over server-sent events, and a duress
// alarm that cannot be missed (banner + sound). Pages work without this script.
"use strict";
(function () {
  var live = document.getElementById("live");
  var banner = document.getElementById("duress-banner");
  var table = document.querySelector("[data-live]");
  var audio = null;

  function announce(text) {
    if (live) { live.textContent = ""; live.textContent = text; }
  }

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var now = audio.currentTime;
      for (var i = 0; i < 3; i++) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.frequency.value = 880;
        gain.gain.setValueAtTime(0.25, now + i * 0.4);
        gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.4 + 0.3);
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(now + i * 0.4); osc.stop(now + i * 0.4 + 0.3);
      }
      document.documentElement.setAttribute("data-alarm-sounded", "1");
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
  source.addEventListener("duress", function (event) {
    if (!banner) { return; }
    var open = parseInt(event.data, 10) > 0;
    if (open && banner.hidden) {
      banner.hidden = false;
      beep();
    } else if (!open) {
      banner.hidden = true;
    }
  });
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
