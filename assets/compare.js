// The Compare tab's live view: runs as the js_on_load of a hidden gr.HTML sink (playground/live.py).
// Each server payload carries what changed: new token spans, new trace points, and the small pieces
// of HTML (request line, status, totals) that differ. Tokens are appended, recoloured when the shared
// reward scale moves, and the traces are drawn as SVG sparklines; the Plotly figures arrive once at
// the end. No library, nothing loaded from the network.
(() => {
  const NAMES = ['reward', 'value', 'kl', 'entropy'];
  const TITLES = {reward: 'reward of the prefix', value: 'value (selection estimate)', kl: 'KL(decoder ‖ base)',
                  entropy: 'entropy of the base'};
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const SVG = 'http://www.w3.org/2000/svg';

  function makeLive() {
    const st = {run: null, lo: 0, hi: 1, count: 0, series: [], drawPending: false};
    const root = (id) => { const el = document.getElementById(id); return el && el.querySelector('.live-root'); };

    function colour(r) {
      let x = 2 * (r - st.lo) / (st.hi - st.lo) - 1;
      x = Math.max(-1, Math.min(1, x));
      const a = (0.12 + 0.58 * Math.abs(x)).toFixed(2);
      return x >= 0 ? `rgba(26,152,80,${a})` : `rgba(215,48,39,${a})`;
    }

    function recolour() {
      for (let i = 0; i < st.count; i++) {
        const r = root('tokens-' + i);
        if (!r) continue;
        for (const tok of r.querySelectorAll('.tok[data-r]')) tok.style.background = colour(Number(tok.dataset.r));
      }
    }

    function panelRoot(i) {
      const r = root('tokens-' + i);
      if (!r) return null;
      if (r.dataset.run !== st.run) {
        r.innerHTML = `<div class="live-head"></div><div class="tokens" data-panel="${i}"></div>` +
                      `<div class="live-status" id="status-${i}"></div>`;
        r.dataset.run = st.run;
      }
      return r;
    }

    function panel(q) {
      const r = panelRoot(q.i);
      if (r) {
        const toks = r.querySelector('.tokens');
        if (q.reset) toks.innerHTML = q.tokens;
        else if (q.tokens) toks.insertAdjacentHTML('beforeend', q.tokens);
        if (q.head !== undefined) r.querySelector('.live-head').innerHTML = q.head;
        if (q.status !== undefined) r.querySelector('.live-status').innerHTML = q.status;
      }
      if (q.details !== undefined) {
        const d = root('details-' + q.i);
        if (d) d.innerHTML = q.details;
      }
      const s = st.series[q.i] || (st.series[q.i] = {});
      for (const n of NAMES) {
        if (q.reset || !s[n]) s[n] = [];
        q.trace.x.forEach((x, k) => { const y = q.trace[n][k]; if (y !== null) s[n].push([x, y]); });
      }
    }

    function sparkRows(r) {
      if (r.dataset.run === st.run && r.firstChild) return;
      r.dataset.run = st.run;
      r.innerHTML = '';
      for (const n of NAMES) {
        const row = document.createElement('div');
        row.className = 'spark';
        row.innerHTML = `<div class="spark-title">${TITLES[n]} <span class="spark-range"></span></div>`;
        const svg = document.createElementNS(SVG, 'svg');
        svg.setAttribute('viewBox', '0 0 600 60');
        svg.setAttribute('preserveAspectRatio', 'none');
        svg.dataset.name = n;
        for (let i = 0; i < 4; i++) {
          const line = document.createElementNS(SVG, 'polyline');
          line.setAttribute('fill', 'none');
          line.setAttribute('stroke', COLORS[i]);
          line.setAttribute('stroke-width', '1.5');
          line.setAttribute('vector-effect', 'non-scaling-stroke');
          svg.appendChild(line);
        }
        row.appendChild(svg);
        r.appendChild(row);
      }
    }

    function draw() {
      st.drawPending = false;
      const r = root('live-traces');
      if (!r) return;
      sparkRows(r);
      let maxX = 1;
      for (const s of st.series) for (const n of NAMES) for (const [x] of (s && s[n]) || []) maxX = Math.max(maxX, x);
      for (const svg of r.querySelectorAll('svg')) {
        const n = svg.dataset.name;
        let lo = Infinity, hi = -Infinity;
        for (const s of st.series) for (const [, y] of (s && s[n]) || []) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
        if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
        svg.parentNode.querySelector('.spark-range').textContent = isFinite(lo) ? `${lo.toFixed(2)} … ${hi.toFixed(2)}` : '';
        svg.querySelectorAll('polyline').forEach((line, i) => {
          const pts = ((st.series[i] && st.series[i][n]) || []).map(
            ([x, y]) => `${(600 * x / maxX).toFixed(1)},${(58 - 56 * (y - lo) / (hi - lo)).toFixed(1)}`);
          line.setAttribute('points', pts.join(' '));
        });
      }
    }

    function apply(p) {
      if (p.run !== st.run) { st.run = p.run; st.series = []; }
      st.count = p.count;
      const rescale = p.lo !== st.lo || p.hi !== st.hi;
      st.lo = p.lo; st.hi = p.hi;
      for (const q of p.panels) panel(q);
      if (rescale) recolour();
      if (p.summary !== undefined) { const s = root('summary'); if (s) s.innerHTML = p.summary; }
      const traces = document.getElementById('live-traces');
      if (traces) traces.classList.toggle('live-done', !!p.final);
      for (const id of ['traces', 'reward-kl']) {  // last run's figures hide until this run's arrive
        const plot = document.getElementById(id);
        if (plot) plot.classList.toggle('live-running', !p.final);
      }
      if (!st.drawPending) { st.drawPending = true; requestAnimationFrame(draw); }
    }

    function stopping() {
      for (let i = 0; i < st.count; i++) {
        const r = root('tokens-' + i);
        const s = r && r.querySelector('.live-status');
        if (s && !/stopped:|error:/.test(s.textContent)) s.innerHTML = '<div class="status">stopping...</div>';
      }
    }

    return {apply, stopping};
  }

  const live = window.__compareLive || (window.__compareLive = makeLive());
  watch('value', () => {
    if (!props.value) return;
    try { live.apply(JSON.parse(props.value)); } catch (e) { console.error('compare live view:', e); }
  });
})();
