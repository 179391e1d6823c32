// Metric and drift trends with uPlot (served from this package's dependencies).
(() => {
  var draw = (boxId, dataId) => {
    var box = document.getElementById(boxId);
    var data = document.getElementById(dataId);
    if (!box || !data || !window.uPlot) return;
    var spec = JSON.parse(data.textContent);
    var xs = spec.points.map((p) => Date.parse(p.at) / 1000);
    var ys = spec.points.map((p) => p.value);
    var width = () => Math.max(280, box.clientWidth);
    var plot = new window.uPlot(
      {
        width: width(),
        height: 300,
        series: [{}, { label: spec.metric, stroke: '#1f5fbf', width: 2, points: { size: 7 } }],
        axes: [{}, { size: 70 }],
      },
      [xs, ys],
      box,
    );
    box.dataset.points = String(ys.length);
    window.addEventListener('resize', () => {
      plot.setSize({ width: width(), height: 300 });
    });
  };
  draw('metric-chart', 'metric-data');
  draw('drift-chart', 'drift-data');
})();
