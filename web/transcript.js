// transcript.js: one recording: its segments with times, the archived audio, the current
// segment and word highlighted while it plays, click (or Enter on a segment's time) to
// seek, export as txt, srt, vtt or json, delete, its summary (made on request by the
// server's chat-completions endpoint). #/r/<id>?t=<ms> opens it at that time.
import * as api from './api.js';
import { h, clock, when, saveBlob, banner, confirmDialog } from './util.js';

// The last index i with starts[i] <= t (binary search), or -1.
function at(starts, t) {
  let lo = 0, hi = starts.length - 1, r = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= t) { r = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return r;
}

export async function render(main, params) {
  const id = Number(params.id);
  const ctl = new AbortController();
  let audioUrl = null, raf = 0, stopFollow = false;
  const cleanup = () => {
    ctl.abort();
    stopFollow = true;
    if (raf) cancelAnimationFrame(raf);
    if (audioUrl) audioUrl.revoke();
  };
  main.dataset.title = `Recording ${id}`;
  let rec;
  try {
    rec = await api.recording(id, { signal: ctl.signal });
  } catch (e) {
    if (e.name !== 'AbortError') main.append(h('p.error', { role: 'alert' }, e.status === 404 ? 'There is no such recording (deleted?).' : `Could not load the recording: ${e.message}`), h('a', { href: '#/' }, 'Back to the recordings'));
    return cleanup;
  }
  const title = rec.title || rec.source || `Recording ${id}`;
  main.dataset.title = title;
  const status = h('p.muted', { role: 'status' });
  const audio = h('audio', { controls: true, preload: 'metadata', 'aria-label': `Audio of ${title}` });
  const player = h('div.player', null, audio);
  const segsEl = h('div.segs', { role: 'list', 'aria-label': 'Transcript' });
  const exports = h('div.exports', { role: 'group', 'aria-label': 'Export' },
    ...['txt', 'srt', 'vtt', 'json'].map((f) => h('button.secondary', { type: 'button', 'data-format': f, onclick: () => exportAs(f) }, `Export ${f}`)));
  const del = h('button.danger', { type: 'button', onclick: remove }, 'Delete');
  const sumText = h('p.summary', { id: 'summary-text' });
  const sumStatus = h('p.muted', { role: 'status', id: 'summary-status' });
  const sumBtn = h('button.secondary', { type: 'button', id: 'summarize', onclick: summarize }, 'Summarize');
  const sumBox = h('section.summary-box', { 'aria-labelledby': 'summary-h', hidden: true },
    h('div.row', null, h('h2.grow', { id: 'summary-h' }, 'Summary'), sumBtn), sumStatus, sumText);
  main.append(
    h('div.row', null, h('h1.grow', null, title)),
    h('p.muted', null, [when(rec.created_ms), rec.duration_ms ? clock(rec.duration_ms) : '', rec.engine, rec.language].filter(Boolean).join(' · ')),
    status, player, h('div.row', null, exports, h('span.grow'), del), sumBox, h('h2', null, 'Transcript'), segsEl);

  // the summary: GET .../summary gives the text and its job; a job still pending is polled
  async function showSummary() {
    for (;;) {
      let d = null;
      try {
        d = await api.getJSON(`/v1/recordings/${id}/summary`, { signal: ctl.signal });
      } catch (e) {
        if (e.name === 'AbortError') return;
        if (e.status !== 404) { sumStatus.textContent = `Could not load the summary: ${e.message}`; return; }
      }
      if (ctl.signal.aborted) return;
      const j = d && d.job;
      sumText.textContent = d && d.summary ? d.summary : '';
      sumBtn.textContent = d && d.summary ? 'Summarize again' : 'Summarize';
      if (j && (j.state === 'queued' || j.state === 'running')) {
        sumStatus.textContent = 'Summarizing…';
        sumBtn.disabled = true;
        await new Promise((r) => setTimeout(r, 1500));
        continue;
      }
      sumBtn.disabled = false;
      sumStatus.className = j && j.state === 'dead' ? 'error' : 'muted';
      sumStatus.textContent = j && j.state === 'dead' ? `The summary failed: ${j.error || 'unknown error'}`
        : d && d.summary ? `Summarized ${when(d.updated_ms)}.` : 'No summary yet.';
      return;
    }
  }

  async function summarize() {
    sumBtn.disabled = true;
    try {
      await api.request(`/v1/recordings/${id}/summary`, { method: 'POST' });
    } catch (e) {
      sumBtn.disabled = false;
      sumStatus.className = 'error';
      sumStatus.textContent = e.status === 501 ? `Summaries are not configured on this server: ${e.message}` : `Could not summarize: ${e.message}`;
      return;
    }
    showSummary();
  }

  async function exportAs(f) {
    try {
      const blob = await api.transcriptBlob(id, f);
      saveBlob(blob, `${title.replace(/\.[^.]+$/, '').replace(/[\\/:*?"<>|]+/g, '_') || `recording-${id}`}.${f}`);
    } catch (e) {
      banner(`Export failed: ${e.message}`, { bad: true });
    }
  }

  async function remove() {
    if (!(await confirmDialog('Delete this recording?', `“${title}” and its transcript and audio will be deleted. This cannot be undone.`))) return;
    try {
      await api.removeRecording(id);
      (await import('./list.js')).forget(id);
      banner(`Deleted “${title}”.`, { ms: 4000 });
      location.hash = '#/';
    } catch (e) {
      banner(`Could not delete: ${e.message}`, { bad: true });
    }
  }

  // audio: fetched in the background, so the transcript shows at once
  if (rec.has_audio) {
    api.audioURL(id, ctl.signal).then((u) => {
      if (ctl.signal.aborted) { u.revoke(); return; }
      audioUrl = u;
      audio.src = u.url;
      if (params.t) audio.addEventListener('loadedmetadata', () => { audio.currentTime = Number(params.t) / 1000; }, { once: true });
    }).catch((e) => { if (e.name !== 'AbortError') player.replaceChildren(h('p.error', null, `The audio cannot be played: ${e.message}`)); });
  } else {
    player.replaceChildren(h('p.muted', null, 'This recording has no archived audio.'));
  }

  // the transcript; while the recording is still being transcribed, wait for its job
  let t = null;
  for (;;) {
    try {
      rec = await api.recording(id, { signal: ctl.signal });
      if (rec.status === 'done') { t = await api.transcriptJSON(id, { signal: ctl.signal }); break; }
      if (rec.status === 'failed' || rec.status === 'canceled') {
        status.textContent = `This recording was not transcribed (${rec.status}).`;
        status.className = 'error';
        return cleanup;
      }
      status.textContent = 'Being transcribed… the transcript appears here when it is done.';
      const j = await api.jobOf(id);
      if (j && (j.state === 'queued' || j.state === 'running')) {
        await api.events(`/v1/jobs/${j.id}/events`, (name, d) => {
          if (name === 'progress' && d.progress) status.textContent = `Being transcribed: chunk ${d.progress.chunks_done} of ${d.progress.chunks_total}${d.progress.final ? '' : '+'}…`;
        }, ctl.signal).catch(() => {});
      } else {
        await new Promise((r) => setTimeout(r, 1000));
      }
    } catch (e) {
      if (e.name === 'AbortError' || stopFollow) return cleanup;
      status.textContent = `Could not load the transcript: ${e.message}`;
      status.className = 'error';
      return cleanup;
    }
    if (stopFollow) return cleanup;
  }
  status.textContent = '';
  sumBox.hidden = false;
  showSummary();

  // segments and words; times in ms
  const segs = t.segments || [];
  const segStarts = [], rows = [], words = []; // words[i] = { starts, els }
  segs.forEach((s, i) => {
    const start = Math.round(s.start * 1000);
    segStarts.push(start);
    const p = h('p');
    const ws = { starts: [], els: [] };
    if (s.words && s.words.length) {
      s.words.forEach((w, k) => {
        const ms = Math.round(w.start * 1000);
        const span = h('span.w', { 'data-ms': ms }, w.word.trim());
        if (k) p.append(' ');
        p.append(span);
        ws.starts.push(ms);
        ws.els.push(span);
      });
    } else {
      p.textContent = s.text.trim();
    }
    words.push(ws);
    const row = h('div.seg', { role: 'listitem', 'data-ms': start },
      h('button.t', { type: 'button', 'aria-label': `Play from ${clock(start)}`, 'data-ms': start }, clock(start)), p);
    rows.push(row);
  });
  if (!rows.length) segsEl.append(h('p.muted', null, 'No speech was found in this recording.'));
  segsEl.append(...rows);

  segsEl.addEventListener('click', (e) => {
    const el = e.target.closest('[data-ms]');
    if (!el || !audio.src) return;
    audio.currentTime = Number(el.dataset.ms) / 1000 + 0.001;
    audio.play().catch(() => {});
    highlight(true);
  });

  let curSeg = -1, curWord = null;
  function highlight(scroll) {
    const ms = audio.currentTime * 1000;
    const i = at(segStarts, ms);
    if (i !== curSeg) {
      if (curSeg >= 0) { rows[curSeg].classList.remove('cur'); rows[curSeg].removeAttribute('aria-current'); }
      curSeg = i;
      if (i >= 0) {
        rows[i].classList.add('cur');
        rows[i].setAttribute('aria-current', 'true');
        if (scroll || !audio.paused) rows[i].scrollIntoView({ block: 'nearest' });
      }
    }
    const ws = i >= 0 ? words[i] : null;
    const k = ws ? at(ws.starts, ms) : -1;
    const w = k >= 0 ? ws.els[k] : null;
    if (w !== curWord) {
      if (curWord) curWord.classList.remove('cur');
      curWord = w;
      if (w) w.classList.add('cur');
    }
  }
  function tick() {
    highlight(false);
    raf = audio.paused ? 0 : requestAnimationFrame(tick);
  }
  audio.addEventListener('play', () => { if (!raf) raf = requestAnimationFrame(tick); });
  audio.addEventListener('seeked', () => highlight(true));
  audio.addEventListener('timeupdate', () => { if (!raf) highlight(false); });

  // opened at a time (a search hit): show that segment
  if (params.t) {
    const i = at(segStarts, Number(params.t));
    if (i >= 0) {
      rows[i].classList.add('cur');
      curSeg = i;
      rows[i].scrollIntoView({ block: 'center' });
      rows[i].querySelector('button').focus({ preventScroll: true });
    }
  }
  return cleanup;
}
