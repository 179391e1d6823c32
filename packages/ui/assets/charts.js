// Metric and drift trends with uPlot (served from this package's dependencies).

{
  const draw = (boxId, dataId) => {
    const box = document.getElementById(boxId);
    const data = document.getElementById(dataId);
    if (!box || !data || !window.uPlot) return;
    const spec = JSON.parse(data.textContent);
    const xs = spec.points.map((p) => Date.parse(p.at) / 1000);
    const ys = spec.points.map((p) => p.value);
    const width = () => Math.max(280, box.clientWidth);
    const plot = new window.uPlot(
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
    window.addEventListener('resize', () => plot.setSize({ width: width(), height: 300 }));
  };
  draw('metric-chart', 'metric-data');
  draw('drift-chart', 'drift-data');
}
