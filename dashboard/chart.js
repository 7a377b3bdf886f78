// A small time-series chart drawn as inline SVG: stacked areas (messages per step) or lines with gaps
// (latencies, null where nothing was measured). The legend doubles as the readout: it shows the values at
// the point under the pointer, or chosen with the arrow keys, else the latest. Colours come from CSS
// classes, so both themes apply.

import { formatClock, h, setText, svg } from './dom.js';

const HEIGHT = 190;
const MARGIN = { left: 46, right: 12, top: 12, bottom: 24 };
const X_TICK_MINUTES = [5, 10, 15, 20, 30, 60];

/**
 * @typedef {object} Layer
 * @property {string} key field of a point
 * @property {string} label
 * @property {string} tone CSS suffix: series-<tone>
 */

/**
 * The axis for values up to `max`: about five steps of 1, 2 or 5 times a power of ten.
 * @param {number} max
 * @returns {{ step: number, top: number }}
 */
export function niceAxis(max) {
  if (!(max > 0)) return { step: 1, top: 4 };
  const rough = max / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 5, 10].find((m) => m * power >= rough) ?? 10) * power;
  return { step, top: Math.ceil(max / step) * step };
}

/**
 * @param {object} spec
 * @param {string} spec.testid
 * @param {string} spec.title
 * @param {boolean} spec.stacked
 * @param {Layer[]} spec.layers
 * @param {(v: number | null) => string} spec.format value in the legend and on the axis
 */
