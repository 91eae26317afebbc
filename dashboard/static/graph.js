/* The agent graph on the trace page, drawn by the vendored Cytoscape.js from a JSON block (agents as nodes,
   hand-offs and calls as edges labelled with their counts), left to right from the entry, with room between
   edges that join the same two agents so their labels do not overlap. */
"use strict";
(function () {
  var el = document.querySelector("[data-graph]");
  if (!el || typeof cytoscape !== "function") return;
  var data = JSON.parse(document.getElementById(el.getAttribute("data-graph")).textContent);
  var elements = [];
  data.nodes.forEach(function (n) {
    elements.push({data: {id: "n:" + n.id, label: n.entry ? "▶ " + n.label : n.label + (n.errors ? " (" + n.errors + " err)" : ""),
                          entry: n.entry ? 1 : 0, errors: n.errors}});
  });
  data.edges.forEach(function (e, i) {
    elements.push({data: {id: "e" + i, source: "n:" + e.source, target: "n:" + e.target,
                          label: (e.kind === "handoff" ? "hand-off ×" : "×") + e.count, kind: e.kind}});
  });
  var roots = data.nodes.filter(function (n) { return n.entry; }).map(function (n) { return "n:" + n.id; });
  cytoscape({
    container: el,
    elements: elements,
    userZoomingEnabled: false,
    boxSelectionEnabled: false,
    maxZoom: 1.4,
    style: [
      {selector: "node", style: {"label": "data(label)", "background-color": "#4b6bfb", "color": "#1d2433",
        "font-size": 12, "text-valign": "bottom", "text-margin-y": 5, "width": 24, "height": 24,
        "text-wrap": "wrap", "text-max-width": 150, "text-background-color": "#fcfcfe", "text-background-opacity": 0.85}},
      {selector: "node[entry = 1]", style: {"background-color": "#8a93a6", "shape": "round-rectangle"}},
      {selector: "node[errors > 0]", style: {"background-color": "#d9453d"}},
      {selector: "edge", style: {"label": "data(label)", "curve-style": "bezier", "target-arrow-shape": "triangle",
        "width": 2, "line-color": "#9aa5b8", "target-arrow-color": "#9aa5b8", "font-size": 11,
        "control-point-step-size": 70, "text-rotation": "autorotate",
        "text-background-color": "#ffffff", "text-background-opacity": 1, "text-background-padding": 2}},
      {selector: "edge[kind = 'handoff']", style: {"line-color": "#e08a00", "target-arrow-color": "#e08a00",
        "line-style": "dashed"}}
    ],
    // breadthfirst lays levels top to bottom; the transform turns them left to right, to fit the wide panel.
    layout: {name: "breadthfirst", directed: true, roots: roots.length ? roots : undefined, spacingFactor: 1.3,
             padding: 30, transform: function (node, pos) { return {x: pos.y * 2.4, y: pos.x * 0.45}; }}
  });
})();
