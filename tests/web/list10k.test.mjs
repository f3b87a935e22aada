// list10k.test.mjs: the recordings list with 10,000 recordings, and delete with undo, in
// Debian's Chromium (puppeteer-core) against a real `hark serve --engine test` on
// 127.0.0.1 whose SQLite store was seeded by tests/web/seed.c (hark_web_seed: the
// library's own hark_store_recording_create, 10,000 times) for a user signed in with a
// real API key.
//
// List: time from navigation to the first rows on screen; then a scroll through all
// 10,000 rows at a fling's speed (HARK_LIST_STEP px per frame, default 1200 = ~21 rows)
// while pages come in with the API's cursor, timing every frame (requestAnimationFrame
// deltas: median, p95, longest; the same page standing still is the baseline) with the
// renderer's own work per frame (script, style, layout: CDP Performance counters), and
// counting rows in the DOM. Prints the figures; requires the DOM to stay bounded (< 60
// rows) and the frames to be smooth by a generous bound (median < 50 ms, p95 < 200 ms: the
// machine is shared and often loaded; a quiet run gives a median of ~17 ms).
//
// Delete with undo (web/undo.js): a delete hides the row at once and shows a toast with
// Undo in an aria-live region; Ctrl+Z and the button both bring it back and the server
// never lost it; left alone, the DELETE goes out when the toast expires; a page left
// inside the undo window sends it with keepalive. All checked against the server.
// Screenshots (desktop and phone: the list, scrolled, the toast) go to
// <build>/web-screenshots/list10k-*.png.
//
// Environment (set by ctest): HARK_BIN, HARK_WEB_KEYS, HARK_WEB_SEED, HARK_BUILD_DIR;
// HARK_LIST_N overrides 10000. Exit 77 (skipped) without chromium or node_modules.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { startServer as startHark, stopServer as stopHark } from './server.mjs';

const skip = (why) => { console.log(`SKIP: ${why}`); process.exit(77); };
const chromium = process.env.HARK_CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(chromium)) skip(`${chromium} is not installed (tools/setup.sh installs Debian's chromium)`);
let puppeteer;
try {
  puppeteer = (await import('puppeteer-core')).default;
} catch {
  skip('tests/web/node_modules is missing (tools/setup.sh runs npm ci there)');
}
const { HARK_BIN: bin, HARK_WEB_KEYS: keysBin, HARK_WEB_SEED: seedBin } = process.env;
for (const [k, v] of Object.entries({ HARK_BIN: bin, HARK_WEB_KEYS: keysBin, HARK_WEB_SEED: seedBin })) {
  assert.ok(v && fs.existsSync(v), `${k} must name a built program`);
}
const N = Number(process.env.HARK_LIST_N || 10000);
const STEP = Number(process.env.HARK_LIST_STEP || 1200);
const UNDO_MS = 8000; // web/undo.js

