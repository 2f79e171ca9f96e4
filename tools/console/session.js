// The console's MQTT session (docs/protocol.md §1, §2, §10): one MQTT.js
// client over WebSocket with the console's client id; admin commands go out
// on <parent>/admin/<client id> with QoS 1, replies come back on
// <parent>/p2p/<client id> and are matched to their command by `id`.
//
// MQTT.js is the browser bundle loaded by index.html (mqtt.min.js, copied
// from node_modules at build time), which defines window.mqtt.
//
// States: 'connecting' (before the first CONNACK), 'live', 'reconnecting'
// (the link dropped; MQTT.js retries every 2 s and subscribes again),
// 'closed'. Events (EventTarget): 'state' {detail: state}, 'takeover'
// (the session was given up because the broker keeps closing it: see
// MAX_DROPS), 'closed'.

/** What went wrong at login, for the login screen. */
export class LoginError extends Error {
  /** kind: credentials, unreachable, refused, subscribe, not_admin, no_reply, node_error, setup */
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

// CONNACK refusals: MQTT 3.1.1 return codes and MQTT 5 reason codes.
const BAD_CREDENTIALS = new Set([4, 5, 134, 135, 138, 140]);
const CLIENT_ID_REJECTED = new Set([2, 133]);
const SESSION_TAKEN_OVER = 142;

// The broker keeps one connection per client id: a second console with the
// same id takes the connection, this one reconnects and takes it back, and
// so on. mosquitto 2.0.11 says nothing when it does (no DISCONNECT with
// reason 142, over TCP or WebSocket), so a session whose live connection
// drops this many times in a row, none of them lasting STABLE_MS, gives up
// (the console that was there first gives up first) instead of fighting.
const MAX_DROPS = 3;
const STABLE_MS = 15000;

const LOGIN_TIMEOUT_MS = 8000;
export const REQUEST_TIMEOUT_MS = 8000;

/** A prefix for request ids that no earlier page used within the node's 10-minute window (§4). */
function requestIdPrefix() {
  const rand = Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, '0');
  return `w${Date.now().toString(36)}.${rand}`;
}

/**
 * The outcome of a command, whatever happened: `code` is the reply's code
 * (0 done), or null when no reply came (`reason` 'timeout' or 'offline').
 */
function result(type, fields) {
  return {type, code: null, reason: '', message: '', data: {}, reply: null, ...fields};
}

export class Session extends EventTarget {
  /** opts: broker (ws:// URL), parent (topic), clientId, username, password. */
  constructor(opts) {
    super();
    this.broker = opts.broker;
    this.parent = opts.parent || 'MeetingCtrl';
    this.clientId = opts.clientId;
    this.username = opts.username || undefined;
    this.password = opts.password || undefined;
    this.state = 'connecting';
    this.pending = new Map(); // request id -> {resolve, timer, type}
    this.prefix = requestIdPrefix();
    this.nextId = 1;
    this.client = null;
    this.ping = null; // the data of the admin.ping that opened the session
    this.linkUp = false; // between a CONNACK and the loss of that connection
    this.drops = 0; // live connections lost in a row (MAX_DROPS)
    this.stableTimer = null;
  }

  get adminTopic() {
    return `${this.parent}/admin/${this.clientId}`;
  }

  get replyTopic() {
    return `${this.parent}/p2p/${this.clientId}`;
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', {detail: state}));
  }

