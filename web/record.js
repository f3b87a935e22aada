// record.js: recording from the microphone with the transcript appearing as you speak
// (the live protocol, docs/live.md: GET /v1/live over WebSocket).
//
// Capture: getUserMedia -> an AudioWorklet (capture-worklet.js, a same-origin module as the
// CSP's script-src 'self' requires) posts mono Float32 blocks -> here they become s16le at
// the AudioContext's own rate (the config says which; the server resamples to 16 kHz) and
// frames of about 100 ms, each with its 8-byte little-endian sequence number.
//
// Delivery: every frame stays in `pending` until the server's ack covers it (acked frames
// are on the server's disk). After a dropped connection the page reconnects with
// exponential backoff and {"resume": {session, last_final}}; ready.ack says what the server
// has, the rest is sent again. Finals are kept by utterance number, so one re-sent after a
// resume replaces itself. Stop sends {"type":"end"} once every frame is out and waits for
// the server's "end".
//
// The session (id, recording, finals so far) is kept in sessionStorage: after a reload the
// view offers to continue it or to finish it (the audio not yet acknowledged before the
// reload is lost with the page; everything acknowledged is on the server). The recorder
// lives in this module, not in the view: leaving the view does not stop a recording.
import { session as apiSession } from './api.js';
import { h, banner, clock } from './util.js';

const STORE = 'hark.live';
const FRAME_MS = 100;
const BACKOFF_MAX = 30000;
const FATAL = new Set([1003, 1007, 1008, 1009]); // bad config/frame, bad key or unknown session

let rec = null; // the recorder of this page, while a session is open
let ui = null; // the view's elements while it is shown

function saved() {
  try { return JSON.parse(sessionStorage.getItem(STORE) || 'null'); } catch { return null; }
}

class Recorder {
  constructor() {
    this.state = 'idle'; // idle starting recording stopping done failed
    this.sessionId = '';
    this.recording = 0;
    this.finals = new Map(); // utterance -> {start_ms, text}
    this.partial = '';
    this.pending = []; // [{seq, data: ArrayBuffer}] not yet acknowledged
    this.nextSeq = 1;
    this.sentUpTo = 0; // highest seq handed to the current socket
    this.acked = 0;
    this.ws = null;
    this.ready = false; // the current socket has had its "ready"
    this.attempt = 0; // reconnect attempts since the last ready
    this.retryTimer = 0;
    this.error = '';
    this.rate = 0;
    this.frameMs = FRAME_MS;
    this.level = 0;
    this.started = 0; // ms of audio captured (this page)
    this.block = null; // Int16Array being filled
    this.fill = 0;
    this.ctx = null;
    this.stream = null;
    this.node = null;
    this.endSent = false;
    this.onEnd = null;
    this.restored = false; // continued after a reload: frames are renumbered at the first ready
  }

  get lastFinal() {
    let m = -1;
    for (const k of this.finals.keys()) if (k > m) m = k;
    return m;
  }

  save() {
    if (!this.sessionId) return;
    const finals = [...this.finals].map(([u, f]) => [u, f.start_ms, f.text]);
    sessionStorage.setItem(STORE, JSON.stringify({ session: this.sessionId, recording: this.recording, rate: this.rate, finals }));
  }

  restore(s) {
    this.sessionId = s.session;
    this.recording = s.recording || 0;
    this.rate = s.rate || 0;
    for (const [u, start_ms, text] of s.finals || []) this.finals.set(u, { start_ms, text });
    this.restored = true;
  }

