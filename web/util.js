// util.js: DOM building (text only: nothing is parsed as HTML), formatting, dialogs.

// h('p.note', {attrs}, child...): an element. Children are nodes or strings (text nodes).
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else if (k in el && typeof v !== 'string') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// The server marks hits in snippets with <mark>…</mark> and sends the rest as plain text:
// split on the markers and build text nodes and <mark> elements (never innerHTML).
export function snippet(text) {
  const frag = document.createDocumentFragment();
  let marked = false;
  for (const part of String(text || '').split(/(<mark>|<\/mark>)/)) {
    if (part === '<mark>') marked = true;
    else if (part === '</mark>') marked = false;
    else if (part) frag.append(marked ? h('mark', null, part) : document.createTextNode(part));
  }
  return frag;
}

// 83456 ms -> "1:23", 3723000 -> "1:02:03"
export function clock(ms) {
  const s = Math.max(0, Math.floor((ms || 0) / 1000));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const p = (n) => String(n).padStart(2, '0');
  return hh ? `${hh}:${p(mm)}:${p(ss)}` : `${mm}:${p(ss)}`;
}

// Made on first use: building a DateTimeFormat loads locale data (tens of ms on a slow
// machine), which views without dates should not pay for at start-up.
let dateFmt = null;
export const when = (ms) => {
  if (!ms) return '';
  if (!dateFmt) dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  return dateFmt.format(new Date(ms));
};

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  const u = ['KB', 'MB', 'GB', 'TB'];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${u[i]}`;
}

export function debounce(fn, ms) {
  let t = 0;
  const d = (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
  d.cancel = () => clearTimeout(t);
  return d;
}

// A modal confirmation (the page's <dialog>): resolves true when confirmed.
export function confirmDialog(title, text, okLabel = 'Delete') {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  const ok = document.getElementById('confirm-ok');
  const cancel = document.getElementById('confirm-cancel');
  ok.textContent = okLabel;
  return new Promise((resolve) => {
    const done = (v) => () => dlg.close(v);
    const onOk = done('ok'), onCancel = done('cancel');
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dlg.addEventListener('close', () => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      resolve(dlg.returnValue === 'ok');
    }, { once: true });
    dlg.returnValue = '';
    dlg.showModal();
  });
}

let bannerTimer = 0;
// A message under the header; `bad` for errors. Stays until replaced unless `ms` is given.
export function banner(text, { bad = false, ms = 0 } = {}) {
  const b = document.getElementById('banner');
  clearTimeout(bannerTimer);
  b.textContent = text || '';
  b.classList.toggle('bad', bad);
  b.hidden = !text;
  if (text && ms) bannerTimer = setTimeout(() => { b.hidden = true; }, ms);
}

// Save a Blob as a file.
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
