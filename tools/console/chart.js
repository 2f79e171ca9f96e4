// A small SVG line chart, no library: lines over a fixed time window ending
// now, a y axis from 0 to a round maximum, the latest value of each line in
// the legend. Every label is set with textContent.

import {h} from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 200;
const M = {left: 48, right: 12, top: 12, bottom: 26};
export const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];

function svg(tag, attrs = {}, textContent) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (textContent !== undefined) el.textContent = textContent;
  return el;
}

/** The smallest 1, 2 or 5 times a power of ten that is at least `x`. */
function niceMax(x) {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function label(v) {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1).replace(/\.0$/, '');
  return v.toFixed(2).replace(/\.?0+$/, '') || '0';
}

/**
 * opts: testid, title, unit, windowS (the time span shown), now (unix s),
 * series: [{name, color, dashed, points: [{t, v}]}].
 * Returns a <figure> holding the <svg> (data-points: the samples drawn).
 */
export function lineChart(opts) {
  const {series, windowS, now} = opts;
  const from = now - windowS;
  let max = 0;
  let count = 0;
  for (const s of series) {
    for (const p of s.points) {
      if (p.t >= from && Number.isFinite(p.v)) {
        max = Math.max(max, p.v);
        count += 1;
      }
    }
  }
  const top = niceMax(max);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x = (t) => M.left + ((t - from) / windowS) * plotW;
  const y = (v) => M.top + plotH - (Math.min(v, top) / top) * plotH;

  const root = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'data-testid': opts.testid, 'data-points': count});
  root.appendChild(svg('title', {}, opts.title));
  for (const frac of [0, 0.5, 1]) {
    const gy = y(top * frac);
    root.appendChild(svg('line', {x1: M.left, x2: W - M.right, y1: gy, y2: gy, class: 'grid'}));
    root.appendChild(svg('text', {x: M.left - 6, y: gy + 4, 'text-anchor': 'end', class: 'axis'}, label(top * frac)));
  }
  const ago = (s) => (s >= 120 ? `-${Number((s / 60).toFixed(1))} min` : `-${Math.round(s)} s`);
  for (const [frac, text] of [[0, ago(windowS)], [0.5, ago(windowS / 2)], [1, 'now']]) {
    root.appendChild(svg('text', {
      x: M.left + frac * plotW, y: H - 8, 'text-anchor': frac === 0 ? 'start' : frac === 1 ? 'end' : 'middle', class: 'axis',
    }, text));
  }
  root.appendChild(svg('text', {x: 4, y: M.top + 4, class: 'axis unit'}, opts.unit));
  for (const s of series) {
    const pts = s.points.filter((p) => p.t >= from && Number.isFinite(p.v));
    if (!pts.length) continue;
    const line = svg('polyline', {
      points: pts.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '),
      fill: 'none', stroke: s.color, 'stroke-width': 2, 'data-series': s.name, 'data-points': pts.length,
    });
    if (s.dashed) line.setAttribute('stroke-dasharray', '5 4');
    root.appendChild(line);
    const last = pts[pts.length - 1];
    root.appendChild(svg('circle', {cx: x(last.t), cy: y(last.v), r: 3, fill: s.color}));
  }
  const legend = h('figcaption', {class: 'legend'},
    h('strong', {}, opts.title), ' ',
    series.map((s) => {
      const last = s.points.length ? s.points[s.points.length - 1].v : null;
      const swatch = h('span', {class: s.dashed ? 'swatch dashed' : 'swatch'});
      swatch.style.borderColor = s.color;
      return h('span', {class: 'legend-item'}, swatch, s.name, ': ',
        h('span', {class: 'mono'}, last === null || !Number.isFinite(last) ? '-' : `${label(last)} ${opts.unit}`));
    }));
  const figure = h('figure', {class: 'chart-box'});
  figure.appendChild(root);
  figure.appendChild(legend);
  return figure;
}
