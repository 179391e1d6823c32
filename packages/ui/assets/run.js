// Progressive enhancement only: every page works without this script.
(() => {
  // Compare: ticked runs become `runs=a,b` for /compare.
  var form = document.getElementById('compare-form');
  if (form) {
    var picks = form.querySelectorAll('input.pick');
    var button = document.getElementById('compare-button');
    var hidden = document.getElementById('compare-runs');
    var update = () => {
      var chosen = [];
      picks.forEach((p) => {
        if (p.checked) chosen.push(p.value);
      });
      hidden.value = chosen.join(',');
      button.disabled = chosen.length < 2;
    };
    picks.forEach((p) => {
      p.addEventListener('change', update);
    });
    update();
  }

  // Live run: apply the events the server sends (the shapes `cairn run --json` prints).
  var live = document.getElementById('live');
  if (!live || live.dataset.live !== '1' || !window.EventSource) return;
  var states = {
    'step.succeeded': 'succeeded',
    'step.cached': 'cached',
    'step.failed': 'failed',
    'step.skipped': 'skipped',
  };
  var all = ['succeeded', 'cached', 'failed', 'skipped', 'running', 'waiting', 'cancelled'];
  var setState = (step, state, detail) => {
    document.querySelectorAll('[data-step]').forEach((el) => {
      if (el.getAttribute('data-step') !== step) return;
      if (el.tagName.toLowerCase() === 'tr') {
        var badge = el.querySelector('.badge');
        if (badge) {
          badge.className = 'badge ' + state;
          badge.textContent = state;
        }
        return;
      }
      all.forEach((s) => {
        el.classList.remove(s);
      });
      el.classList.add(state);
      var text = el.querySelector('text.detail');
      if (text) text.textContent = detail;
    });
  };
  var source = new EventSource(live.dataset.events);
  source.addEventListener('cairn', (message) => {
    var event = JSON.parse(message.data);
    if (states[event.type]) {
      var ms = event.durationMs;
      var detail =
        states[event.type] +
        (ms !== undefined && event.type !== 'step.cached'
          ? ' · ' + (ms < 1000 ? Math.round(ms) + ' ms' : (ms / 1000).toFixed(1) + ' s')
          : '');
      setState(event.step, states[event.type], detail);
    }
    if (event.type === 'run.finished') {
      source.close();
      var status = document.getElementById('run-status');
      if (status) {
        status.className = 'badge ' + event.status;
        status.textContent = event.status;
      }
      live.textContent = 'The run ' + event.status + '.';
      live.dataset.finished = event.status;
    }
  });
})();
