(function () {
  "use strict";
  var target = document.getElementById("distance-histogram");
  var source = document.getElementById("histogram-data");
  if (!target || !source || typeof Plotly === "undefined") {
    return;
  }
  var figure = JSON.parse(source.textContent);
  Plotly.newPlot(target, figure.data, figure.layout, {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d"]
  });
})();
