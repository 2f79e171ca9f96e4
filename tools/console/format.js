// Times and durations as the console shows them, and the one-second ticker
// that keeps every countdown on the page live.

function pad(n) {
  return String(n).padStart(2, '0');
}

/** Unix seconds as local time, 2025-11-24 16:00:00; '-' when missing. */
export function formatTime(unix) {
  if (typeof unix !== 'number' || !Number.isFinite(unix) || unix <= 0) return '-';
  const d = new Date(unix * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
    + `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Seconds as 2d 3h 4m 5s, 5h 6m 7s, 8m 9s, 10s. */
export function formatDuration(seconds) {
  let s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d > 0) return `${d}d ${h}h ${m}m ${s}s`;
  if (h > 0) return `${h}h ${m}m ${s}s`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

export function nowUnix() {
  return Date.now() / 1000;
}

/** The text of a countdown to `unix`: "in 47h 59m 12s", or `past` once it passed. */
export function countdownText(unix, past = 'expired') {
  if (typeof unix !== 'number' || !Number.isFinite(unix) || unix <= 0) return '-';
  const left = unix - nowUnix();
  return left > 0 ? `in ${formatDuration(left)}` : past;
}

/**
 * A <span> that counts down to `unix` every second (the ticker below finds
 * it by its class). `frozen`: a fixed text instead (an ended meeting).
 */
export function countdown(unix, {frozen = null, past = 'expired', testid = 'countdown'} = {}) {
  const span = document.createElement('span');
  span.dataset.testid = testid;
  span.title = formatTime(unix);
  if (frozen !== null) {
    span.textContent = frozen;
    return span;
  }
  span.className = 'countdown';
  span.dataset.until = String(unix);
  span.dataset.past = past;
  span.textContent = countdownText(unix, past);
  return span;
}

let ticker = null;
const tickListeners = new Set();

/** Starts the page's one-second ticker (idempotent). */
export function startTicker() {
  if (ticker) return;
  ticker = setInterval(() => {
    for (const el of document.querySelectorAll('span.countdown')) {
      el.textContent = countdownText(Number(el.dataset.until), el.dataset.past);
    }
    for (const fn of tickListeners) fn();
  }, 1000);
}

/** Calls `fn` every second while subscribed; returns the unsubscribe. */
export function onTick(fn) {
  tickListeners.add(fn);
  return () => tickListeners.delete(fn);
}
