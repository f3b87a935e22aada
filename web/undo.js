// undo.js: deletes that can be undone. A deleted recording disappears from the page at
// once and a toast offers "Undo" for UNDO_MS; the DELETE request goes to the server only
// when that time is up, so an undo never has to bring anything back from the server.
//
// Semantics (what happens to a delete still in its undo window):
// - the toast expires: DELETE is sent; if it fails, the recording comes back on the page
//   with an error message (nothing is deleted that the page says is still there).
// - the page is left, reloaded or its tab closed (pagehide): every pending DELETE is sent
//   at once with fetch(..., {keepalive: true}), which the browser completes after the page
//   is gone. Leaving the page is taken as "I am done": the delete happens.
// - the browser crashes or the tab is killed without a pagehide: nothing is sent and the
//   recording stays on the server. A delete is lost, never a recording.
// Undo: the button in the toast (timers pause while the toast is hovered or focused, so
// there is time to reach it), or Ctrl+Z / Cmd+Z anywhere outside a text field for the
// latest delete. The toast region is aria-live: screen readers hear the delete and the undo.
import { session } from './api.js';
import { h, banner } from './util.js';

export const UNDO_MS = 8000;

const pending = new Map(); // id -> { title, auth, timer, left, started, el, onUndo, onFail }

export const isPending = (id) => pending.has(id);

function region() {
  return document.getElementById('toasts');
}

function send(id, auth, keepalive) {
  return fetch(`/v1/recordings/${id}`, { method: 'DELETE', headers: auth ? { Authorization: auth } : {}, keepalive, cache: 'no-store' });
}

function arm(p, ms) {
  p.left = ms;
  p.started = performance.now();
  p.timer = setTimeout(() => commit(p.id), ms);
}

function pause(p) {
  if (!p.timer) return;
  clearTimeout(p.timer);
  p.timer = 0;
  p.left = Math.max(1000, p.left - (performance.now() - p.started));
  p.el.classList.add('paused');
}

function resume(p) {
  if (p.timer || !pending.has(p.id)) return;
  p.el.classList.remove('paused');
  arm(p, p.left);
}

async function commit(id) {
  const p = pending.get(id);
  if (!p) return;
  pending.delete(id);
  p.el.remove();
  let ok = false, msg = '';
  try {
    const r = await send(id, p.auth, true);
    ok = r.ok || r.status === 404; // already gone (another tab, another client): fine
    if (!ok) {
      try { msg = (await r.json()).error.message; } catch { msg = `HTTP ${r.status}`; }
    }
  } catch {
    msg = 'the server cannot be reached';
  }
  if (!ok) {
    banner(`Could not delete “${p.title}”: ${msg}. It is back in the list.`, { bad: true });
    p.onFail();
  }
}

// Undo a pending delete (the latest one when `id` is not given). Returns true if there was one.
export function undo(id) {
  if (id === undefined) id = [...pending.keys()].pop();
  const p = pending.get(id);
  if (!p) return false;
  clearTimeout(p.timer);
  pending.delete(id);
  // the keyboard goes to the restored row if it was in the toast or the list (not elsewhere)
  const act = document.activeElement;
  const focus = !act || act === document.body || p.el.contains(act) || !!act.closest('.vlist');
  p.el.remove();
  const note = h('div.toast', null, h('span', null, `Restored “${p.title}”.`));
  region().append(note);
  setTimeout(() => note.remove(), 3000);
  p.onUndo(focus);
  return true;
}

// Delete recording `id` after the undo window. onUndo(focus) puts it back on the page (and
// the keyboard on it when `focus`);
// onFail() does the same when the server refused the delete.
export function remove(id, title, { onUndo, onFail }) {
  const auth = session.key ? `Bearer ${session.key}` : ''; // the key of now, even after a sign-out
  const p = { id, title, auth, timer: 0, left: UNDO_MS, started: 0, onUndo, onFail };
  const btn = h('button.secondary', { type: 'button', 'aria-keyshortcuts': 'Control+Z', onclick: () => undo(id) }, 'Undo');
  p.el = h('div.toast', { 'data-id': id },
    h('span.grow', null, `Deleted “${title}”.`),
    h('span.sr', null, ' Press Control Z to undo.'),
    btn);
  const bar = h('span.bar');
  bar.style.animationDuration = `${UNDO_MS}ms`;
  p.el.append(bar);
  p.el.addEventListener('mouseenter', () => pause(p));
  p.el.addEventListener('mouseleave', () => { if (!p.el.contains(document.activeElement)) resume(p); });
  p.el.addEventListener('focusin', () => pause(p));
  p.el.addEventListener('focusout', (e) => { if (!p.el.contains(e.relatedTarget) && !p.el.matches(':hover')) resume(p); });
  pending.set(id, p);
  const r = region();
  while (r.children.length >= 3) r.firstElementChild.remove(); // older toasts: still pending, Ctrl+Z still works
  r.append(p.el);
  arm(p, UNDO_MS);
}

// Leaving the page commits what is pending (keepalive: the requests outlive the page).
window.addEventListener('pagehide', () => {
  for (const [id, p] of pending) {
    clearTimeout(p.timer);
    send(id, p.auth, true).catch(() => {});
  }
  pending.clear();
});

document.addEventListener('keydown', (e) => {
  if (e.key !== 'z' && e.key !== 'Z') return;
  if (!(e.ctrlKey || e.metaKey) || e.shiftKey || e.altKey) return;
  const t = e.target;
  if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return; // the field's own undo
  if (undo()) e.preventDefault();
});
