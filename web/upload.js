// upload.js: upload files by drag and drop or the file picker. Each file shows its upload
// progress (XMLHttpRequest), then its transcription chunk by chunk from the job's event
// stream; failed chunks are listed with their errors, and a failed job can be retried.
import * as api from './api.js';
import { h, bytes, banner } from './util.js';

const MAX_PARALLEL = 2;
const items = []; // every file given in this page's life: the view shows them again
let running = 0;
let listEl = null; // the <ul> while the view is shown

class Item {
  constructor(file) {
    this.file = file;
    this.state = 'waiting'; // waiting uploading queued transcribing done failed
    this.sent = 0;
    this.total = file.size;
    this.chunksDone = 0;
    this.chunksTotal = 0;
    this.chunksFinal = false; // false while the file is still being cut: more chunks may come
    this.failedChunks = [];
    this.error = '';
    this.recording = 0;
    this.job = 0;
    this.el = null;
  }

  view() {
    const f = this.file;
    const kids = [h('div.row', null, h('span.name.grow', null, f.name), h('span.muted', null, bytes(f.size)))];
    let label = '';
    if (this.state === 'waiting') label = 'Waiting to upload…';
    if (this.state === 'uploading') {
      const pct = this.total ? Math.round((100 * this.sent) / this.total) : 0;
      label = `Uploading: ${pct}%`;
      kids.push(h('progress', { max: 100, value: pct, 'aria-label': `Upload of ${f.name}` }));
    }
    if (this.state === 'queued') label = 'Uploaded; waiting for a worker…';
    if (this.state === 'transcribing' || this.state === 'queued') {
      const t = this.chunksTotal;
      if (this.state === 'transcribing') label = t ? `Transcribing: chunk ${this.chunksDone} of ${t}${this.chunksFinal ? '' : '+'}` : 'Transcribing…';
      kids.push(h('progress', { max: t || 1, value: t ? this.chunksDone : null, 'aria-label': `Transcription of ${f.name}` }));
    }
    const status = h('p', { class: this.state === 'failed' ? 'error' : this.state === 'done' ? 'ok' : 'muted', 'data-state': this.state }, label);
    if (this.state === 'done') status.append(this.existed ? 'Already transcribed. ' : 'Transcribed. ', h('a', { href: `#/r/${this.recording}` }, 'Open the transcript'));
    if (this.state === 'failed') status.append(this.error || 'Failed.');
    kids.push(status);
    if (this.failedChunks.length) {
      kids.push(h('ul.chunks-failed', { 'aria-label': 'Failed chunks' },
        ...this.failedChunks.map((c) => h('li', null, `Chunk ${c.index + 1} (${(c.start_ms / 1000).toFixed(1)}–${(c.end_ms / 1000).toFixed(1)} s): ${c.error || 'failed'}`))));
    }
    if (this.state === 'failed') {
      kids.push(h('div.row', null,
        h('button.secondary', { type: 'button', onclick: () => this.retry() }, this.job ? 'Retry transcription' : 'Retry upload')));
    }
    const li = h('li', { 'data-file': f.name }, ...kids);
    if (this.el && this.el.parentNode) this.el.replaceWith(li);
    this.el = li;
    return li;
  }

  update() { if (this.el) this.view(); }

  async start() {
    running++;
    this.state = 'uploading';
    this.error = '';
    this.update();
    try {
      const up = api.upload(this.file, (sent, total) => { this.sent = sent; this.total = total; this.update(); });
      const r = await up.promise;
      this.recording = r.recording;
      this.job = r.job;
      this.existed = r.existed;
      this.state = 'queued';
      this.update();
    } catch (e) {
      this.state = 'failed';
      this.error = `The upload failed: ${e.message}`;
      this.update();
      return;
    } finally {
      running--;
      pump();
    }
    await this.follow();
  }

