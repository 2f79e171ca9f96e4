// The node's figures over time: admin.stats every 3 s from login to
// logout (so the charts have a past when the Nodes tab opens), the last 10
// minutes kept in memory, nothing stored. With several nodes each
// admin.stats is answered by one of them (its own counters, `node` says
// which): the samples are kept per node.

import {poll} from './poll.js';
import {nowUnix} from './format.js';

export const WINDOW_S = 600;
export const INTERVAL_MS = 3000;

function num(x) {
  return typeof x === 'number' && Number.isFinite(x) ? x : NaN;
}

export class StatsHistory extends EventTarget {
  constructor(session) {
    super();
    this.session = session;
    this.samples = []; // {t, node, rate, p50, p99}
    this.latest = null; // the data of the last good admin.stats
    this.error = null; // the last failed outcome, until one succeeds
    this.poller = null;
  }

  start() {
    if (!this.poller) this.poller = poll(() => this.sample(), INTERVAL_MS);
  }

  stop() {
    if (this.poller) this.poller.stop();
    this.poller = null;
  }

  async sample() {
    const r = await this.session.request('admin.stats');
    const t = nowUnix();
    if (r.code === 0) {
      const c = r.data.commands && typeof r.data.commands === 'object' ? r.data.commands : {};
      this.latest = r.data;
      this.error = null;
      this.samples.push({
        t, node: typeof r.data.node === 'string' ? r.data.node : '?',
        rate: num(c.per_s), p50: num(c.p50_ms), p99: num(c.p99_ms),
      });
    } else {
      this.error = r;
    }
    while (this.samples.length && this.samples[0].t < t - WINDOW_S) this.samples.shift();
    this.dispatchEvent(new CustomEvent('sample'));
  }

  /** The nodes that answered within the window, in order of first answer. */
  nodes() {
    return [...new Set(this.samples.map((s) => s.node))];
  }

  /** [{t, v}] of one figure of one node. */
  series(node, key) {
    return this.samples.filter((s) => s.node === node).map((s) => ({t: s.t, v: s[key]}));
  }
}
