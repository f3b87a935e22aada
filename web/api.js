// api.js: hark's REST API from the page. Every call carries the API key (when there is
// one) as 'Authorization: Bearer'; errors become ApiError with the server's message.

const KEY = 'hark.key';

export const session = {
  key: localStorage.getItem(KEY) || '',
  keyNeeded: true, // false when the server serves everyone (local, no keys)
  admin: false,
};

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export function setKey(key) {
  session.key = key || '';
  if (key) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }
}

function headers(extra) {
  const hd = { ...extra };
  if (session.key) hd.Authorization = `Bearer ${session.key}`;
  return hd;
}

async function errorOf(r) {
  let e = {};
  try { e = (await r.json()).error || {}; } catch { /* not JSON */ }
  let msg = e.message || r.statusText || `HTTP ${r.status}`;
  if (r.status === 429) {
    const ra = r.headers.get('Retry-After');
    if (ra) msg = `Too many requests: try again in ${ra} s.`;
  }
  return new ApiError(r.status, e.code, msg);
}

// fetch() with the key; returns the Response (ok) or throws ApiError. A 401 also tells the
// app (the key was revoked or is wrong) unless `probe` is set.
export async function request(path, { method = 'GET', json, body, signal, probe = false, hdrs } = {}) {
  const init = { method, headers: headers(hdrs), signal, cache: 'no-cache' };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server cannot be reached.');
  }
  if (!r.ok) {
    const err = await errorOf(r);
    if (r.status === 401 && !probe) onUnauthorized(err.message);
    throw err;
  }
  return r;
}

export async function getJSON(path, opts) {
  return (await request(path, opts)).json();
}

export const recordingsPage = (cursor, limit = 100, status = '') =>
  getJSON(`/v1/recordings?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}${status ? `&status=${encodeURIComponent(status)}` : ''}`);
export const recording = (id, opts) => getJSON(`/v1/recordings/${id}`, opts);
export const transcriptJSON = (id, opts) => getJSON(`/v1/recordings/${id}/transcript?format=json`, opts);
export const removeRecording = (id) => request(`/v1/recordings/${id}`, { method: 'DELETE' });
export const job = (id) => getJSON(`/v1/jobs/${id}`);
export const retryJob = (id) => getJSON(`/v1/jobs/${id}/retry`, { method: 'POST' });
export const search = (q, offset, signal) =>
  getJSON(`/v1/search?q=${encodeURIComponent(q)}&limit=20&offset=${offset || 0}`, { signal });

// The latest job of a recording, or null.
export async function jobOf(recordingId) {
  const l = await getJSON(`/v1/jobs?recording=${recordingId}&limit=1`);
  return l.jobs && l.jobs.length ? l.jobs[0] : null;
}

// Upload one file (multipart field "file") with XMLHttpRequest, for its upload progress:
// onProgress(sentBytes, totalBytes). Returns { promise, abort }; the promise resolves to the
// server's answer ({recording, job, existed, links}) or rejects with ApiError.
export function upload(file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', '/v1/recordings');
    if (session.key) xhr.setRequestHeader('Authorization', `Bearer ${session.key}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && body) return resolve(body);
      const e = (body && body.error) || {};
      if (xhr.status === 401) onUnauthorized(e.message);
      reject(new ApiError(xhr.status, e.code, e.message || `upload failed (HTTP ${xhr.status})`));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload was cut off: the server cannot be reached.'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'Upload canceled.'));
    const form = new FormData();
    form.append('file', file, file.name);
    form.append('title', file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

// Server-Sent Events read with fetch(), because EventSource cannot send an Authorization
// header. Calls onEvent(name, data) per event (data parsed as JSON when it is); resolves
// when the stream ends (the job ended, or the server closed it), rejects on errors.
export async function events(path, onEvent, signal) {
  const r = await request(path, { signal, hdrs: { Accept: 'text/event-stream' } });
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + (buf[i] === '\r' ? 4 : 2));
      let name = 'message';
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      let d = data.join('\n');
      try { d = JSON.parse(d); } catch { /* plain text */ }
      onEvent(name, d);
    }
  }
}

// A transcript in another format, as a Blob (for export).
export async function transcriptBlob(id, format) {
  return (await request(`/v1/recordings/${id}/transcript?format=${format}`)).blob();
}

// The recording's audio as a URL for <audio>. Without keys the API URL itself (the browser
// then seeks with HTTP Range requests). With a key the browser cannot add the header to a
// media element's requests, so the file is fetched with it and played from a blob: URL
// (revoke() frees it).
export async function audioURL(id, signal) {
  const path = `/v1/recordings/${id}/audio`;
  if (!session.keyNeeded) return { url: path, revoke() {} };
  const blob = await (await request(path, { signal })).blob();
  const url = URL.createObjectURL(blob);
  return { url, revoke: () => URL.revokeObjectURL(url) };
}

// Prometheus text -> [{name, labels:{}, value}]
export async function metrics() {
  const text = await (await request('/metrics')).text();
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const kv of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[kv[1]] = kv[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}