export function createChart({ testid, title, stacked, layers, format }) {
  const time = h('span', { class: 'chart-time', testid: `${testid}-time` });
  /** @type {HTMLElement[]} */
  const values = [];
  const legend = h(
    'ul',
    { class: 'legend' },
    ...layers.map((layer) => {
      const value = h('span', { class: 'legend-value' });
      values.push(value);
      return h('li', {}, h('span', { class: `swatch series-${layer.tone}`, 'aria-hidden': 'true' }), h('span', { text: layer.label }), value);
    }),
  );
  const plot = h('div', { class: 'chart-plot' });
  const el = h('figure', { class: 'chart', testid }, h('figcaption', { class: 'chart-head' }, h('span', { class: 'chart-title', text: title }), time, legend), plot);

  /** @type {any[]} */
  let points = [];
  let width = 0;
  /** @type {number | null} index under the pointer or chosen by keys */
  let focus = null;
  /** @type {(index: number) => void} */
  let mark = () => {};

  function showValues(/** @type {number} */ index) {
    const p = points[index];
    if (p === undefined) {
      setText(time, '');
      values.forEach((v) => setText(v, ''));
      return;
    }
    setText(time, index === points.length - 1 && focus === null ? `latest, ${formatClock(p.t)}` : formatClock(p.t));
    layers.forEach((layer, i) => setText(/** @type {HTMLElement} */ (values[i]), format(p[layer.key] ?? null)));
    mark(index);
  }

  function draw() {
    width = Math.max(260, Math.round(plot.clientWidth));
    const pw = width - MARGIN.left - MARGIN.right;
    const ph = HEIGHT - MARGIN.top - MARGIN.bottom;
    const root = svg('svg', { viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT, role: 'img', tabindex: '0', 'data-points': String(points.length), 'aria-label': `${title}, last hour` });
    if (points.length === 0) {
      root.append(svg('text', { x: width / 2, y: HEIGHT / 2, 'text-anchor': 'middle', class: 'chart-empty', text: 'No data for the last hour' }));
      plot.replaceChildren(root);
      mark = () => {};
      showValues(-1);
      return;
    }
    const t0 = points[0].t;
    const t1 = Math.max(points[points.length - 1].t, t0 + 1);
    const x = (/** @type {number} */ t) => MARGIN.left + ((t - t0) / (t1 - t0)) * pw;

    // stacked: each layer sits on the sum of those before it
    /** @type {number[][]} */
    const tops = [];
    let max = 0;
    layers.forEach((layer, k) => {
      const below = tops[k - 1];
      tops.push(points.map((p, i) => (stacked ? (below?.[i] ?? 0) : 0) + (typeof p[layer.key] === 'number' ? p[layer.key] : 0)));
    });
    for (const row of tops) for (const v of row) max = Math.max(max, v);
    const axis = niceAxis(max);
    const yMax = axis.top;
    const y = (/** @type {number} */ v) => MARGIN.top + ph - (v / yMax) * ph;

    const grid = svg('g', { class: 'chart-grid' });
    for (let v = 0; v <= yMax + axis.step / 2; v += axis.step) {
      grid.append(svg('line', { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v) }), svg('text', { x: MARGIN.left - 6, y: y(v) + 4, 'text-anchor': 'end', text: format(v) }));
    }
    const minutes = X_TICK_MINUTES.find((m) => (m * 60_000 * pw) / (t1 - t0) >= 64) ?? 60;
    const tickMs = minutes * 60_000;
    for (let t = Math.ceil(t0 / tickMs) * tickMs; t <= t1; t += tickMs) {
      grid.append(svg('line', { class: 'chart-xtick', x1: x(t), x2: x(t), y1: MARGIN.top + ph, y2: MARGIN.top + ph + 4 }), svg('text', { x: x(t), y: HEIGHT - 6, 'text-anchor': 'middle', text: formatClock(t) }));
    }
    root.append(grid);

    const series = svg('g', { class: 'chart-series' });
    layers.forEach((layer, k) => {
      const top = /** @type {number[]} */ (tops[k]);
      if (stacked) {
        const below = tops[k - 1];
        const upper = points.map((p, i) => `${x(p.t).toFixed(1)},${y(top[i] ?? 0).toFixed(1)}`);
        const lower = points.map((p, i) => `${x(p.t).toFixed(1)},${y(below?.[i] ?? 0).toFixed(1)}`).reverse();
        // the first layer (the bulk) gets a light fill and an edge; the thin layers above it a solid fill,
        // so that a few retries or dead letters stand out as coloured caps instead of vanishing
        series.append(svg('path', { class: `area ${k === 0 ? 'area-base' : 'area-cap'} series-${layer.tone}`, d: `M${upper.join('L')}L${lower.join('L')}Z` }));
        if (k === 0) series.append(svg('path', { class: `line series-${layer.tone}`, d: `M${upper.join('L')}` }));
      } else {
        // a null is a gap: the line stops and starts again after it
        let d = '';
        let pen = false;
        points.forEach((p) => {
          const v = p[layer.key];
          if (typeof v !== 'number') return void (pen = false);
          d += `${pen ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(v).toFixed(1)}`;
          pen = true;
        });
        series.append(svg('path', { class: `line series-${layer.tone}`, d, testid: `${testid}-${layer.key}` }));
      }
    });
    root.append(series);

    const guide = svg('line', { class: 'chart-guide', y1: MARGIN.top, y2: MARGIN.top + ph, visibility: 'hidden' });
    const dots = layers.map((layer) => svg('circle', { r: 3.5, class: `dot series-${layer.tone}`, visibility: 'hidden' }));
    const hit = svg('rect', { class: 'chart-hit', x: MARGIN.left, y: MARGIN.top, width: pw, height: ph });
    root.append(guide, ...dots, hit);
    mark = (index) => {
      const p = points[index];
      const shown = p !== undefined && focus !== null;
      guide.setAttribute('visibility', shown ? 'visible' : 'hidden');
      if (p === undefined) return;
      guide.setAttribute('x1', x(p.t).toFixed(1));
      guide.setAttribute('x2', x(p.t).toFixed(1));
      layers.forEach((layer, k) => {
        const v = stacked ? tops[k]?.[index] : p[layer.key];
        const dot = /** @type {SVGElement} */ (dots[k]);
        dot.setAttribute('visibility', shown && typeof v === 'number' ? 'visible' : 'hidden');
        if (typeof v === 'number') {
          dot.setAttribute('cx', x(p.t).toFixed(1));
          dot.setAttribute('cy', y(v).toFixed(1));
        }
      });
    };
    const indexAt = (/** @type {number} */ clientX) => {
      const box = root.getBoundingClientRect();
      const t = t0 + ((clientX - box.left - MARGIN.left) / pw) * (t1 - t0);
      let best = 0;
      points.forEach((p, i) => {
        if (Math.abs(p.t - t) < Math.abs((points[best]?.t ?? 0) - t)) best = i;
      });
      return best;
    };
    hit.addEventListener('pointermove', (event) => {
      focus = indexAt(/** @type {PointerEvent} */ (event).clientX);
      showValues(focus);
    });
    hit.addEventListener('pointerleave', () => {
      focus = null;
      showValues(points.length - 1);
    });
    root.addEventListener('keydown', (event) => {
      const last = points.length - 1;
      const moves = { ArrowLeft: (focus ?? last) - 1, ArrowRight: (focus ?? last) + 1, Home: 0, End: last };
      const next = moves[/** @type {keyof typeof moves} */ (event.key)];
      if (next === undefined) return;
      event.preventDefault();
      focus = Math.max(0, Math.min(last, next));
      showValues(focus);
    });
    root.addEventListener('blur', () => {
      focus = null;
      showValues(points.length - 1);
    });
    plot.replaceChildren(root);
    showValues(focus ?? points.length - 1);
  }

  // redraw at the new width when the box changes (rotation, window resize); the height never changes
  new ResizeObserver(() => {
    if (points.length > 0 && plot.clientWidth > 0 && Math.abs(Math.round(plot.clientWidth) - width) > 2) draw();
  }).observe(plot);

  return {
    el,
    /** @param {any[]} next the series' points, oldest first */
    render(next) {
      points = Array.isArray(next) ? next : [];
      if (focus !== null && focus >= points.length) focus = null;
      draw();
    },
  };
}