  // Follow the job's events until it ends; the stream is read again if it breaks.
  async follow() {
    for (let attempt = 0; attempt < 20; attempt++) {
      let ended = false;
      try {
        await api.events(`/v1/jobs/${this.job}/events`, (name, d) => {
          if (name === 'state') {
            const p = d.progress || {};
            this.chunksDone = p.chunks_done || 0;
            this.chunksTotal = p.chunks_total || 0;
            this.chunksFinal = !!p.final;
            if (d.state === 'running') this.state = 'transcribing';
            if (d.state === 'done') { this.state = 'done'; ended = true; }
            if (d.state === 'dead' || d.state === 'canceled') { this.state = 'failed'; this.error = d.error || `The job is ${d.state}.`; ended = true; }
          } else if (name === 'started' || name === 'progress') {
            this.state = 'transcribing';
            this.chunksDone = d.progress.chunks_done;
            this.chunksTotal = d.progress.chunks_total;
            this.chunksFinal = !!d.progress.final;
          } else if (name === 'retry') {
            this.state = 'transcribing';
            this.error = d.error || '';
          } else if (name === 'done') {
            this.state = 'done';
            this.chunksDone = this.chunksTotal;
            ended = true;
          } else if (name === 'dead' || name === 'canceled') {
            this.state = 'failed';
            this.error = name === 'dead' ? `The transcription failed: ${d.error || 'unknown error'}` : 'The transcription was canceled.';
            ended = true;
          }
          this.update();
        });
      } catch (e) {
        if (e.status === 401 || e.status === 404) { this.state = 'failed'; this.error = e.message; this.update(); return; }
      }
      if (ended) break;
      await new Promise((r) => setTimeout(r, Math.min(8000, 500 * 2 ** attempt)));
    }
    if (this.state === 'failed' || this.state === 'done') await this.chunkErrors();
    this.update();
  }

  async chunkErrors() {
    try {
      const j = await api.job(this.job);
      this.failedChunks = (j.chunks || []).filter((c) => c.state === 'failed');
      if (this.state === 'failed' && j.error && !this.error.includes(j.error)) this.error += ` (${j.error})`;
    } catch { /* keep what we know */ }
  }

  async retry() {
    if (!this.job) {
      this.state = 'waiting';
      this.update();
      pump();
      return;
    }
    try {
      await api.retryJob(this.job);
      this.failedChunks = [];
      this.state = 'queued';
      this.error = '';
      this.update();
      await this.follow();
    } catch (e) {
      banner(`Could not retry: ${e.message}`, { bad: true });
    }
  }
}

function pump() {
  for (const it of items) {
    if (running >= MAX_PARALLEL) break;
    if (it.state === 'waiting') it.start();
  }
}

function add(files) {
  for (const f of files) {
    const it = new Item(f);
    items.unshift(it);
    if (listEl) listEl.prepend(it.view());
  }
  pump();
}

export function render(main) {
  main.dataset.title = 'Upload';
  const input = h('input', { type: 'file', id: 'files', tabindex: '-1', multiple: true, accept: 'audio/*,video/*,.wav,.mp3,.flac,.ogg,.opus,.m4a,.webm,.mp4', onchange: () => { add([...input.files]); input.value = ''; } });
  const zone = h('div.drop', { id: 'drop' },
    h('p', null, 'Drop audio or video files here, or'),
    h('button', { type: 'button', id: 'choose', onclick: () => input.click() }, 'Choose files'),
    h('label.sr', { for: 'files' }, 'Audio or video files to upload'), input,
    h('p.muted', null, 'Each file is uploaded, stored and transcribed on this server; nothing leaves it.'));
  let depth = 0;
  zone.addEventListener('dragenter', (e) => { e.preventDefault(); depth++; zone.classList.add('over'); });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; });
  zone.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; zone.classList.remove('over'); } });
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    zone.classList.remove('over');
    add([...e.dataTransfer.files]);
  });
  listEl = h('ul.uploads', { 'aria-label': 'Uploads', 'aria-live': 'polite', 'aria-relevant': 'additions' }, ...items.map((it) => it.view()));
  main.append(h('h1', null, 'Upload'), zone, listEl);
  return () => { listEl = null; for (const it of items) it.el = null; };
}