  /**
   * Connects, subscribes to the reply topic and sends admin.ping; resolves
   * with the ping's data. Rejects with a LoginError (and closes) when the
   * broker refuses the login, cannot be reached, or the node refuses or
   * does not answer.
   */
  async open(onProgress = () => {}) {
    if (!window.mqtt || typeof window.mqtt.connect !== 'function') {
      throw new LoginError('setup', 'mqtt.min.js is missing next to the page (the build copies it from node_modules/mqtt/dist).');
    }
    onProgress(`connecting to ${this.broker} as ${this.clientId}`);
    try {
      await this.connectBroker(onProgress);
      onProgress(`subscribing to ${this.replyTopic}`);
      await this.subscribe();
      onProgress('asking the node (admin.ping)');
      const ping = await this.request('admin.ping', undefined, {timeoutMs: 6000});
      if (ping.code === 403 && ping.reason === 'not_admin') {
        throw new LoginError('not_admin',
          `The node refused ${this.clientId}: this client id is not in the node's --admins (403 not_admin).`);
      }
      if (ping.code === null) {
        throw new LoginError('no_reply',
          `The broker took the login, but the node did not answer admin.ping within 6 s. `
          + `Is meetingd running with --parent-topic=${this.parent}, and may ${this.clientId} publish on ${this.adminTopic}? `
          + '(With the production broker the username is the client id: use the same for both.)');
      }
      if (ping.code !== 0) {
        throw new LoginError('node_error', `The node answered admin.ping with ${ping.code} ${ping.reason}: ${ping.message}`);
      }
      this.ping = ping.data;
      return ping.data;
    } catch (e) {
      this.close();
      if (e instanceof LoginError) throw e;
      throw new LoginError('setup', String(e && e.message ? e.message : e));
    }
  }

