// search.js: ranked hits for the query in the header's search box. The box debounces
// typing (app.js); here a new query aborts the request of the one before it.
import * as api from './api.js';
import { h, snippet, clock, when } from './util.js';

let inflight = null; // AbortController of the request in flight

export async function render(main, params) {
  const text = (params.q || '').trim();
  main.dataset.title = text ? `Search: ${text}` : 'Search';
  const q = document.getElementById('q');
  if (document.activeElement !== q) q.value = text;
  const status = h('p.muted', { role: 'status' }, text ? 'Searching…' : 'Type in the search box to search every transcript.');
  const list = h('ul.hits', { 'aria-label': 'Search results' });
  const more = h('button.secondary', { type: 'button', hidden: true }, 'More results');
  main.append(h('h1', null, text ? h('span', null, 'Results for “', text, '”') : 'Search'), status, list, h('div.row', null, more));
  if (!text) return;

  let offset = 0;
  async function page() {
    if (inflight) inflight.abort();
    const ctl = new AbortController();
    inflight = ctl;
    more.disabled = true;
    try {
      const r = await api.search(text, offset, ctl.signal);
      if (ctl.signal.aborted) return;
      for (const hit of r.hits) {
        const title = hit.title || `Recording ${hit.recording}`;
        list.append(h('li', null,
          h('a', { href: `#/r/${hit.recording}?t=${hit.start_ms}` },
            h('div.row', null, h('strong.grow', null, title), h('span.muted', null, `at ${clock(hit.start_ms)} · ${when(hit.created_ms)}`)),
            h('p.snip', null, snippet(hit.snippet || hit.text)))));
      }
      offset += r.hits.length;
      const n = list.children.length;
      status.textContent = n ? `${n}${r.more ? '+' : ''} ${n === 1 ? 'hit' : 'hits'}` : 'No transcript matches this search.';
      more.hidden = !r.more;
    } catch (e) {
      if (e.name === 'AbortError') return;
      status.textContent = e.status === 400 ? `This search cannot be run: ${e.message}` : `Search failed: ${e.message}`;
      status.className = 'error';
    } finally {
      if (inflight === ctl) inflight = null;
      more.disabled = false;
    }
  }
  more.addEventListener('click', page);
  await page();
  return () => { if (inflight) inflight.abort(); };
}