  // Microphone and worklet; the frames start queueing at once (sent after "ready").
  async capture() {
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    this.ctx = new AudioContext();
    if (this.rate && this.rate !== this.ctx.sampleRate) {
      // a continued session keeps its config's rate: capture at that rate
      await this.ctx.close();
      this.ctx = new AudioContext({ sampleRate: this.rate });
    }
    this.rate = this.ctx.sampleRate;
    await this.ctx.audioWorklet.addModule(new URL('./capture-worklet.js', import.meta.url));
    const src = this.ctx.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.ctx, 'hark-capture', { numberOfInputs: 1, numberOfOutputs: 0 });
    this.node.port.onmessage = (e) => this.samples(e.data);
    src.connect(this.node);
    if (this.ctx.state === 'suspended') await this.ctx.resume();
    for (const t of this.stream.getAudioTracks()) {
      t.addEventListener('ended', () => { if (this.state === 'recording') this.stop(); });
    }
  }

  samples(f) {
    if (this.state !== 'recording' && this.state !== 'starting') return;
    const per = Math.round((this.rate * this.frameMs) / 1000);
    if (!this.block || this.block.length !== per) { this.flush(); this.block = new Int16Array(per); this.fill = 0; }
    let peak = 0;
    for (let i = 0; i < f.length; i++) {
      const v = Math.max(-1, Math.min(1, f[i]));
      const a = Math.abs(v);
      if (a > peak) peak = a;
      this.block[this.fill++] = v < 0 ? Math.round(v * 32768) : Math.round(v * 32767);
      if (this.fill === this.block.length) this.flush();
    }
    this.level = Math.max(peak, this.level * 0.8);
    this.started += (f.length * 1000) / this.rate;
    if (ui) ui.update(this);
  }

  // The samples gathered so far become a frame (none when empty).
  flush() {
    if (!this.block || !this.fill) return;
    const n = this.fill;
    const data = new ArrayBuffer(8 + 2 * n);
    const dv = new DataView(data);
    dv.setBigUint64(0, BigInt(this.nextSeq), true);
    new Int16Array(data, 8, n).set(this.block.subarray(0, n));
    this.pending.push({ seq: this.nextSeq++, data });
    this.fill = 0;
    this.send();
  }

  send() {
    const ws = this.ws;
    if (!ws || !this.ready || ws.readyState !== WebSocket.OPEN) return;
    for (const f of this.pending) {
      if (f.seq <= this.sentUpTo) continue;
      ws.send(f.data);
      this.sentUpTo = f.seq;
    }
    if (this.state === 'stopping' && !this.endSent && this.sentUpTo >= this.nextSeq - 1) {
      ws.send(JSON.stringify({ type: 'end' }));
      this.endSent = true;
    }
  }

  connect() {
    clearTimeout(this.retryTimer);
    const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/v1/live`;
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.ready = false;
    this.endSent = false;
    let error = null;
    ws.onopen = () => {
      const cfg = { type: 'config', sample_rate: this.rate || 48000, format: 's16le', channels: 1 };
      if (apiSession.key) cfg.key = apiSession.key;
      if (this.sessionId) cfg.resume = { session: this.sessionId, last_final: this.lastFinal };
      else cfg.title = `Recording ${new Date().toLocaleString()}`;
      ws.send(JSON.stringify(cfg));
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      if (m.type === 'error') error = m;
      else this.message(m);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      if (this.state === 'done' || this.state === 'failed' || this.state === 'idle') return;
      if (FATAL.has(e.code) || (error && error.code === 'unknown_session')) {
        this.fail(error ? error.message : `the server closed the connection (${e.code}${e.reason ? `: ${e.reason}` : ''})`);
        if (error && error.code === 'unknown_session') sessionStorage.removeItem(STORE);
        return;
      }
      // anything else (network drop, server restart 1001, 1011): try again, later each time
      const wait = Math.min(BACKOFF_MAX, 500 * 2 ** this.attempt);
      this.attempt++;
      banner(`The connection to the server was lost; reconnecting in ${Math.round(wait / 100) / 10} s (attempt ${this.attempt})… Nothing is lost while this page stays open.`, { bad: true });
      this.retryTimer = setTimeout(() => this.connect(), wait);
      if (ui) ui.update(this);
    };
  }

  message(m) {
    switch (m.type) {
      case 'ready': {
        const resumed = this.attempt > 0;
        this.sessionId = m.session;
        this.recording = m.recording;
        this.ready = true;
        this.attempt = 0;
        if (this.restored) {
          // continued after a reload: what this page captured so far is new audio, numbered
          // after the server's last frame (the frames the old page had not sent are lost)
          this.restored = false;
          this.nextSeq = (m.ack || 0) + 1;
          for (const f of this.pending) {
            new DataView(f.data).setBigUint64(0, BigInt(this.nextSeq), true);
            f.seq = this.nextSeq++;
          }
        }
        this.ack(m.ack || 0);
        this.sentUpTo = m.ack || 0;
        this.save();
        if (resumed) banner('Reconnected: the recording goes on.', { ms: 4000 });
        if (this.state === 'starting') this.state = 'recording';
        this.send();
        break;
      }
      case 'ack':
        this.ack(m.seq);
        break;
      case 'partial':
        this.partial = m.text || '';
        break;
      case 'final':
        this.finals.set(m.utterance, { start_ms: m.start_ms, text: m.text || '' });
        this.partial = '';
        this.save();
        break;
      case 'slow_down':
        this.frameMs = Math.min(1000, this.frameMs * 2); // larger, rarer frames
        banner(`The server is behind by ${Math.round((m.backlog_ms || 0) / 1000)} s; sending larger frames.`, { ms: 5000 });
        break;
      case 'end':
        this.state = 'done';
        this.partial = '';
        sessionStorage.removeItem(STORE);
        banner('');
        if (this.onEnd) this.onEnd();
        break;
      default:
        break;
    }
    if (ui) ui.update(this);
  }

  ack(seq) {
    if (seq > this.acked) this.acked = seq;
    let i = 0;
    while (i < this.pending.length && this.pending[i].seq <= this.acked) i++;
    if (i) this.pending.splice(0, i);
  }

  async start(capture = true) {
    this.state = 'starting';
    if (ui) ui.update(this);
    try {
      if (capture) await this.capture();
    } catch (e) {
      this.fail(e.name === 'NotAllowedError' ? 'The microphone was not allowed: allow it for this site and try again.' : `The microphone cannot be used: ${e.message}`);
      return;
    }
    this.connect();
  }

  stop() {
    if (this.state !== 'recording' && this.state !== 'starting') return;
    this.flush();
    this.release();
    this.state = 'stopping';
    this.send();
    if (ui) ui.update(this);
  }

  // Finish a session continued after a reload without recording more.
  finish() {
    this.state = 'stopping';
    this.connect();
    if (ui) ui.update(this);
  }

  release() {
    if (this.node) { this.node.port.onmessage = null; this.node.disconnect(); this.node = null; }
    if (this.stream) { for (const t of this.stream.getTracks()) t.stop(); this.stream = null; }
    if (this.ctx) { this.ctx.close().catch(() => {}); this.ctx = null; }
    this.level = 0;
  }

  fail(msg) {
    this.error = msg;
    this.state = 'failed';
    this.release();
    clearTimeout(this.retryTimer);
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
    banner('');
    if (ui) ui.update(this);
  }
}

function view(main) {
  const status = h('p', { id: 'rec-status', role: 'status', 'aria-live': 'polite' });
  const start = h('button', { type: 'button', id: 'rec-start', onclick: () => begin() }, 'Start recording');
  const stop = h('button.danger', { type: 'button', id: 'rec-stop', onclick: () => rec && rec.stop() }, 'Stop');
  const meter = h('meter', { id: 'rec-level', min: 0, max: 1, value: 0, 'aria-label': 'Microphone level' });
  const time = h('span.muted', { id: 'rec-time', 'aria-label': 'Recorded time' }, '0:00');
  const open = h('p', { id: 'rec-open' });
  const resumeBox = h('div', { id: 'rec-resume', hidden: true },
    h('p', null, 'A recording from before this page was reloaded is not finished.'),
    h('div.row', null,
      h('button', { type: 'button', id: 'rec-continue', onclick: () => begin(saved()) }, 'Continue recording'),
      h('button.secondary', { type: 'button', id: 'rec-finish', onclick: () => finishSaved() }, 'Finish it'),
      h('button.secondary', { type: 'button', id: 'rec-discard', onclick: () => { sessionStorage.removeItem(STORE); u.update(rec); } }, 'Forget it')));
  const finalsEl = h('ol.finals', { id: 'rec-finals', 'aria-label': 'Transcript so far', 'aria-live': 'polite', 'aria-relevant': 'additions' });
  const partialEl = h('p.partial.muted', { id: 'rec-partial', 'aria-label': 'What is being said now' });
  main.append(h('h1', null, 'Record'),
    h('section.card.rec', { 'aria-labelledby': 'rec-title' },
      h('h2', { id: 'rec-title' }, 'Microphone'),
      h('p.muted', null, 'The transcript appears as you speak; the audio and the text are kept on this server. Stop finishes the recording.'),
      resumeBox,
      h('div.row', null, start, stop, meter, time),
      status, open),
    h('section.card.rec', { 'aria-labelledby': 'rec-tr' },
      h('h2', { id: 'rec-tr' }, 'Transcript'), finalsEl, partialEl));

  const rows = new Map(); // utterance -> <li>
  const u = {
    update(r) {
      const st = r ? r.state : 'idle';
      const pendingSaved = !r || st === 'idle' || st === 'done' || st === 'failed' ? saved() : null;
      resumeBox.hidden = !pendingSaved;
      start.hidden = st !== 'idle' && st !== 'done' && st !== 'failed';
      start.disabled = !!pendingSaved;
      stop.hidden = !start.hidden;
      stop.disabled = st === 'stopping';
      meter.value = r ? r.level : 0;
      time.textContent = clock(r ? r.started : 0);
      let s = '';
      if (st === 'starting') s = 'Starting: allow the microphone if the browser asks…';
      if (st === 'recording') s = r.ws && r.ready ? 'Recording.' : 'Recording; waiting for the server (the audio is kept meanwhile)…';
      if (st === 'stopping') s = 'Finishing: the last words are being transcribed…';
      if (st === 'done') s = 'Done.';
      if (st === 'failed') s = r.error;
      status.textContent = s;
      status.className = st === 'failed' ? 'error' : st === 'done' ? 'ok' : '';
      status.dataset.state = st;
      open.replaceChildren();
      if (r && r.recording && (st === 'done' || st === 'recording' || st === 'stopping')) {
        open.append(h('a', { href: `#/r/${r.recording}`, id: 'rec-link' }, st === 'done' ? 'Open the transcript' : 'The recording so far'));
      }
      const finals = r ? r.finals : new Map((pendingSaved && pendingSaved.finals || []).map(([k, a, t]) => [k, { start_ms: a, text: t }]));
      for (const [k, li] of rows) if (!finals.has(k)) { li.remove(); rows.delete(k); }
      for (const k of [...finals.keys()].sort((a, b) => a - b)) {
        const f = finals.get(k);
        let li = rows.get(k);
        if (!li) {
          li = h('li.final', { 'data-utterance': k }, h('span.t.muted', null, clock(f.start_ms)), ' ', h('span.txt'));
          const next = [...rows.keys()].filter((x) => x > k).sort((a, b) => a - b)[0];
          finalsEl.insertBefore(li, next === undefined ? null : rows.get(next));
          rows.set(k, li);
        }
        li.querySelector('.txt').textContent = f.text;
      }
      partialEl.textContent = r ? r.partial : '';
    },
  };
  ui = u;
  u.update(rec);
  return () => { if (ui === u) ui = null; };
}

function begin(s) {
  if (rec && (rec.state === 'recording' || rec.state === 'starting' || rec.state === 'stopping')) return;
  rec = new Recorder();
  if (s) rec.restore(s);
  rec.start();
}

function finishSaved() {
  const s = saved();
  if (!s) return;
  rec = new Recorder();
  rec.restore(s);
  rec.finish();
}

export function render(main) {
  main.dataset.title = 'Record';
  return view(main);
}
