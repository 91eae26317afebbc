/* Time-series charts drawn by the vendored uPlot from JSON blocks ({title, unit, x: [epoch s], series: [{label,
   values}]}); one chart per [data-chart] figure. */
"use strict";
(function () {
  if (typeof uPlot !== "function") return;
  var COLORS = ["#4b6bfb", "#e08a00", "#1a9e6b", "#d9453d", "#8e44ad", "#0f8fb3", "#b5651d", "#5c6b80", "#c2185b"];
  function fmt(unit) {
    return function (u, v) {
      if (v == null) return "—";
      if (unit === "usd") return "$" + (Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2));
      if (unit === "ms") return v >= 1000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms";
      if (unit === "score") return v.toFixed(2);
      return Math.abs(v) >= 1e6 ? (v / 1e6).toFixed(1) + "M" : Math.abs(v) >= 1e3 ? (v / 1e3).toFixed(1) + "k" : String(v);
    };
  }
  document.querySelectorAll("[data-chart]").forEach(function (fig) {
    var c = JSON.parse(document.getElementById(fig.getAttribute("data-chart")).textContent);
    if (!c.series.length) return;
    var area = fig.querySelector(".chart-area");
    var f = fmt(c.unit);
    var opts = {
      width: Math.max(area.clientWidth || 480, 280),
      height: 200,
      series: [{}].concat(c.series.map(function (s, i) {
        return {label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, value: function (u, v) { return f(u, v); }};
      })),
      axes: [{}, {values: function (u, vals) { return vals.map(function (v) { return f(u, v); }); }, size: 60}],
      scales: {x: {time: true}},
      legend: {live: true}
    };
    var plot = new uPlot(opts, [c.x].concat(c.series.map(function (s) { return s.values; })), area);
    window.addEventListener("resize", function () { plot.setSize({width: Math.max(area.clientWidth, 280), height: 200}); });
  });
})();
