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
  // Reference and current shares per bin, side by side (uPlot's bar paths).
  const bars = (box) => {
    const data = document.querySelector(`script[data-for="${box.id}"]`);
    if (!data || !window.uPlot) return;
    const spec = JSON.parse(data.textContent);
    const xs = spec.labels.map((_, i) => i);
    const bar = (align) => window.uPlot.paths.bars({ size: [0.4, 40], align });
    const width = () => Math.max(260, box.clientWidth);
    const plot = new window.uPlot(
      {
        width: width(),
        height: 200,
        scales: { x: { time: false, range: [-0.5, xs.length - 0.5] } },
        series: [
          {},
          {
            label: 'reference',
            fill: 'rgba(31,95,191,0.55)',
            stroke: '#1f5fbf',
            paths: bar(-1),
            points: { show: false },
          },
          {
            label: 'current',
            fill: 'rgba(198,40,40,0.5)',
            stroke: '#c62828',
            paths: bar(1),
            points: { show: false },
          },
        ],
        axes: [
          {
            values: (_, ticks) => ticks.map((t) => spec.labels[t] ?? ''),
            // At most six labels: value ranges are long.
            splits: () => xs.filter((i) => i % Math.ceil(xs.length / 6) === 0),
          },
          { size: 50 },
        ],
      },
      [xs, spec.reference, spec.current],
      box,
    );
    box.dataset.bins = String(xs.length);
    window.addEventListener('resize', () => plot.setSize({ width: width(), height: 200 }));
  };
  // The always-valid p-value of each comparison over the looks, on a log scale, with α drawn.
  const sequential = () => {
    const box = document.getElementById('sequential-chart');
    const data = document.getElementById('sequential-data');
    if (!box || !data || !window.uPlot) return;
    const spec = JSON.parse(data.textContent);
    const xs = spec.times.map((t) => Date.parse(t) / 1000);
    const colors = ['#1f5fbf', '#c62828', '#1a7f37', '#9a6700', '#5b5fc7', '#8c959f'];
    // A log scale cannot show 0: p-values that small are drawn at the floor.
    const floor = (v) => (v === null ? null : Math.max(v, 1e-12));
    const width = () => Math.max(280, box.clientWidth);
    const plot = new window.uPlot(
      {
        width: width(),
        height: 260,
        scales: { y: { distr: 3 } },
        series: [
          {},
          ...spec.series.map((s, i) => ({
            label: s.label,
            stroke: colors[i % colors.length],
            width: 2,
            spanGaps: true,
            points: { size: 6 },
          })),
          { label: `α = ${spec.alpha}`, stroke: '#5a6472', dash: [6, 4], width: 1, points: { show: false } },
        ],
        axes: [{}, { size: 70 }],
      },
      [xs, ...spec.series.map((s) => s.values.map(floor)), xs.map(() => spec.alpha)],
      box,
    );
    box.dataset.points = String(
      spec.series.reduce((n, s) => n + s.values.filter((v) => v !== null).length, 0),
    );
    window.addEventListener('resize', () => plot.setSize({ width: width(), height: 260 }));
  };
  for (const box of document.querySelectorAll('[data-chart="bars"]')) bars(box);
  sequential();
  draw('metric-chart', 'metric-data');
  draw('drift-chart', 'drift-data');
}
