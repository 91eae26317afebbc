/* The trace page: collapsible step tree, waterfall ticks, step selection (detail loaded as a server-rendered,
   autoescaped fragment), the step panel's messages (raw JSON toggle, long messages unfolded, a tool result's call
   scrolled to), find-in-trace and the critical-path filter. Built for 5,000+ rows: rows are flat, in
   depth-first order, and hidden rows cost no layout. A big trace arrives with only its shown rows: a collapsed row
   marked data-lazy fetches its children (/api/traces/{id}/children/{span}) when opened, and every value from the
   trace goes into the page as text (textContent / attributes), never as HTML. */
"use strict";
(function () {
  var table = document.getElementById("tree");
  if (!table) return;
  var traceId = table.getAttribute("data-trace");
  var rows, byId, depth;
  function reindex() {
    rows = Array.prototype.slice.call(table.tBodies[0].rows);
    byId = {};
    depth = [];
    rows.forEach(function (r, i) {
      var id = r.getAttribute("data-id");
      if (id) byId[id] = i;
      depth.push(parseInt(r.getAttribute("data-depth"), 10) || 0);
    });
  }
  reindex();
  var INDENT = 14;
  table.querySelectorAll(".indent").forEach(function (el) {
    el.style.width = (parseInt(el.getAttribute("data-depth"), 10) || 0) * INDENT + "px";
  });

  // -- rows fetched on demand (big traces) ---------------------------------------------------------------------------
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function makeRow(c) {
    var tr = el("tr", "row t-" + c.step_type + (c.status === "error" ? " has-error" : "") + (c.critical ? " crit" : "") +
                (c.finding_kinds.length ? " flagged" : ""));
    tr.id = "step-" + c.span_id;
    tr.setAttribute("data-id", c.span_id);
    tr.setAttribute("data-parent", c.parent_span_id);
    tr.setAttribute("data-depth", String(c.depth));
    if (c.children) tr.setAttribute("data-lazy", "true");
    tr.setAttribute("data-search", [c.name, c.agent, c.request_model, c.tool_name, c.operation].join(" ").toLowerCase());
    var name = el("td", "name-col");
    var indent = el("span", "indent");
    indent.setAttribute("data-depth", String(c.depth));
    indent.style.width = c.depth * INDENT + "px";
    name.appendChild(indent);
    if (c.children) {
      var b = el("button", "tog", "▸");
      b.type = "button";
      b.setAttribute("aria-expanded", "false");
      b.setAttribute("aria-label", "toggle " + c.descendants + " steps below");
      name.appendChild(b);
    } else name.appendChild(el("span", "tog-space"));
    name.appendChild(document.createTextNode(" "));
    var a = el("a", "step-link", c.name || "(unnamed)");
    a.href = "?span=" + c.span_id + "#step-" + c.span_id;
    a.setAttribute("data-select", c.span_id);
    name.appendChild(a);
    name.appendChild(document.createTextNode(" "));
    name.appendChild(el("span", "badge ty-" + c.step_type, c.step_type));
    if (c.handoff_target) name.appendChild(el("span", "badge k-handoff", "→ " + c.handoff_target));
    if (c.retry_attempt > 1) name.appendChild(el("span", "badge retry", "retry " + (c.retry_attempt - 1)));
    if (c.critical) { var cm = el("span", "crit-mark", "◆"); cm.title = "on the critical path"; name.appendChild(cm); }
    c.finding_kinds.forEach(function (k) {
      var f = el("span", "badge f-" + k, k.replace(/_/g, " "));
      f.title = "finding: " + k.replace(/_/g, " ");
      name.appendChild(f);
    });
    if (c.score_count) name.appendChild(el("span", "badge score", c.score_count + " score" + (c.score_count > 1 ? "s" : "")));
    if (c.children) name.appendChild(el("span", "muted small hidden-count", "+" + c.descendants));
    tr.appendChild(name);
    var agent = el("td", "", c.agent);
    agent.title = c.agent;
    tr.appendChild(agent);
    tr.appendChild(el("td", "num", c.duration));
    var wf = el("td", "wf-col");
    var NS = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("class", "wf");
    svg.setAttribute("viewBox", "0 0 1000 10");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("aria-hidden", "true");
    var rect = document.createElementNS(NS, "rect");
    rect.setAttribute("x", String(c.left));
    rect.setAttribute("y", "1");
    rect.setAttribute("width", String(c.width));
    rect.setAttribute("height", "8");
    rect.setAttribute("class", "c-" + c.category + (c.status === "error" ? " c-error" : ""));
    svg.appendChild(rect);
    wf.appendChild(svg);
    tr.appendChild(wf);
    return tr;
  }
  function moreRow(spanId, d, cursor, left) {
    var tr = el("tr", "more");
    tr.setAttribute("data-depth", String(d));
    var td = el("td", "name-col");
    td.colSpan = 4;
    var indent = el("span", "indent");
    indent.style.width = d * INDENT + "px";
    td.appendChild(indent);
    var b = el("button", "load-more", "load " + left + " more");
    b.type = "button";
    b.setAttribute("data-more", spanId);
    b.setAttribute("data-cursor", cursor);
    td.appendChild(b);
    tr.appendChild(td);
    return tr;
  }
  // Fetch one page of a step's children and insert it before `before` (the row after the subtree).
  function fetchChildren(spanId, cursor, before) {
    var url = "/api/traces/" + traceId + "/children/" + spanId + "?limit=500" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    return fetch(url, {credentials: "same-origin"})
      .then(function (resp) { return resp.ok ? resp.json() : Promise.reject(resp.status); })
      .then(function (body) {
        var frag = document.createDocumentFragment();
        body.children.forEach(function (c) { frag.appendChild(makeRow(c)); });
        if (body.next_cursor && body.children.length) {
          frag.appendChild(moreRow(spanId, body.children[0].depth, body.next_cursor, body.remaining));
        }
        table.tBodies[0].insertBefore(frag, before);
        reindex();
      });
  }
  function loadChildren(i) {
    var r = rows[i];
    r.removeAttribute("data-lazy");
    r.setAttribute("aria-busy", "true");
    return fetchChildren(r.getAttribute("data-id"), null, r.nextSibling).then(function () {
      r.removeAttribute("aria-busy");
    }, function () {
      r.setAttribute("data-lazy", "true");
      r.removeAttribute("aria-busy");
      return Promise.reject();
    });
  }
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
  function toggle(i) {
    var r = rows[i];
    if (!expanded(r) && r.getAttribute("data-lazy") === "true") {
      loadChildren(i).then(function () { var j = byId[r.getAttribute("data-id")]; setExpanded(r, true); refreshBelow(j); },
                           function () { setExpanded(r, false); });
      return;
    }
    setExpanded(r, !expanded(r));
    refreshBelow(i);
  }
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
    var more = ev.target.closest("button.load-more");
    if (more) {
      var tr = more.closest("tr");
      more.disabled = true;
      fetchChildren(more.getAttribute("data-more"), more.getAttribute("data-cursor"), tr).then(function () {
        tr.parentNode.removeChild(tr);  // the page just inserted brings its own "load more" row when more remain
        reindex();
      }, function () { more.disabled = false; });
    }
  });

  // Bring a row to the middle of the tree's own scroll box, and the tree and panel into the window: a link from
  // below (a finding, a hand-off) lands with both in view. On a narrow screen the tree has no box of its own.
  var grid = table.closest(".tree-grid");
  var box = table.closest(".tree-scroll");
  function showRow(r) {
    if (getComputedStyle(box).overflowY === "visible") { r.scrollIntoView({block: "center"}); return; }
    var g = grid.getBoundingClientRect();
    if (g.top < 0 || g.bottom > window.innerHeight + 1) {
      window.scrollTo(0, Math.max(0, window.scrollY + Math.min(g.top, g.bottom - window.innerHeight)));
    }
    box.scrollTop += r.getBoundingClientRect().top - box.getBoundingClientRect().top - box.clientHeight / 2;
  }

  var detail = document.getElementById("step-detail");
  function select(spanId, push) {
    var i = byId[spanId];
    if (i === undefined) return false;
    revealRow(i);
    rows.forEach(function (r) { r.classList.remove("selected"); });
    rows[i].classList.add("selected");
    showRow(rows[i]);
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
      if (!rows[j].hidden && rows[j].getAttribute("data-id")) { select(rows[j].getAttribute("data-id")); break; }
    }
  });

  function setAll(on) {
    // Rows whose children were never fetched stay closed: expand all covers the loaded rows.
    rows.forEach(function (r, i) {
      var lazy = r.getAttribute("data-lazy") === "true";
      setExpanded(r, on && !lazy);
      r.hidden = on ? false : depth[i] > 0;
    });
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
        var hit = (rows[i].getAttribute("data-search") || "").indexOf(q) >= 0;
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
  // The step panel's messages: delegated, since each selection replaces the panel.
  detail.addEventListener("click", function (ev) {
    var raw = ev.target.closest("[data-raw-toggle]");
    if (raw) {
      var on = raw.getAttribute("aria-pressed") !== "true";
      raw.setAttribute("aria-pressed", on ? "true" : "false");
      var box = raw.closest(".messages");
      box.querySelector("[data-view='chat']").hidden = on;
      box.querySelector("[data-view='raw']").hidden = !on;
      return;
    }
    var more = ev.target.closest("[data-expand]");
    if (more) {
      var msg = more.closest(".msg");
      var open = msg.classList.toggle("clamp") === false;
      more.setAttribute("aria-expanded", open ? "true" : "false");
      more.textContent = open ? "Show less" : more.getAttribute("data-label");
      return;
    }
    var jump = ev.target.closest("[data-jump]");
    if (jump) {
      var target = document.getElementById(jump.getAttribute("data-jump"));
      if (!target) return;
      ev.preventDefault();
      var folded = target.closest("details");
      if (folded) folded.open = true;
      var owner = target.closest(".msg") || target;
      if (owner.classList.contains("clamp")) owner.querySelector("[data-expand]").click();
      target.scrollIntoView({block: "nearest"});
      owner.classList.add("flash");
      setTimeout(function () { owner.classList.remove("flash"); }, 1200);
    }
  });

  var m = /^#step-([0-9a-f]+)$/.exec(location.hash);
  if (m && byId[m[1]] !== undefined) { revealRow(byId[m[1]]); showRow(rows[byId[m[1]]]); }
})();
