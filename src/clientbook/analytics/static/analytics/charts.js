/* Draws every <canvas data-chart="ID">: ID names a json_script holding a
   Chart.js configuration built by the view. */
(function () {
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (source && window.Chart) {
      new window.Chart(canvas, JSON.parse(source.textContent));
    }
  });
})();