  connectBroker(onProgress) {
    return new Promise((resolve, reject) => {
      let settled = false;
      let attempts = 1;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      };
      const timer = setTimeout(() => fail(new LoginError('unreachable',
        `No answer from the broker at ${this.broker} within ${LOGIN_TIMEOUT_MS / 1000} s. `
        + 'Is it running, with a WebSocket listener there? (The node says where in config.json.)')), LOGIN_TIMEOUT_MS);
      let client;
      try {
        client = window.mqtt.connect(this.broker, {
          protocolVersion: 5,
          clientId: this.clientId,
          username: this.username,
          password: this.password,
          clean: true,
          keepalive: 30,
          connectTimeout: 5000,
          reconnectPeriod: 2000,
          resubscribe: true,
        });
      } catch (e) {
        fail(new LoginError('unreachable', `Cannot connect to ${this.broker}: ${e.message}`));
        return;
      }
      this.client = client;
      client.on('connect', () => {
        this.linkUp = true;
        clearTimeout(this.stableTimer);
        this.stableTimer = setTimeout(() => { this.drops = 0; }, STABLE_MS);
        this.setState('live');
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          resolve();
        }
      });
      client.on('reconnect', () => {
        if (!settled) onProgress(`connecting to ${this.broker} as ${this.clientId} (attempt ${++attempts})`);
        else this.setState('reconnecting');
      });
      // The link went down ('close' and 'offline' both say so, in an order
      // that depends on how it went down): count the drop once.
      const down = () => {
        if (!this.linkUp) return;
        this.linkUp = false;
        clearTimeout(this.stableTimer);
        if (this.state === 'closed') return;
        this.drops += 1;
        if (this.drops >= MAX_DROPS) {
          this.setState('reconnecting');
          // Not from inside MQTT.js's event: it arms its reconnect timer
          // after emitting 'offline', and would reconnect after end().
          setTimeout(() => {
            if (this.state === 'closed') return;
            this.dispatchEvent(new CustomEvent('takeover'));
            this.close();
          }, 0);
          return;
        }
        this.setState('reconnecting');
      };
      client.on('close', down);
      client.on('offline', down);
      client.on('error', (err) => {
        const code = err && typeof err.code === 'number' ? err.code : null;
        const text = String(err && err.message ? err.message : err);
        if (BAD_CREDENTIALS.has(code) || /not authori[sz]ed|bad user ?name or password/i.test(text)) {
          fail(new LoginError('credentials',
            `The broker refused the login: wrong username or password, or this login may not connect (${text}).`));
        } else if (CLIENT_ID_REJECTED.has(code)) {
          fail(new LoginError('refused', `The broker refused the client id ${this.clientId} (${text}).`));
        } else if (code !== null && !settled) {
          fail(new LoginError('refused', `The broker refused the connection: ${text}`));
        }
      });
      client.on('disconnect', (packet) => {
        // MQTT 5: the broker says why it closes the session.
        if (packet && packet.reasonCode === SESSION_TAKEN_OVER) {
          setTimeout(() => {
            if (this.state === 'closed') return;
            this.dispatchEvent(new CustomEvent('takeover'));
            this.close();
          }, 0);
        }
      });
      client.on('message', (topic, payload) => this.arrived(topic, payload));
    });
  }

  subscribe() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new LoginError('subscribe',
        `The broker did not confirm the subscription to ${this.replyTopic}.`)), 5000);
      this.client.subscribe(this.replyTopic, {qos: 1}, (err, granted) => {
        clearTimeout(timer);
        const refused = err || !granted || !granted.length || granted[0].qos >= 128;
        if (refused) {
          reject(new LoginError('subscribe',
            `The broker does not let ${this.clientId} read its replies on ${this.replyTopic}. `
            + 'With the production broker the username is the client id: use the same for both.'));
        } else {
          resolve();
        }
      });
    });
  }

  arrived(topic, payload) {
    if (topic !== this.replyTopic) return;
    let msg;
    try {
      msg = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object' || msg.type !== 'reply' || typeof msg.id !== 'string') return;
    const waiting = this.pending.get(msg.id);
    if (!waiting) return; // a QoS 1 duplicate, or the reply to a command that timed out
    this.pending.delete(msg.id);
    clearTimeout(waiting.timer);
    const error = msg.error && typeof msg.error === 'object' ? msg.error : {};
    waiting.resolve(result(waiting.type, {
      code: typeof msg.code === 'number' ? msg.code : -1,
      reason: typeof error.reason === 'string' ? error.reason : '',
      message: typeof error.message === 'string' ? error.message : '',
      data: msg.data && typeof msg.data === 'object' ? msg.data : {},
      reply: msg,
    }));
  }

  /**
   * Sends an admin command; always resolves (never rejects) with its outcome.
   * Nothing is sent while the link is down: a command queued during a
   * reconnect could be carried out long after the operator gave up on it.
   */
  request(type, args, {timeoutMs = REQUEST_TIMEOUT_MS} = {}) {
    if (!this.client || this.state !== 'live') {
      return Promise.resolve(result(type, {
        reason: 'offline',
        message: this.state === 'closed' ? 'logged out' : 'not connected to the broker just now (reconnecting); nothing was sent',
      }));
    }
    const id = `${this.prefix}-${this.nextId++}`;
    const envelope = {id, type};
    if (args !== undefined) {
      const clean = {};
      for (const [k, v] of Object.entries(args)) if (v !== undefined && v !== null && v !== '') clean[k] = v;
      envelope.args = clean;
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(result(type, {
          reason: 'timeout',
          message: `no reply from the node within ${Math.round(timeoutMs / 1000)} s (it may still carry the command out)`,
        }));
      }, timeoutMs);
      this.pending.set(id, {resolve, timer, type});
      this.client.publish(this.adminTopic, JSON.stringify(envelope), {qos: 1, retain: false}, (err) => {
        if (err && this.pending.has(id)) {
          this.pending.delete(id);
          clearTimeout(timer);
          resolve(result(type, {reason: 'offline', message: `could not send: ${err.message || err}`}));
        }
      });
    });
  }

  /** Closes the connection for good; pending commands resolve as 'offline'. */
  close() {
    if (this.state === 'closed') return;
    clearTimeout(this.stableTimer);
    this.setState('closed');
    for (const [id, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.resolve(result(waiting.type, {reason: 'offline', message: 'logged out'}));
      this.pending.delete(id);
    }
    if (this.client) {
      this.client.options.reconnectPeriod = 0; // no reconnect armed later
      this.client.end(true);
    }
    this.dispatchEvent(new CustomEvent('closed'));
  }
}
