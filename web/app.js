// app.js: start-up, sign-in and the hash router (#/, #/upload, #/record, #/search?q=,
// #/r/<id>?t=<ms>, #/admin, #/signin). Views are modules with
// render(main, params) -> optional cleanup function; the less used ones load on demand.
import { session, setKey, ApiError, setUnauthorizedHandler } from './api.js';
import { h, banner, debounce } from './util.js';
import * as list from './list.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const searchForm = document.getElementById('search-form');
const q = document.getElementById('q');
let cleanup = null;
let signedIn = false;
let signinMessage = sessionStorage.getItem('hark.message') || '';
sessionStorage.removeItem('hark.message');
let routeGen = 0;

const views = {
  list: async () => list,
  upload: () => import('./upload.js'),
  record: () => import('./record.js'),
  search: () => import('./search.js'),
  recording: () => import('./transcript.js'),
  admin: () => import('./admin.js'),
};

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  const params = Object.fromEntries(new URLSearchParams(query));
  let m;
  if (path === '/' || path === '') return { view: 'list', params };
  if ((m = /^\/r\/(\d+)$/.exec(path))) return { view: 'recording', params: { ...params, id: m[1] } };
  const name = path.slice(1);
  if (name in views) return { view: name, params };
  if (name === 'signin') return { view: 'signin', params };
  return null;
}