const shots = path.join(process.env.HARK_BUILD_DIR || os.tmpdir(), 'web-screenshots');
fs.mkdirSync(shots, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hark-web10k-'));
const db = path.join(tmp, 'hark.db');
const t0 = Date.now();
const step = (what) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);
let passed = 0;
const check = (cond, what) => { assert.ok(cond, what); passed++; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let server = null;
const startServer = () => startHark(bin, ['--listen', '127.0.0.1:0', '--db', db, '--cache-db', 'none',
  '--engine', 'test', '--vad', 'off']);
const stopServer = () => stopHark(server);

// ---- the store: created by the server, then a user, a key and N recordings ---------------
server = await startServer();
assert.equal(await stopServer(), 0, 'the server stops cleanly');
const [, key] = execFileSync(keysBin, [db, 'create', 'ana', '0']).toString().trim().split(' ');
let ts = Date.now();
const [firstId, lastId] = execFileSync(seedBin, [db, String(N), 'ana']).toString().trim().split(' ').map(Number);
step(`seeded ${N} recordings (ids ${firstId}..${lastId}) in ${Date.now() - ts} ms`);
server = await startServer();
const base = server.url;
const api = (p, opts = {}) => fetch(base + p, { ...opts, headers: { Authorization: `Bearer ${key}`, ...(opts.headers || {}) } });
const exists = async (id) => (await api(`/v1/recordings/${id}`)).status;
// the last page, straight from the API: the cursor query stays cheap deep into the list
{
  let cursor = '', pages = 0, worst = 0;
  ts = Date.now();
  for (;;) {
    const t = Date.now();
    const pg = await (await api(`/v1/recordings?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).json();
    worst = Math.max(worst, Date.now() - t);
    pages++;
    if (!pg.next_cursor) break;
    cursor = pg.next_cursor;
  }
  console.log(`API: all ${pages} pages of 100 in ${Date.now() - ts} ms (slowest page ${worst} ms)`);
  check(pages === Math.ceil(N / 100), `${pages} pages of 100`);
}

const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
const problems = [];
let failed = false;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // a user key: the app's probe of the admin API is refused (403), as it should be
    if (m.type() === 'error' && !/status of 403/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  const shot = (name) => page.screenshot({ path: path.join(shots, `list10k-${name}.png`) });
  await page.setViewport({ width: 1280, height: 860 });
  // the moment the first row is in the DOM, by the page's own clock (ms since navigation)
  await page.evaluateOnNewDocument(() => {
    new MutationObserver((_, mo) => {
      if (document.querySelector('.vrow[data-id]')) { window.__firstRows = performance.now(); mo.disconnect(); }
    }).observe(document, { childList: true, subtree: true });
  });
  await page.goto(base + '/');
  await page.evaluate((k) => localStorage.setItem('hark.key', k), key);

  // -- time to first rows (three loads; the browser's cache is warm after the first)
  step(`list of ${N}`);
  const firsts = [];
  for (let i = 0; i < 3; i++) {
    if (i === 0) { // a fresh tab's first load; then reloads (a warm renderer and cache)
      await page.goto('about:blank');
      await page.goto(base + '/#/', { waitUntil: 'load' });
    } else {
      await page.reload({ waitUntil: 'load' });
    }
    await page.waitForSelector('.vrow[data-id]');
    firsts.push(await page.evaluate(() => window.__firstRows));
  }
  // where the time went on the last load: every request's start and end (ms since navigation)
  const timeline = await page.evaluate(() => performance.getEntriesByType('resource')
    .filter((e) => e.startTime < window.__firstRows)
    .map((e) => `${e.name.replace(location.origin, '').replace(/\/static\/[0-9a-f]+\//, '')} ${e.startTime.toFixed(0)}-${e.responseEnd.toFixed(0)}`));
  const nav = await page.evaluate(() => { const n = performance.getEntriesByType('navigation')[0]; return `page ${n.responseEnd.toFixed(0)}, DOMContentLoaded ${n.domContentLoadedEventEnd.toFixed(0)}`; });
  console.log(`list: last load: ${nav}; ${timeline.join('; ')}`);
  console.log(`list: first rows ${firsts.map((x) => x.toFixed(0)).join(', ')} ms after navigation start (a fresh tab, then two reloads)`);
  check(firsts.every((x) => x > 0) && [...firsts].sort((x, y) => x - y)[1] < 5000, 'the first rows come within 5 s');
  const newest = await page.$eval('.vrow[data-id]', (e) => Number(e.dataset.id));
  check(newest === lastId, `newest first (${newest})`);
  await shot('desktop');

  // -- the baseline: frames of the same page standing still (this machine's own noise)
  const idle = await page.evaluate(async () => {
    const deltas = [];
    let last = performance.now();
    for (let i = 0; i < 120; i++) {
      await new Promise((res) => requestAnimationFrame(res));
      const now = performance.now();
      deltas.push(now - last);
      last = now;
    }
    return deltas;
  });
  // -- scroll through all of it, a frame at a time; the renderer's own work from its counters
  const m0 = await page.metrics();
  const r = await page.evaluate(async (n, stepPx) => {
    const box = document.querySelector('.vlist');
    const deltas = [];
    let maxRows = 0, waits = 0, last = performance.now();
    const t = performance.now();
    while (performance.now() - t < 180000) {
      const before = box.scrollTop;
      box.scrollTop = before + stepPx;
      await new Promise((res) => requestAnimationFrame(res));
      const now = performance.now();
      deltas.push(now - last);
      last = now;
      maxRows = Math.max(maxRows, document.querySelectorAll('.vrow').length);
      if (box.scrollTop === before) {
        // at the end of what is loaded: done, or waiting for the next page
        if (document.querySelector(`.vrow[aria-posinset="${n}"]`) && box.scrollTop + box.clientHeight >= box.scrollHeight - 1) break;
        waits++;
      }
    }
    return { deltas, maxRows, waits, ms: performance.now() - t, lastTitle: [...document.querySelectorAll('.vrow[data-id]')].pop().getAttribute('aria-posinset') };
  }, N, STEP);
  const m1 = await page.metrics();
  const stats = (xs) => {
    const d = [...xs].sort((x, y) => x - y);
    const q = (p) => d[Math.min(d.length - 1, Math.floor(p * d.length))];
    return { frames: d.length, median: q(0.5), p95: q(0.95), longest: d[d.length - 1] };
  };
  const fig = stats(r.deltas), still = stats(idle);
  const per = (k) => (((m1[k] - m0[k]) * 1000) / fig.frames).toFixed(2);
  console.log(`list scroll through ${N} rows (${STEP} px a frame): ${fig.frames} frames in ${(r.ms / 1000).toFixed(1)} s, ` +
    `frame median ${fig.median.toFixed(1)} ms, p95 ${fig.p95.toFixed(1)} ms, longest ${fig.longest.toFixed(1)} ms ` +
    `(standing still, same page: median ${still.median.toFixed(1)}, p95 ${still.p95.toFixed(1)}, longest ${still.longest.toFixed(1)}); ` +
    `renderer work per frame: script ${per('ScriptDuration')} ms, style ${per('RecalcStyleDuration')} ms, layout ${per('LayoutDuration')} ms, ` +
    `all tasks ${per('TaskDuration')} ms; ${r.waits} frames waited at the end of the loaded rows for the next page; at most ${r.maxRows} rows in the DOM`);
  check(Number(r.lastTitle) === N, `the scroll reached row ${N} (last row in view: ${r.lastTitle})`);
  check(r.maxRows < 60, `rows in the DOM stay bounded (${r.maxRows})`);
  // generous: this shared 2-core machine stretches every frame when it is busy (a quiet run
  // gives a median of one frame, 16.7 ms); 200 ms would be a hitch anyone sees
  check(fig.median < 50 && fig.p95 < 200, `smooth enough: median ${fig.median.toFixed(1)} ms < 50, p95 ${fig.p95.toFixed(1)} ms < 200`);
  const high = await page.$eval('.vlist', (e) => e.scrollHeight);
  check(high === N * 56, `the list is N rows high once all are loaded (${high} px)`);
  await shot('desktop-end');
  // back to the middle (all loaded: no waiting)
  await page.$eval('.vlist', (b) => { b.scrollTop = b.scrollHeight / 2; });
  await page.waitForFunction(() => document.querySelector('.vrow[aria-posinset="5001"], .vrow[aria-posinset="5000"]'));
  await shot('desktop-middle');

  // -- delete with undo ---------------------------------------------------------------------
  step('delete with undo');
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('.vrow[data-id]');
  const rowIds = async () => page.$$eval('.vrow[data-id]', (els) => els.map((e) => Number(e.dataset.id)));
  const [a, b] = await rowIds();
  // A: with the keyboard (focus its Delete, Enter), then Ctrl+Z
  await page.focus(`.vrow[data-id="${a}"] button`);
  await page.keyboard.press('Enter');
  check(!(await page.$(`.vrow[data-id="${a}"]`)), 'the deleted row is gone at once');
  check((await rowIds())[0] === b, 'the next row moves up');
  const toast = await page.waitForSelector(`#toasts .toast[data-id="${a}"]`);
  check(await page.$eval('#toasts', (e) => e.getAttribute('aria-live')) === 'polite', 'the toast is in an aria-live region');
  check(/Deleted “.*”\..*Undo/.test(await toast.evaluate((e) => e.textContent)), 'the toast says what was deleted and offers Undo');
  check(await page.evaluate((id) => document.activeElement.closest('.vrow') && Number(document.activeElement.closest('.vrow').dataset.id), b) === b,
    'the keyboard stays in the list, on the row that took its place');
  check(await exists(a) === 200, 'inside the undo window the recording is still on the server');
  await shot('desktop-toast');
  await page.keyboard.down('Control');
  await page.keyboard.press('z');
  await page.keyboard.up('Control');
  await page.waitForSelector(`.vrow[data-id="${a}"]`);
  check((await rowIds())[0] === a, 'Ctrl+Z puts the row back in its place');
  check(await page.evaluate((id) => Number(document.activeElement.closest('.vrow')?.dataset.id), a) === a, 'with the focus on it');
  check(!(await page.$(`#toasts .toast[data-id="${a}"]`)), 'and its toast is gone');
  // B: with the mouse, then left alone until the toast expires
  await page.click(`.vrow[data-id="${b}"] button`);
  await page.waitForSelector(`#toasts .toast[data-id="${b}"]`);
  const tb = Date.now();
  await page.mouse.move(5, 5); // off the toast: hovering pauses it
  // C: deleted, then undone with the toast's button (by keyboard: Tab to it, Enter)
  const c = (await rowIds())[2];
  await page.click(`.vrow[data-id="${c}"] button`);
  await page.waitForSelector(`#toasts .toast[data-id="${c}"] button`);
  await page.focus(`#toasts .toast[data-id="${c}"] button`);
  await page.keyboard.press('Enter');
  await page.waitForSelector(`.vrow[data-id="${c}"]`);
  check(true, 'the Undo button (keyboard) puts a row back');
  await page.mouse.move(5, 5);
  await page.waitForFunction((id) => !document.querySelector(`#toasts .toast[data-id="${id}"]`), { timeout: UNDO_MS + 10000 }, b);
  const waited = Date.now() - tb;
  let st = 0;
  for (let i = 0; i < 40 && (st = await exists(b)) !== 404; i++) await sleep(100);
  check(st === 404, `after the undo window (${waited} ms) the recording is deleted on the server`);
  check(waited >= UNDO_MS - 500, `not before the window ended (${waited} ms)`);
  check(await exists(a) === 200 && await exists(c) === 200, 'the undone ones are still there after their windows ended');
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('.vrow[data-id]');
  check(!(await rowIds()).includes(b) && (await rowIds())[0] === a, 'a fresh list agrees');
  // D: deleted, then the page is left inside the window: keepalive sends the DELETE
  const dd = (await rowIds())[1];
  await page.click(`.vrow[data-id="${dd}"] button`);
  await page.waitForSelector(`#toasts .toast[data-id="${dd}"]`);
  check(await exists(dd) === 200, 'D still on the server inside its window');
  await page.goto('about:blank');
  for (let i = 0; i < 50 && (st = await exists(dd)) !== 404; i++) await sleep(100);
  check(st === 404, 'leaving the page inside the undo window sends the delete (keepalive)');

  // -- a phone: the list and the toast
  step('phone');
  await page.setViewport({ width: 390, height: 800, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await page.goto(base + '/#/', { waitUntil: 'load' }); // from about:blank: a fresh page
  await page.waitForSelector('.vrow[data-id]');
  const inDom = await page.$$eval('.vrow', (e) => e.length);
  check(inDom < 40, `phone: ${inDom} rows in the DOM`);
  await shot('phone');
  const e1 = (await rowIds())[0];
  await page.tap(`.vrow[data-id="${e1}"] button`);
  await page.waitForSelector(`#toasts .toast[data-id="${e1}"]`);
  const fits = await page.$eval('#toasts', (t) => { const r2 = t.getBoundingClientRect(); return r2.left >= 0 && r2.right <= innerWidth && r2.bottom <= innerHeight; });
  check(fits, 'phone: the toast fits the screen');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `phone: nothing wider than the screen (${overflow} px over)`);
  await shot('phone-toast');
  await page.tap(`#toasts .toast[data-id="${e1}"] button`);
  await page.waitForSelector(`.vrow[data-id="${e1}"]`);
  check(await exists(e1) === 200, 'phone: tapping Undo keeps it');

  check(problems.length === 0, `no page errors:\n${problems.join('\n')}`);
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.stack || e}`);
  if (problems.length) console.error(problems.join('\n'));
  try {
    const pages = await browser.pages();
    if (pages.length) await pages[pages.length - 1].screenshot({ path: path.join(shots, 'list10k-failure.png') });
  } catch { /* no screenshot */ }
  console.error(`server log:\n${server.logText().slice(-3000)}`);
} finally {
  await browser.close();
  if (await stopServer() !== 0) failed = true;
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`screenshots in ${shots}`);
console.log(`web list10k: ${failed ? 'FAILED' : 'ok'}: ${passed} passed, ${failed ? 1 : 0} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(failed ? 1 : 0);
