// list.js: the recordings, newest first, in a virtual list: only the rows in view (plus a
// few either side) are in the DOM; pages of 100 are fetched with the API's cursor as the
// view nears the end of what is loaded (a page ahead, so a fast scroll seldom waits).
// Delete hides the row at once and offers Undo (undo.js: the request goes out when the
// undo window ends or the page is left).
import * as api from './api.js';
import { h, when, clock, banner } from './util.js';
import * as undo from './undo.js';

const OVERSCAN = 6;
export const PAGE = 100;

// Kept while the page lives, so going back to the list does not refetch from the top.
// `fresh`: the first page came with the app's start-up (prime) and needs no refetch.
const state = { items: [], cursor: null, done: false, loading: null, filter: '', scrollTop: 0, fresh: false };
let repaint = null; // set while the list is on screen: redraw every row

// Pages from the server, less what is waiting to be deleted.
const visible = (recs) => recs.filter((r) => !undo.isPending(r.id));

export function reset() {
  Object.assign(state, { items: [], cursor: null, done: false, loading: null, scrollTop: 0, fresh: false });
}

// The first page (unfiltered), fetched by the app while it checked the key.
export function prime(page) {
  if (state.items.length || state.done || state.loading || state.filter) return;
  state.items.push(...visible(page.recordings));
  state.cursor = page.next_cursor;
  state.done = !page.next_cursor;
  state.fresh = true;
}

export function forget(id) {
  const i = state.items.findIndex((r) => r.id === id);
  if (i >= 0) state.items.splice(i, 1);
  return i;
}

// Put a recording back where it belongs (newest first: created_ms, then id, descending),
// unless it belongs after the loaded part (its page will bring it) or the status filter
// now hides it.
function reinstate(r) {
  if (state.items.some((x) => x.id === r.id) || (state.filter && r.status !== state.filter)) return -1;
  const after = (x) => x.created_ms < r.created_ms || (x.created_ms === r.created_ms && x.id < r.id);
  let i = state.items.findIndex(after);
  if (i < 0) {
    if (!state.done) return -1;
    i = state.items.length;
  }
  state.items.splice(i, 0, r);
  return i;
}