async function route() {
  if (!location.hash.startsWith('#/') && location.hash !== '') return; // e.g. #main
  const r = parseHash() || { view: 'list', params: {} };
  if (!signedIn && session.keyNeeded) return showSignin();
  if (r.view === 'signin') { location.replace('#/'); return; }
  if (r.view === 'admin' && !session.admin) { location.replace('#/'); return; }
  for (const a of nav.querySelectorAll('a[data-nav]')) {
    if (a.dataset.nav === r.view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (r.view !== 'search' && document.activeElement !== q) q.value = '';
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  const gen = ++routeGen;
  let mod;
  try {
    mod = await views[r.view]();
  } catch (e) {
    main.replaceChildren(h('p.error', null, `This view could not be loaded: ${e.message}`));
    return;
  }
  if (gen !== routeGen) return; // a newer route took over while this one loaded
  main.replaceChildren();
  const done = (await mod.render(main, r.params)) || null;
  if (gen !== routeGen) { if (done) done(); return; }
  cleanup = done;
  document.title = `${main.dataset.title || 'hark'} · hark`;
}

// Is the key good? Asks for the recordings and the admin API at once (an admin key may read
// /v1/admin/mode); when the list is the view about to be shown, the recordings asked for
// are its first page, handed to list.js (one round trip fewer before the first rows).
async function probe(key) {
  const hdrs = key ? { Authorization: `Bearer ${key}` } : {};
  const listing = (parseHash() || { view: 'list' }).view === 'list';
  const [r, a] = await Promise.all([
    fetch(`/v1/recordings?limit=${listing ? list.PAGE : 1}`, { headers: hdrs, cache: 'no-store' }),
    fetch('/v1/admin/mode', { headers: hdrs, cache: 'no-store' }),
  ]);
  if (r.status === 401) {
    let msg = '';
    try { msg = (await r.json()).error.message; } catch { /* */ }
    return { ok: false, status: 401, message: msg };
  }
  if (!r.ok) {
    let msg = `HTTP ${r.status}`;
    try { msg = (await r.json()).error.message; } catch { /* */ }
    return { ok: false, status: r.status, message: msg };
  }
  if (listing) {
    try { list.prime(await r.json()); } catch { /* the list loads it again */ }
  }
  return { ok: true, admin: a.ok };
}

function enter(admin) {
  signedIn = true;
  session.admin = admin;
  nav.hidden = false;
  searchForm.hidden = false;
  document.getElementById('nav-admin').hidden = !admin;
  document.getElementById('signout').hidden = !session.keyNeeded;
}

function showSignin(message) {
  signedIn = false;
  nav.hidden = true;
  searchForm.hidden = true;
  if (cleanup) { try { cleanup(); } catch { /* */ } cleanup = null; }
  document.title = 'Sign in · hark';
  const input = h('input', { id: 'key', name: 'key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'key-help key-error' });
  const err = h('p.error', { id: 'key-error', role: 'alert' }, message || signinMessage || '');
  signinMessage = '';
  const btn = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { onsubmit: async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    btn.disabled = true;
    err.textContent = '';
    try {
      const p = await probe(key);
      if (!p.ok) {
        err.textContent = p.status === 401
          ? 'This key was not accepted: it is wrong, or it has been revoked. Ask the administrator for a new one.'
          : `The server answered: ${p.message}`;
        input.select();
        return;
      }
      setKey(key);
      enter(p.admin);
      if (!location.hash.startsWith('#/') || location.hash === '#/signin') location.replace('#/');
      route();
    } catch {
      err.textContent = 'The server cannot be reached.';
    } finally {
      btn.disabled = false;
    }
  } },
    h('label', { for: 'key' }, 'API key'),
    input,
    h('p.muted', { id: 'key-help' }, 'This server needs an API key (it starts with ', h('code', null, 'hark_'), '); its administrator gives them out. It is kept in this browser until you sign out.'),
    err,
    h('div', null, btn));
  main.replaceChildren(h('section.card.signin', { 'aria-labelledby': 'signin-title' }, h('h1', { id: 'signin-title' }, 'Sign in to hark'), form));
  input.focus();
}

// Signing out or losing the key starts the page afresh, so nothing of one key's data (the
// list, uploads) stays in memory for the next; the message survives the reload.
function restart(message) {
  setKey('');
  sessionStorage.setItem('hark.message', message);
  location.replace('#/');
  location.reload();
}

setUnauthorizedHandler(() => {
  if (!session.keyNeeded) return;
  restart('Your key is no longer accepted: it is unknown or has been revoked. Sign in again.');
});

document.getElementById('signout').addEventListener('click', () => restart('Signed out.'));

document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

// The search box: queries as you type (debounced; the search view cancels stale requests).
const goSearch = debounce(() => {
  const v = q.value.trim();
  const target = v ? `#/search?q=${encodeURIComponent(v)}` : '#/';
  if (location.hash.startsWith('#/search')) {
    history.replaceState(null, '', target); // one history entry per search, not per key
    route();
  } else if (v) {
    location.hash = target;
  }
}, 250);
q.addEventListener('input', goSearch);
searchForm.addEventListener('submit', (e) => { e.preventDefault(); goSearch.cancel(); goSearchNow(); });
function goSearchNow() {
  const v = q.value.trim();
  if (!v) return;
  const target = `#/search?q=${encodeURIComponent(v)}`;
  if (location.hash === target) route();
  else location.hash = target;
}

window.addEventListener('hashchange', route);

async function boot() {
  try {
    // /health/ready needs no key and says whether keys are required (no 401 to find out);
    // a saved key is tried at the same time
    const early = session.key ? probe(session.key) : null;
    if (early) early.catch(() => {});
    const ready = await fetch('/health/ready', { cache: 'no-store' }).then((r) => r.json());
    if (!ready.keys_required) {
      session.keyNeeded = false; // a local server without keys: everyone may do everything
      setKey('');
      enter(true);
      return route();
    }
    session.keyNeeded = true;
    if (session.key) {
      const p = await early;
      if (p.ok) { enter(p.admin); return route(); }
      if (p.status === 401) {
        setKey('');
        return showSignin('Your saved key is no longer accepted: it is wrong or has been revoked. Sign in with another.');
      }
      throw new ApiError(p.status, '', p.message);
    }
    showSignin();
  } catch (e) {
    main.replaceChildren(h('p.error', { role: 'alert' }, `hark's server is not answering: ${e.message}`),
      h('button', { type: 'button', onclick: () => location.reload() }, 'Try again'));
  }
}

banner('');
boot();
