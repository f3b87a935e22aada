// list.js: the recordings, newest first, in a virtual list: only the rows in view (plus a
// few either side) are in the DOM; pages of 100 are fetched with the API's cursor as the
// view nears the end of what is loaded.
import * as api from './api.js';
import { h, when, clock, confirmDialog, banner } from './util.js';

const OVERSCAN = 6;
const PAGE = 100;

// Kept while the page lives, so going back to the list does not refetch from the top.
const state = { items: [], cursor: null, done: false, loading: null, filter: '', scrollTop: 0 };

export function reset() {
  Object.assign(state, { items: [], cursor: null, done: false, loading: null, scrollTop: 0 });
}

export function forget(id) {
  const i = state.items.findIndex((r) => r.id === id);
  if (i >= 0) state.items.splice(i, 1);
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
    inner.style.height = `${n * rowH}px`;
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
    count.textContent = state.items.length ? `${state.items.length}${state.done ? '' : '+'} shown` : '';
    empty.hidden = !(state.done && !state.items.length);
    box.hidden = !empty.hidden;
    if (!state.done && last >= state.items.length - 20) load();
  }
  const schedule = () => { if (!raf) raf = requestAnimationFrame(paint); };

  async function load() {
    if (state.loading || state.done) return state.loading;
    state.loading = (async () => {
      try {
        const page = await api.recordingsPage(state.cursor, PAGE, state.filter);
        state.items.push(...page.recordings);
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

  async function remove(r, title) {
    if (!(await confirmDialog('Delete this recording?', `“${title}” and its transcript and audio will be deleted. This cannot be undone.`))) return;
    try {
      await api.removeRecording(r.id);
      forget(r.id);
      for (const el of nodes.values()) el.remove();
      nodes.clear();
      banner(`Deleted “${title}”.`, { ms: 4000 });
      schedule();
      box.focus();
    } catch (e) {
      banner(`Could not delete “${title}”: ${e.message}`, { bad: true });
    }
  }

  box.addEventListener('scroll', schedule, { passive: true });
  const ro = new ResizeObserver(schedule);
  ro.observe(box);
  if (!state.items.length && !state.done) {
    await load();
  } else {
    // new recordings since last time (an upload, another client): start again from the top
    try {
      const page = await api.recordingsPage(null, PAGE, state.filter);
      if ((page.recordings[0] || {}).id !== (state.items[0] || {}).id || page.recordings.length !== Math.min(PAGE, state.items.length)) {
        reset();
        state.items.push(...page.recordings);
        state.cursor = page.next_cursor;
        state.done = !page.next_cursor;
      } else {
        state.items.splice(0, page.recordings.length, ...page.recordings); // fresh statuses
      }
    } catch { /* keep what we have */ }
  }
  box.scrollTop = state.scrollTop;
  paint();
  return () => {
    state.scrollTop = box.scrollTop;
    ro.disconnect();
    if (raf) cancelAnimationFrame(raf);
  };
}
