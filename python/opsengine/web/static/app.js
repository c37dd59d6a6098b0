// opsengine dashboard: charts (plotly, served by the app) and live regions.
// No inline script anywhere: the Content-Security-Policy allows only files like this one.
"use strict";

function drawChart(el) {
  var spec;
  try { spec = JSON.parse(el.dataset.chart); } catch (e) { return; }
  if (!spec || !Array.isArray(spec.traces)) { return; }
  if (spec.empty || !window.Plotly) {
    el.classList.add("chart-empty");
    el.textContent = spec.empty ? "No data in this range." : "Charts need plotly.min.js.";
    return;
  }
  var traces = spec.traces.map(function (t) {
    var trace = { name: t.name, x: t.x, y: t.y };
    if (spec.kind === "bar") { trace.type = "bar"; }
    else { trace.type = "scatter"; trace.mode = t.x.length > 1 ? "lines" : "markers"; }
    return trace;
  });
  var layout = {
    margin: { l: 50, r: 10, t: 10, b: 40 }, height: 280,
    barmode: spec.stacked ? "stack" : "group",
    showlegend: traces.length > 1 && traces.length <= 24,
    legend: { orientation: "h", y: -0.2, font: { size: 11 } },
    yaxis: { title: { text: spec.y_title || "" }, rangemode: "tozero" },
    font: { family: "system-ui, sans-serif", color: "#1b1f24" },
    paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff",
  };
  window.Plotly.newPlot(el, traces, layout, { displaylogo: false, responsive: true });
  el.dataset.drawn = "1";
}

function drawCharts(root) {
  (root || document).querySelectorAll("[data-chart]").forEach(drawChart);
}

// A region with data-live-url refreshes its [data-live-body] from the server (HTML the
// server rendered and escaped) every data-live-interval seconds while the tab is visible.
function startLive(region) {
  var url = region.dataset.liveUrl;
  var seconds = Math.max(2, Number(region.dataset.liveInterval) || 10);
  var body = region.querySelector("[data-live-body]");
  var status = region.querySelector("[data-live-status]");
  var busy = false;
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) {
        if (r.redirected || !r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        body.innerHTML = html;
        if (status) { status.textContent = "Updated " + new Date().toLocaleTimeString() + "."; }
        region.dataset.liveUpdates = String(Number(region.dataset.liveUpdates || 0) + 1);
      })
      .catch(function (e) {
        if (status) { status.textContent = "Not updated (" + e.message + "); reload the page."; }
      })
      .finally(function () { busy = false; });
  }
  window.setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
}

document.addEventListener("DOMContentLoaded", function () {
  drawCharts(document);
  document.querySelectorAll("[data-live-url]").forEach(startLive);
});
