// Periodic refresh: runs `load` at once and then every `intervalMs`, never
// two at a time (a slow reply delays the next round instead of piling up).
// The admin client gets no events (docs/protocol.md §8: events go to the
// devices of users; a console is not a user), so the views poll.

export function poll(load, intervalMs) {
  let stopped = false;
  let current = null; // the round in flight
  let timer = null;
  const round = () => {
    clearTimeout(timer);
    current = (async () => {
      try {
        await load();
      } catch (e) {
        console.error(e); // a bug in a view; the next round tries again
      }
    })().finally(() => {
      current = null;
      if (!stopped) timer = setTimeout(round, intervalMs);
    });
    return current;
  };
  round();
  return {
    /**
     * Loads now (after an action) instead of waiting for the next round; if
     * a round is in flight, waits for it and loads once more, so what is
     * shown was read after the action.
     */
    async now() {
      if (stopped) return;
      if (current) await current;
      if (stopped) return;
      if (current) return current; // another caller started the fresh round already
      await round();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
