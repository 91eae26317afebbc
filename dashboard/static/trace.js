/* The trace page: collapsible step tree, waterfall ticks, step selection (detail loaded as a server-rendered,
   autoescaped fragment), find-in-trace and the critical-path filter. Built for 5,000+ rows: rows are flat, in
   depth-first order, and hidden rows cost no layout. */
"use strict";
(function () {
  var table = document.getElementById("tree");
  if (!table) return;
  var traceId = table.getAttribute("data-trace");
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var byId = {};
  var depth = [];
  rows.forEach(function (r, i) {
    byId[r.getAttribute("data-id")] = i;
    depth.push(parseInt(r.getAttribute("data-depth"), 10) || 0);
  });
  var INDENT = 14;
  table.querySelectorAll(".indent").forEach(function (el) {
    el.style.width = (parseInt(el.getAttribute("data-depth"), 10) || 0) * INDENT + "px";
  });
  document.querySelectorAll(".ticks span").forEach(function (el) {
    el.style.left = (parseFloat(el.getAttribute("data-x")) / 10) + "%";
  });

  function expanded(r) {
    var b = r.querySelector("button.tog");
    return !b || b.getAttribute("aria-expanded") === "true";
  }
  function setExpanded(r, on) {
    var b = r.querySelector("button.tog");
    if (!b) return;
    b.setAttribute("aria-expanded", on ? "true" : "false");
    b.textContent = on ? "▾" : "▸";
    var hc = r.querySelector(".hidden-count");
    if (hc) hc.hidden = on;
  }
  // Show the rows below index i whose ancestors (up to i) are all expanded; O(size of subtree).
  function refreshBelow(i) {
    var d0 = depth[i];
    var closedAt = expanded(rows[i]) ? Infinity : d0;
    for (var j = i + 1; j < rows.length && depth[j] > d0; j++) {
      if (depth[j] <= closedAt) closedAt = Infinity;
      rows[j].hidden = depth[j] > closedAt;
      if (!rows[j].hidden && !expanded(rows[j]) && closedAt === Infinity) closedAt = depth[j];
    }
  }
  function toggle(i) { setExpanded(rows[i], !expanded(rows[i])); refreshBelow(i); }
  function revealRow(i) {
    var want = depth[i];
    for (var j = i - 1; j >= 0 && want > 0; j--) {
      if (depth[j] < want) { if (!expanded(rows[j])) { setExpanded(rows[j], true); refreshBelow(j); } want = depth[j]; }
    }
    rows[i].hidden = false;
  }

  table.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button.tog");
    if (btn) { toggle(byId[btn.closest("tr").getAttribute("data-id")]); return; }
  });

  var detail = document.getElementById("step-detail");
  function select(spanId, push) {
    var i = byId[spanId];
    if (i === undefined) return false;
    revealRow(i);
    rows.forEach(function (r) { r.classList.remove("selected"); });
    rows[i].classList.add("selected");
    rows[i].scrollIntoView({block: "center"});
    fetch("/traces/" + traceId + "/steps/" + spanId, {credentials: "same-origin"})
      .then(function (resp) { return resp.ok ? resp.text() : Promise.reject(resp.status); })
      .then(function (html) { detail.innerHTML = html; })  // server-rendered with autoescape on
      .catch(function () { detail.textContent = "Could not load this step."; });
    if (push !== false) history.replaceState(null, "", "?span=" + spanId + "#step-" + spanId);
    return true;
  }
  document.addEventListener("click", function (ev) {
    if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    var a = ev.target.closest("[data-select]");
    if (!a) return;
    if (select(a.getAttribute("data-select"))) ev.preventDefault();
  });
  // Keyboard: j / k move the selection among visible rows, Enter / space on a row toggles it.
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
    if (ev.key !== "j" && ev.key !== "k") return;
    var cur = table.querySelector("tr.selected");
    var i = cur ? byId[cur.getAttribute("data-id")] : -1;
    var step = ev.key === "j" ? 1 : -1;
    for (var j = i + step; j >= 0 && j < rows.length; j += step) {
      if (!rows[j].hidden) { select(rows[j].getAttribute("data-id")); break; }
    }
  });

  function setAll(on) {
    rows.forEach(function (r) { setExpanded(r, on); r.hidden = on ? false : depth[byId[r.getAttribute("data-id")]] > 0; });
  }
  var critBtn = document.querySelector("[data-tree='critical']");
  document.querySelectorAll("[data-tree]").forEach(function (b) {
    b.addEventListener("click", function () {
      var what = b.getAttribute("data-tree");
      if (what === "expand") setAll(true);
      else if (what === "collapse") setAll(false);
      else if (what === "critical") {
        var on = b.getAttribute("aria-pressed") !== "true";
        b.setAttribute("aria-pressed", on ? "true" : "false");
        if (on) rows.forEach(function (r) { r.hidden = !r.classList.contains("crit"); });
        else { setAll(false); rows.forEach(function (r, i) { if (depth[i] === 0) refreshBelow(i); }); }
      }
    });
  });
  // Find in trace: matching rows and their ancestors are shown; clearing restores the tree.
  var search = document.getElementById("tree-search");
  var timer = null;
  if (search) search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = search.value.trim().toLowerCase();
      if (critBtn) critBtn.setAttribute("aria-pressed", "false");
      if (!q) { rows.forEach(function (r) { r.classList.remove("match"); }); setAll(false);
                rows.forEach(function (r, i) { if (depth[i] === 0) refreshBelow(i); }); return; }
      var show = new Array(rows.length);
      for (var i = 0; i < rows.length; i++) {
        var hit = rows[i].getAttribute("data-search").indexOf(q) >= 0;
        rows[i].classList.toggle("match", hit);
        if (hit) {
          show[i] = true;
          var want = depth[i];
          for (var j = i - 1; j >= 0 && want > 0; j--) if (depth[j] < want) { show[j] = true; want = depth[j]; }
        }
      }
      rows.forEach(function (r, i) { r.hidden = !show[i]; });
    }, 120);
  });
  var m = /^#step-([0-9a-f]+)$/.exec(location.hash);
  if (m && byId[m[1]] !== undefined) { revealRow(byId[m[1]]); rows[byId[m[1]]].scrollIntoView({block: "center"}); }
})();