export async function render(main) {
  main.dataset.title = 'Recordings';
  const rowH = parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--row')) || 56;
  const count = h('span.muted', { 'aria-live': 'polite' });
  const filter = h('select', { id: 'status-filter', onchange: () => { state.filter = filter.value; reset(); inner.replaceChildren(); nodes.clear(); load(); } },
    ...[['', 'All'], ['done', 'Done'], ['running', 'Transcribing'], ['pending', 'Waiting'], ['failed', 'Failed']]
      .map(([v, t]) => h('option', { value: v, selected: state.filter === v }, t)));
  const inner = h('div.vlist-inner', { role: 'list', 'aria-label': 'Recordings, newest first' });
  const box = h('div.vlist', { tabindex: '-1' }, inner);
  const empty = h('p.empty.muted', { hidden: true }, 'No recordings yet. ', h('a', { href: '#/upload' }, 'Upload one'), '.');
  main.append(
    h('div.row', null, h('h1.grow', null, 'Recordings'), count,
      h('label', { for: 'status-filter', class: 'sr' }, 'Status'), filter,
      h('a.button', { href: '#/upload' }, 'Upload')),
    empty, box);

  const nodes = new Map(); // index -> row element
  let raf = 0;

  function rowFor(i) {
    const r = state.items[i];
    if (!r) {
      return h('div.vrow', { role: 'listitem', 'aria-busy': 'true' }, h('span.muted', null, 'Loading more…'));
    }
    const title = r.title || r.source || `Recording ${r.id}`;
    return h('div.vrow', { role: 'listitem', 'aria-setsize': state.done ? state.items.length : -1, 'aria-posinset': i + 1, 'data-id': r.id },
      h('a.title', { href: `#/r/${r.id}`, title }, title),
      h('span.meta', null, r.duration_ms ? clock(r.duration_ms) : ''),
      h('span.meta.when', null, when(r.created_ms)),
      h(`span.badge.${r.status}`, null, r.status),
      h('button.secondary', { type: 'button', 'aria-label': `Delete ${title}`, onclick: () => remove(r, title) }, 'Delete'));
  }

  function paint() {
    raf = 0;
    const n = state.items.length + (state.done ? 0 : 1);
    const high = `${n * rowH}px`;
    if (inner.style.height !== high) inner.style.height = high;
    const top = box.scrollTop, height = box.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / rowH) - OVERSCAN);
    const last = Math.min(n - 1, Math.ceil((top + height) / rowH) + OVERSCAN);
    for (const [i, el] of nodes) {
      // keep the focused row so keyboard users do not lose their place
      if (i < first || i > last || (i >= state.items.length) !== (el.getAttribute('aria-busy') === 'true')) {
        if (el.contains(document.activeElement) && i < state.items.length && i >= first - 50 && i <= last + 50) continue;
        el.remove();
        nodes.delete(i);
      }
    }
    for (let i = first; i <= last; i++) {
      if (nodes.has(i)) continue;
      const el = rowFor(i);
      el.style.transform = `translateY(${i * rowH}px)`;
      nodes.set(i, el);
      inner.append(el);
    }
    // only real changes: the count is a live region, and each write would be announced
    const said = state.items.length ? `${state.items.length}${state.done ? '' : '+'} shown` : '';
    if (count.textContent !== said) count.textContent = said;
    const none = state.done && !state.items.length;
    if (empty.hidden === none) { empty.hidden = !none; box.hidden = none; }
    if (!state.done && last >= state.items.length - PAGE) load();
  }
  const schedule = () => { if (!raf) raf = requestAnimationFrame(paint); };

  async function load() {
    if (state.loading || state.done) return state.loading;
    state.loading = (async () => {
      try {
        const page = await api.recordingsPage(state.cursor, PAGE, state.filter);
        state.items.push(...visible(page.recordings));
        state.cursor = page.next_cursor;
        state.done = !page.next_cursor;
      } catch (e) {
        if (e.status !== 401) banner(`Could not load recordings: ${e.message}`, { bad: true });
        state.done = true;
      } finally {
        state.loading = null;
      }
      // the placeholder row at the end becomes a real one
      const busy = nodes.get(state.items.length - 1);
      if (busy) { busy.remove(); nodes.delete(state.items.length - 1); }
      for (const [i, el] of nodes) if (el.getAttribute('aria-busy') === 'true') { el.remove(); nodes.delete(i); }
      schedule();
    })();
    return state.loading;
  }

  // Gone from the list at once; the server is told when the undo window ends.
  function remove(r, title) {
    const i = forget(r.id);
    redraw();
    // the keyboard stays in the list: on the row that took this one's place
    const next = [...nodes.entries()].find(([k]) => k === Math.min(i, state.items.length - 1));
    if (next && next[1].querySelector('button')) next[1].querySelector('button').focus();
    else box.focus();
    const back = (focus) => {
      const at = reinstate(r);
      if (!repaint) return;
      repaint();
      if (focus && at >= 0) {
        box.scrollTop = Math.min(box.scrollTop, at * rowH);
        if (box.scrollTop + box.clientHeight < (at + 1) * rowH) box.scrollTop = (at + 1) * rowH - box.clientHeight;
        paint();
        const el = nodes.get(at);
        if (el) el.querySelector('a').focus();
      }
    };
    undo.remove(r.id, title, { onUndo: back, onFail: () => back(false) });
  }

  // Every row again (after the items moved under them); synchronous, so focus can follow.
  function redraw() {
    for (const el of nodes.values()) el.remove();
    nodes.clear();
    if (raf) { cancelAnimationFrame(raf); raf = 0; }
    paint();
  }
  repaint = redraw;

  box.addEventListener('scroll', schedule, { passive: true });
  const ro = new ResizeObserver(schedule);
  ro.observe(box);
  if (state.fresh) {
    state.fresh = false;
  } else if (!state.items.length && !state.done) {
    await load();
  } else {
    // new recordings since last time (an upload, another client): start again from the top
    try {
      const page = await api.recordingsPage(null, PAGE, state.filter);
      const recs = visible(page.recordings);
      // the same rows on top (and, when that is all there is, nothing more)? else start afresh
      const same = recs.every((r, k) => (state.items[k] || {}).id === r.id) && (page.next_cursor || recs.length === state.items.length);
      if (!same) {
        reset();
        state.items.push(...recs);
        state.cursor = page.next_cursor;
        state.done = !page.next_cursor;
      } else {
        state.items.splice(0, recs.length, ...recs); // fresh statuses
      }
    } catch { /* keep what we have */ }
  }
  box.scrollTop = state.scrollTop;
  paint();
  return () => {
    state.scrollTop = box.scrollTop;
    repaint = null;
    ro.disconnect();
    if (raf) cancelAnimationFrame(raf);
  };
}
