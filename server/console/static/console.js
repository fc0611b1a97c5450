// witnesslink console: the live feed (server-sent events) keeps the caseload and the
// alert inbox current without a reload, rings an alarm that cannot be missed, and says
// ahead when the session will end. Pages work without this script.
//
// The alarm rings while any critical alert is open (nobody acknowledged it): a ring at
// once for each new one, even while another is already ringing, then again every
// REPEAT_MS until all are acknowledged. Browsers keep audio silent until the person has
// clicked on the page, so a tab nobody has touched shows a prominent "enable the alarm
// sound" bar (any click arms it), flashes its title and, where the person allowed it,
// shows a system notification. window.__wlAlarm exposes what it did, for tests.
"use strict";
(function () {
  var REPEAT_MS = 4000;
  var FLASH_MS = 1000;
  var live = document.getElementById("live");
  var banners = {
    duress: document.getElementById("duress-banner"),
    panic: document.getElementById("panic-banner")
  };
  var arming = document.getElementById("alarm-arming");
  var warning = document.getElementById("session-warning");
  var table = document.querySelector("[data-live]");
  var baseTitle = document.title;
  var ro = document.documentElement.lang === "ro";

  var alarm = {
    rings: 0,        // rings started (new alerts and repeats)
    rangFor: [],     // alert ids that started a ring of their own, in order
    sounded: 0,      // rings the browser actually played (audio running)
    open: [],        // critical alerts nobody has acknowledged: [id, kind]
    armed: false,    // audio allowed by a gesture (or by the browser's policy)
    title: ""
  };
  window.__wlAlarm = alarm;
  var audio = null;
  var seen = {};
  var repeatTimer = null;
  var flashTimer = null;

  function announce(text) {
    if (live) { live.textContent = ""; live.textContent = text; }
  }

  // Each alert kind's tone (server/console/alert_faces.py names one per kind; the
  // live feed sends it with each critical alert): [frequency in Hz, beeps, seconds
  // between beeps]. Panic and duress differ.
  var TONES = {
    siren: [1046, 6, 0.25], pulse: [440, 4, 0.6], triple: [880, 3, 0.4],
    double: [660, 2, 0.4], chime: [523, 1, 0.5]
  };

  function audioContext() {
    if (!audio) {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) { return null; }
      audio = new Context();
      // The browser may start it a moment later (or on a click): the bar follows.
      audio.addEventListener("statechange", showArming);
    }
    return audio;
  }

  function showArming() {
    // One bar, always there with this script: yellow with "Enable the alarm sound" while
    // the browser keeps audio silent, green with "Test the alarm sound" once it may
    // sound. Only its words change, never its controls.
    var running = audio !== null && audio.state === "running";
    alarm.armed = running;
    if (!arming) { return; }
    var button = document.getElementById("enable-sound");
    if (!button) {
      button = document.createElement("button");
      button.type = "button";
      button.id = "enable-sound";
      button.className = "primary";
      button.addEventListener("click", function () { if (alarm.armed) { tones(); } });
      arming.replaceChildren(button, document.createElement("span"));
      arming.hidden = false;
    }
    button.textContent = arming.getAttribute(running ? "data-test" : "data-button");
    arming.lastChild.textContent = arming.getAttribute(running ? "data-on" : "data-text");
    arming.classList.toggle("armed", running);
  }

  function arm() {
    var context = audioContext();
    if (context && context.state !== "running" && context.resume) {
      context.resume().then(showArming, showArming);
    }
    if (window.Notification && Notification.permission === "default") {
      Notification.requestPermission();
    }
    showArming();
  }

  function tone(context, start, frequency) {
    var osc = context.createOscillator();
    var gain = context.createGain();
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.3, start);
    gain.gain.exponentialRampToValueAtTime(0.001, start + 0.3);
    osc.connect(gain); gain.connect(context.destination);
    osc.start(start); osc.stop(start + 0.3);
  }

  function tones(sound) {
    // The kind's tone; true when the browser actually plays it.
    var context = audioContext();
    if (!context) { return false; }
    var shape = TONES[sound] || TONES.triple;
    var now = context.currentTime;
    for (var i = 0; i < shape[1]; i++) {
      tone(context, now + i * shape[2], shape[0]);
    }
    document.documentElement.setAttribute("data-alarm-tone", sound || "triple");
    return context.state === "running";
  }

  function ring(alertId, sound) {
    alarm.rings += 1;
    if (alertId) { alarm.rangFor.push(alertId); }
    try {
      if (tones(sound)) { alarm.sounded += 1; }
      document.documentElement.setAttribute("data-alarm-sounded", "1");
    } catch (e) { /* no audio device: the banner, the title and the list still show */ }
    showArming();
  }

  function notify(kind) {
    // Shown outside the browser, perhaps on a lock screen: no alias, no case.
    if (!window.Notification || Notification.permission !== "granted") { return; }
    try {
      new Notification("witnesslink", {
        body: (ro ? "Alertă critică: " : "Critical alert: ") + kind,
        tag: "witnesslink-critical", renotify: true, requireInteraction: true
      });
    } catch (e) { /* some browsers allow notifications only from a service worker */ }
  }

  function flashTitle() {
    // "(2) CRITICAL — witnesslink", alternating with the page's own title.
    document.title = alarm.title;
    if (flashTimer) { return; }
    var on = true;
    flashTimer = window.setInterval(function () {
      if (!alarm.title) {
        window.clearInterval(flashTimer); flashTimer = null; document.title = baseTitle; return;
      }
      on = !on;
      document.title = on ? alarm.title : baseTitle;
    }, FLASH_MS);
  }

  function updateAlarm(critical) {
    alarm.open = critical;
    critical.forEach(function (pair) {
      if (!seen[pair[0]]) {
        seen[pair[0]] = true;
        ring(pair[0], pair[2]);
        notify(pair[1]);
      }
    });
    if (critical.length) {
      alarm.title = "(" + critical.length + ") " + (ro ? "CRITIC" : "CRITICAL") + " — witnesslink";
      flashTitle();
      if (!repeatTimer) {
        repeatTimer = window.setInterval(function () {
          // Again in the tone of the oldest alert still open.
          ring(null, alarm.open.length ? alarm.open[0][2] : null);
        }, REPEAT_MS);
      }
    } else {
      alarm.title = "";
      document.title = baseTitle;
      if (repeatTimer) { window.clearInterval(repeatTimer); repeatTimer = null; }
    }
  }

  function keepTyped(oldItem, freshItem) {
    var fields = oldItem.querySelectorAll("input[id], textarea[id]");
    for (var i = 0; i < fields.length; i++) {
      var twin = freshItem.querySelector("#" + CSS.escape(fields[i].id));
      if (twin && fields[i].type !== "hidden" && fields[i].type !== "password") {
        twin.value = fields[i].value;
      }
    }
  }

  function actionsOf(item) {
    var forms = item.querySelectorAll(".actions form");
    return Array.prototype.map.call(forms, function (f) { return f.getAttribute("action"); }).join(" ");
  }

  function updateInPlace(before, fresh) {
    // An alert that changed (escalated, acknowledged elsewhere): its facts are replaced,
    // but while the same actions are offered its forms stay the very same elements, so
    // someone typing an outcome keeps the text and the focus.
    var oldActions = before.querySelector(".actions");
    var freshActions = fresh.querySelector(".actions");
    var wasOpen = before.querySelector("details[open]") !== null;
    if (!oldActions || !freshActions || actionsOf(before) !== actionsOf(fresh)) {
      keepTyped(before, fresh);
      return fresh;
    }
    Array.prototype.slice.call(before.children).forEach(function (child) {
      if (child !== oldActions) { child.remove(); }
    });
    Array.prototype.slice.call(fresh.children).forEach(function (child) {
      if (child !== freshActions) { before.insertBefore(child, oldActions); }
    });
    before.className = fresh.className;
    before.setAttribute("data-version", fresh.getAttribute("data-version"));
    var details = before.querySelector("details");
    if (details && wasOpen) { details.open = true; }
    return before;
  }

  function refreshInbox() {
    var list = document.querySelector("[data-live-alerts]");
    if (!list) { return; }
    fetch(list.getAttribute("data-live-alerts"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("alert-list");
        var old = document.getElementById("alert-list");
        if (!fresh || !old || fresh.getAttribute("data-version") === old.getAttribute("data-version")) {
          return;
        }
        var items = [];
        Array.prototype.forEach.call(fresh.children, function (item) {
          var before = item.id ? document.getElementById(item.id) : null;
          if (before && before.getAttribute("data-version") === item.getAttribute("data-version")) {
            items.push(before);  // unchanged: the element itself
          } else if (before) {
            items.push(updateInPlace(before, document.importNode(item, true)));
          } else {
            items.push(document.importNode(item, true));
          }
        });
        // Put each in its place without moving the ones already there (moving an
        // element takes the focus away from the field someone is typing in).
        items.forEach(function (item, index) {
          if (old.children[index] !== item) { old.insertBefore(item, old.children[index] || null); }
        });
        while (old.children.length > items.length) { old.lastElementChild.remove(); }
        old.setAttribute("data-version", fresh.getAttribute("data-version"));
        announce(ro ? "Alertele au fost actualizate" : "Alerts updated");
      })
      .catch(function () { /* the next event retries */ });
  }

  function refreshCaseload() {
    if (!table) { return; }
    fetch(table.getAttribute("data-live"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString("<table>" + html + "</table>", "text/html");
        var fresh = doc.querySelector("tbody");
        var old = document.getElementById("caseload-rows");
        if (fresh && old && fresh.getAttribute("data-version") !== old.getAttribute("data-version")) {
          old.replaceWith(fresh);
          announce(ro ? "Lista a fost actualizată" : "Caseload updated");
        }
      })
      .catch(function () { /* the next event retries */ });
  }

  function minutesText(seconds) {
    var minutes = Math.max(1, Math.ceil(seconds / 60));
    return minutes + " min";
  }

  function showSessionNotice(notice) {
    if (!warning) { return; }
    if (!notice.warn) { warning.hidden = true; return; }
    var template = warning.getAttribute(notice.reason === "idle" ? "data-idle" : "data-expiry");
    warning.querySelector(".text").textContent = template.replace("{left}", minutesText(notice.left_s));
    var stay = document.getElementById("stay-signed-in");
    if (!stay && notice.reason === "idle") {
      // Made here, not in the page: it only means something with this script running.
      stay = document.createElement("button");
      stay.type = "button";
      stay.id = "stay-signed-in";
      stay.textContent = warning.getAttribute("data-stay");
      stay.addEventListener("click", function () {
        // Any page counts as activity; the feed then takes the warning down.
        fetch("/console/", { credentials: "same-origin" }).catch(function () {});
      });
      warning.appendChild(stay);
    }
    if (stay) { stay.hidden = notice.reason !== "idle"; }
    warning.hidden = false;
  }

  document.addEventListener("click", function (event) {
    if (!alarm.armed) { arm(); }
    var target = event.target;
    if (target && target.getAttribute && target.getAttribute("data-confirm")) {
      if (!window.confirm(target.getAttribute("data-confirm"))) { event.preventDefault(); }
    }
  });
  if (!window.EventSource || !document.querySelector(".bar")) { return; }
  // Ask the browser now whether this page may sound (a suspended context means not
  // until a click), so the bar is there from the start, and changes only on a click.
  try { audioContext(); } catch (e) { /* no audio: the bar offers what it can */ }
  showArming();
  var source = new EventSource("/console/events");
  source.addEventListener("caseload", refreshCaseload);
  source.addEventListener("alerts", function (event) {
    var state = JSON.parse(event.data);
    updateAlarm(state.critical);
    refreshInbox();
  });
  source.addEventListener("session", function (event) {
    showSessionNotice(JSON.parse(event.data));
  });
  function showBanner(name) {
    // Panic and duress each have their own banner (the alarm itself rings from the
    // "alerts" event, in the kind's own tone).
    return function (event) {
      var banner = banners[name];
      if (banner) { banner.hidden = !(parseInt(event.data, 10) > 0); }
    };
  }
  source.addEventListener("duress", showBanner("duress"));
  source.addEventListener("panic", showBanner("panic"));
  source.addEventListener("signed-out", function (event) {
    source.close();
    var next = encodeURIComponent(window.location.pathname + window.location.search);
    window.location.href = "/console/login?ended=" + encodeURIComponent(event.data) + "&next=" + next;
  });
})();
