// Progressive enhancement only: every page works without this script.

{
  // Compare: ticked runs become `runs=a,b` for /compare.
  const form = document.getElementById('compare-form');
  if (form) {
    const picks = form.querySelectorAll('input.pick');
    const button = document.getElementById('compare-button');
    const hidden = document.getElementById('compare-runs');
    const update = () => {
      const chosen = [...picks].filter((p) => p.checked).map((p) => p.value);
      hidden.value = chosen.join(',');
      button.disabled = chosen.length < 2;
    };
    for (const pick of picks) pick.addEventListener('change', update);
    update();
  }
}
{
  // Live run: apply the events the server sends (the shapes `cairn run --json` prints).
  const live = document.getElementById('live');
  const states = {
    'step.succeeded': 'succeeded',
    'step.cached': 'cached',
    'step.failed': 'failed',
    'step.skipped': 'skipped',
  };
  const all = ['succeeded', 'cached', 'failed', 'skipped', 'running', 'waiting', 'cancelled'];
  const duration = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
  const setState = (step, state, detail) => {
    for (const el of document.querySelectorAll('[data-step]')) {
      if (el.getAttribute('data-step') !== step) continue;
      if (el.tagName.toLowerCase() === 'tr') {
        const badge = el.querySelector('.badge');
        if (badge) {
          badge.className = `badge ${state}`;
          badge.textContent = state;
        }
        continue;
      }
      el.classList.remove(...all);
      el.classList.add(state);
      const text = el.querySelector('text.detail');
      if (text) text.textContent = detail;
    }
  };
  if (live?.dataset.live === '1' && window.EventSource) {
    const source = new EventSource(live.dataset.events);
    source.addEventListener('cairn', (message) => {
      const event = JSON.parse(message.data);
      const state = states[event.type];
      if (state) {
        const timed = event.durationMs !== undefined && event.type !== 'step.cached';
        setState(event.step, state, timed ? `${state} · ${duration(event.durationMs)}` : state);
      }
      if (event.type === 'run.finished') {
        source.close();
        const status = document.getElementById('run-status');
        if (status) {
          status.className = `badge ${event.status}`;
          status.textContent = event.status;
        }
        live.textContent = `The run ${event.status}.`;
      }
    });
  }
}
