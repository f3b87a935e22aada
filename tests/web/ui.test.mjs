// ui.test.mjs: hark's web UI in a real Chromium (Debian's /usr/bin/chromium, driven by
// puppeteer-core; no browser is downloaded) against a real `hark serve --engine test
// --vad off` on 127.0.0.1 with a temporary database and real API keys.
//
// It signs in (a wrong key first), uploads a corpus WAV and waits for its transcript,
// searches and opens a hit, plays and seeks, exports every format (compared byte for byte
// with the API's), checks the admin view (mode with a reason, audit log, queue and
// workers), the Record view (idle; recording is record.test.mjs), a virtual list of 150 recordings with cursor paging,
// a summary made from the transcript view (a scripted chat-completions server on
// 127.0.0.1 as the model), deletes, a key revoked while the page is open, and a server without keys (no sign-in;
// the audio element streams from the API with Range requests). Along the way: the page's transfer
// size (must stay < 150 KB), its headers (CSP, ETag/304, gzip), no CSP violations and no
// uncaught errors. Screenshots of each view go to <build>/web-screenshots/.
//
// Environment (set by ctest): HARK_BIN, HARK_WEB_KEYS, HARK_SHARED_DIR, HARK_BUILD_DIR;
// HARK_CHROMIUM overrides /usr/bin/chromium. Exit 77 (skipped) without chromium,
// node_modules or the corpus.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { startServer as startHark, stopServer as stopHark } from './server.mjs';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const skip = (why) => { console.log(`SKIP: ${why}`); process.exit(77); };

const chromium = process.env.HARK_CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(chromium)) skip(`${chromium} is not installed (tools/setup.sh installs Debian's chromium)`);
let puppeteer;
try {
  puppeteer = (await import('puppeteer-core')).default;
} catch {
  skip('tests/web/node_modules is missing (tools/setup.sh runs npm ci there)');
}
const bin = process.env.HARK_BIN;
const keysBin = process.env.HARK_WEB_KEYS;
assert.ok(bin && fs.existsSync(bin), 'HARK_BIN must name the hark binary');
assert.ok(keysBin && fs.existsSync(keysBin), 'HARK_WEB_KEYS must name hark_web_keys');
const shared = process.env.HARK_SHARED_DIR || path.join(here, '../../../shared');
const corpusDir = path.join(shared, 'corpus/en');
const wavs = fs.existsSync(corpusDir) ? fs.readdirSync(corpusDir).filter((f) => f.endsWith('.wav')).sort() : [];
if (!wavs.length) skip(`no corpus WAVs in ${corpusDir}`);
const wav = path.join(corpusDir, wavs[0]);

const shots = path.join(process.env.HARK_BUILD_DIR || os.tmpdir(), 'web-screenshots');
fs.mkdirSync(shots, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hark-web-'));
const db = path.join(tmp, 'hark.db');
const downloads = path.join(tmp, 'downloads');
fs.mkdirSync(downloads);

const t0 = Date.now();
const step = (what) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);
let passed = 0;
const check = (cond, what) => { assert.ok(cond, what); passed++; };

// ---- a chat-completions "model" for summaries: answers with the user message's word count
const chatBodies = [];
const chat = http.createServer((req, res) => {
  let b = '';
  req.on('data', (d) => { b += d; });
  req.on('end', () => {
    const body = JSON.parse(b);
    chatBodies.push({ path: req.url, body });
    const user = body.messages.find((m) => m.role === 'user').content;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: `A talk of ${user.split(/\s+/).filter(Boolean).length} words.` } }] }));
  });
});
await new Promise((r) => chat.listen(0, '127.0.0.1', r));
const chatUrl = `http://127.0.0.1:${chat.address().port}`;

// ---- the server -------------------------------------------------------------------------
let server = null;
const startServer = (dbPath = db) => startHark(bin, ['--listen', '127.0.0.1:0', '--db', dbPath,
  '--cache-db', 'none', '--engine', 'test', '--model', 'delay=1:800', '--vad', 'off', '--workers', '2',
  '--summary-url', chatUrl, '--summary-model', 'web-test']);
// SIGTERM: a graceful stop exits 0 (under the sanitizers, a leak or error would not).
const stopServer = () => stopHark(server);

// A first start creates the database; keys go in while it is stopped.
server = await startServer();
assert.equal(await stopServer(), 0, 'the server stops cleanly');
const mkkey = (user, admin) => execFileSync(keysBin, [db, 'create', user, admin ? '1' : '0']).toString().trim().split(' ');
const [, adminKey] = mkkey('root', true);
const [userKeyId, userKey] = mkkey('ana', false);
server = await startServer();
const base = server.url;
step(`server at ${base}`);

const api = async (p, opts = {}, key = adminKey) => {
  const r = await fetch(base + p, { ...opts, headers: { Authorization: `Bearer ${key}`, ...(opts.headers || {}) } });
  return r;
};

// ---- headers of the static files ----------------------------------------------------------
{
  const r = await fetch(base + '/', { headers: { 'Accept-Encoding': 'gzip' } });
  check(r.status === 200, 'GET / is 200');
  const csp = r.headers.get('content-security-policy') || '';
  check(/default-src 'none'/.test(csp) && /script-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), `strict CSP: ${csp}`);
  check(r.headers.get('x-content-type-options') === 'nosniff', 'nosniff');
  check(r.headers.get('cache-control') === 'no-cache', 'the page is revalidated');
  const etag = r.headers.get('etag');
  check(/^"[0-9a-f]{16}(-gz)?"$/.test(etag), `strong ETag ${etag}`);
  const html = await r.text();
  check(!/<script(?![^>]*\ssrc=)[^>]*>/.test(html) && !/\son\w+=/.test(html) && !/style=/.test(html), 'no inline script, handlers or styles in the page');
  check(!/https?:\/\//.test(html), 'no external URLs in the page');
  const r304 = await fetch(base + '/', { headers: { 'If-None-Match': etag, 'Accept-Encoding': 'gzip' } });
  check(r304.status === 304, `If-None-Match gives 304 (got ${r304.status})`);
  const js = /src="(\/static\/[0-9a-f]+\/app\.js)"/.exec(html)[1];
  const rjs = await fetch(base + js, { headers: { 'Accept-Encoding': 'gzip' } });
  check(rjs.headers.get('cache-control').includes('immutable'), 'versioned assets are immutable');
  check(rjs.headers.get('content-type').startsWith('text/javascript'), 'JavaScript content type');
  const raw = await new Promise((resolve, reject) => { // node's fetch decodes gzip: ask with http
    import('node:http').then(({ default: http }) => {
      http.get(base + js, { headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
        res.resume();
        resolve(res.headers);
      }).on('error', reject);
    });
  });
  check(raw['content-encoding'] === 'gzip' && raw.vary === 'Accept-Encoding', 'gzip with Vary');
  const plain = await new Promise((resolve, reject) => {
    import('node:http').then(({ default: http }) => {
      http.get(base + js, { headers: { 'Accept-Encoding': 'gzip;q=0, identity' } }, (res) => { res.resume(); resolve(res.headers); }).on('error', reject);
    });
  });
  check(!plain['content-encoding'] && plain.etag !== raw.etag, 'gzip;q=0 gets the identity copy with its own ETag');
  check((await fetch(base + '/static/nope.js')).status === 404, 'unknown asset: 404');
  check((await fetch(base + '/static/x/../../etc/passwd')).status === 404, 'no path escapes the table');
  const ready = await (await fetch(base + '/health/ready')).json();
  check(ready.keys_required === true, '/health/ready says keys are required');
}

// ---- the browser --------------------------------------------------------------------------
const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio', '--disable-gpu'],
});
const problems = [];
let failed = false;
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 860 });
  page.setDefaultTimeout(20000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|403)/.test(t)) problems.push(`console: ${t}`);
  });
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  const transfer = new Map(); // url -> encoded bytes
  const urls = new Map();
  cdp.on('Network.responseReceived', (e) => urls.set(e.requestId, e.response.url));
  cdp.on('Network.loadingFinished', (e) => {
    const u = urls.get(e.requestId) || '?';
    transfer.set(u, (transfer.get(u) || 0) + e.encodedDataLength);
  });
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads, eventsEnabled: true });
  const shot = async (name) => { await page.screenshot({ path: path.join(shots, `${name}.png`) }); };
  const text = (sel) => page.$eval(sel, (e) => e.textContent);

  // -- sign in
  step('sign in');
  await page.goto(base + '/', { waitUntil: 'networkidle0' });
  await page.waitForSelector('#key');
  let bytes = 0, statics = 0;
  for (const [u, n] of transfer) { bytes += n; if (!u.includes('/v1/') && !u.includes('/health')) statics += n; }
  console.log(`first page (sign-in): ${transfer.size} requests, ${bytes} bytes transferred (${statics} of them static files)`);
  check(bytes < 150 * 1024, `first page under 150 KB (${bytes} bytes)`);
  await page.type('#key', 'hark_' + '0'.repeat(64));
  await page.click('form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#key-error').textContent.includes('not accepted'));
  await shot('signin');
  check(true, 'a wrong key gets a clear message');
  await page.$eval('#key', (e) => { e.value = ''; });
  await page.type('#key', adminKey);
  await page.keyboard.press('Enter');
  await page.waitForSelector('.vlist, .empty:not([hidden])');
  check(await page.$eval('#nav-admin', (e) => !e.hidden), 'admin key: Admin is in the menu');
  check(await page.evaluate(() => localStorage.getItem('hark.key')) === adminKey, 'the key is kept in localStorage');

  // -- upload
  step(`upload ${path.basename(wav)}`);
  await page.goto(base + '/#/upload');
  const input = await page.waitForSelector('#files');
  // a slow link (about 300 KB/s up) so the upload's own progress is visible
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 5, downloadThroughput: -1, uploadThroughput: 300 * 1024 });
  await input.uploadFile(wav);
  await page.waitForSelector('.uploads li [data-state=uploading], .uploads li [data-state=queued], .uploads li [data-state=transcribing], .uploads li [data-state=done]');
  const seen = new Set();
  const t1 = Date.now();
  while (Date.now() - t1 < 60000) {
    const st = await page.$eval('.uploads li [data-state]', (e) => `${e.dataset.state}: ${e.textContent}`);
    seen.add(st);
    if (st.startsWith('done') || st.startsWith('failed')) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(`upload states seen: ${[...seen].join(' | ')}`);
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  check([...seen].some((s) => /^uploading: Uploading: ([1-9]|[1-9]\d)%/.test(s)), 'per-file upload progress is shown');
  const final = await text('.uploads li [data-state]');
  check(final.includes('Transcribed'), `the upload is transcribed (${final})`);
  // chunk 1 takes 800 ms on this server (--model delay=1:800): its progress is on screen, with
  // the final total (a total still growing is shown as "1 of 1+")
  check([...seen].some((s) => /^transcribing: Transcribing: chunk 1 of 2$/.test(s)), 'per-chunk progress from the event stream is shown');
  await shot('upload');
  const recId = Number((await page.$eval('.uploads li a[href^="#/r/"]', (a) => a.getAttribute('href'))).split('/').pop());
  const tj = await (await api(`/v1/recordings/${recId}/transcript?format=json`)).json();
  check(tj.segments.length >= 1, `the transcript has segments (${tj.segments.length})`);

  // -- list (and a second, in the virtual list below)
  step('recordings list');
  await page.click('nav a[data-nav=list]');
  await page.waitForSelector(`.vrow[data-id="${recId}"]`);
  await shot('list');

  // -- search and open a hit
  const word = tj.segments[tj.segments.length - 1].text.trim().split(/\s+/)[0];
  step(`search "${word}"`);
  await page.click('#q');
  const tq = Date.now();
  await page.type('#q', word, { delay: 30 });
  await page.waitForSelector('.hits li a');
  console.log(`search results on screen ${Date.now() - tq} ms after the first key`);
  check(await page.$eval('.hits li .snip', (e) => e.querySelector('mark') !== null && !e.textContent.includes('<mark>')), 'the snippet has a real <mark>, no markup as text');
  check((await page.evaluate(() => location.hash)) === `#/search?q=${encodeURIComponent(word)}`, 'the query is in the URL');
  await shot('search');
  const hitHref = await page.$eval('.hits li a', (a) => a.getAttribute('href'));
  await page.click('.hits li a');
  await page.waitForSelector('.seg');
  const hitMs = Number(/t=(\d+)/.exec(hitHref)[1]);
  check(await page.$eval('.seg.cur', (e) => Number(e.dataset.ms)) <= hitMs, 'the hit opens its recording at the hit, highlighted');

  // -- play and seek
  step('play and seek');
  await page.waitForFunction(() => { const a = document.querySelector('audio'); return a && a.readyState >= 1 && a.duration > 0; });
  const segs = await page.$$eval('.seg', (els) => els.map((e) => Number(e.dataset.ms)));
  check(segs.length >= 2, `segments with times (${segs.join(', ')} ms)`);
  // seek with a segment's time button (what the keyboard uses)
  await page.focus(`.seg[data-ms="${segs[1]}"] button.t`);
  await page.keyboard.press('Enter');
  await page.waitForFunction((ms) => Math.abs(document.querySelector('audio').currentTime * 1000 - ms) < 300, {}, segs[1]);
  await page.waitForFunction((ms) => Number(document.querySelector('.seg.cur').dataset.ms) === ms, {}, segs[1]);
  check(true, 'Enter on a segment time seeks there and highlights the segment');
  // click a word of the first segment: seeks, plays, and the highlight follows the audio
  const words = await page.$$eval(`.seg[data-ms="${segs[0]}"] .w`, (els) => els.map((e) => Number(e.dataset.ms)));
  check(words.length >= 3, `the first segment has word times (${words.length})`);
  await page.click(`.w[data-ms="${words[1]}"]`);
  await page.waitForFunction((ms) => { const w = document.querySelector('.w.cur'); return w && Number(w.dataset.ms) === ms; }, {}, words[1]);
  check(Number(await page.$eval('.seg.cur', (e) => e.dataset.ms)) === segs[0], 'clicking a word seeks there and highlights it');
  await page.waitForFunction(() => { const a = document.querySelector('audio'); return !a.paused && a.currentTime > 0; });
  await page.waitForFunction((ms) => { const w = document.querySelector('.w.cur'); return w && Number(w.dataset.ms) > ms; }, { timeout: 5000 }, words[1]);
  const a1 = await page.$eval('audio', (a) => a.currentTime);
  check(a1 * 1000 > words[1], `the audio plays and the highlighted word moves on with it (at ${a1.toFixed(2)} s)`);
  await page.$eval('audio', (a) => a.pause());
  await shot('transcript');

  // -- summary: none yet, then made on request through the chat-completions server
  step('summary');
  await page.waitForFunction(() => document.querySelector('#summary-status').textContent === 'No summary yet.');
  await page.click('#summarize');
  await page.waitForFunction(() => document.querySelector('#summary-text').textContent !== '', { timeout: 30000 });
  const shown = await text('#summary-text');
  const tx = await (await api(`/v1/recordings/${recId}/transcript?format=txt`)).text();
  check(chatBodies.length === 1 && chatBodies[0].path === '/v1/chat/completions' && chatBodies[0].body.model === 'web-test', 'one chat-completions request with the configured model');
  const norm = (t) => t.split(/\s+/).filter(Boolean).join(' ');
  check(chatBodies[0].body.messages.some((m) => m.role === 'user' && norm(m.content) === norm(tx)), 'the request holds the transcript');
  check(shown === `A talk of ${tx.trim().split(/\s+/).length} words.`, `the summary is shown (${shown})`);
  const sj = await (await api(`/v1/recordings/${recId}/summary`)).json();
  check(sj.summary === shown && sj.job.state === 'done', 'and stored on the server');

  // -- export every format
  step('export');
  for (const f of ['txt', 'srt', 'vtt', 'json']) {
    await page.click(`button[data-format=${f}]`);
    const t2 = Date.now();
    let file = null;
    while (Date.now() - t2 < 10000 && !file) {
      file = fs.readdirSync(downloads).find((n) => n.endsWith('.' + f));
      if (!file) await new Promise((r) => setTimeout(r, 50));
    }
    check(file, `the ${f} export was saved`);
    await new Promise((r) => setTimeout(r, 100)); // let the download finish writing
    const got = fs.readFileSync(path.join(downloads, file), 'utf8');
    const want = await (await api(`/v1/recordings/${recId}/transcript?format=${f}`)).text();
    check(got === want, `the ${f} export is the transcript (${got.length} bytes)`);
  }

  // -- admin
  step('admin');
  await page.click('nav a[data-nav=admin]');
  await page.waitForSelector('[data-stat=Workers]');
  check(/busy of [1-9]/.test(await text('[data-stat=Workers]')), 'workers are shown');
  check((await text('[data-stat="Model loaded"]')).startsWith('yes'), 'the model is loaded after a job');
  await page.click('input[name=mode][value=degraded]');
  await page.type('#mode-reason', 'web test: disk swap');
  await page.click('form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#mode-now').textContent === 'degraded');
  await page.waitForFunction(() => [...document.querySelectorAll('td.detail')].some((e) => e.textContent.includes('web test: disk swap')));
  check(true, 'mode changed with its reason in the audit log');
  await shot('admin');
  await page.click('input[name=mode][value=full]');
  await page.click('form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#mode-now').textContent === 'full');

  // -- record (the view itself, with a fake microphone: record.test.mjs)
  await page.click('nav a[data-nav=record]');
  await page.waitForSelector('#rec-start');
  await shot('record-idle');

  // -- a phone-sized screen
  await page.setViewport({ width: 390, height: 800, isMobile: true });
  await page.goto(base + `/#/r/${recId}`);
  await page.waitForSelector('.seg');
  await shot('transcript-phone');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `nothing wider than a phone's screen (${overflow} px over)`);
  await page.setViewport({ width: 1280, height: 860 });

  // -- the virtual list: 150 more recordings (tiny distinct WAVs through the API)
  step('virtual list with 150 recordings');
  const mkwav = (i) => {
    const n = 1600, b = Buffer.alloc(44 + n * 2);
    b.write('RIFF', 0); b.writeUInt32LE(36 + n * 2, 4); b.write('WAVEfmt ', 8); b.writeUInt32LE(16, 16);
    b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(16000, 24); b.writeUInt32LE(32000, 28);
    b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34); b.write('data', 36); b.writeUInt32LE(n * 2, 40);
    for (let k = 0; k < n; k++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * (200 + i) * k) / 16000)), 44 + 2 * k);
    return b;
  };
  for (let i = 0; i < 150; i += 10) {
    await Promise.all(Array.from({ length: 10 }, async (_, k) => {
      const fd = new FormData();
      fd.append('file', new Blob([mkwav(i + k)], { type: 'audio/wav' }), `tone-${String(i + k).padStart(3, '0')}.wav`);
      const r = await api('/v1/recordings', { method: 'POST', body: fd });
      assert.ok(r.status === 202 || r.status === 200, `upload ${i + k}: ${r.status}`);
    }));
  }
  await page.goto(base + '/#/');
  const tl = Date.now();
  await page.waitForSelector('.vrow[data-id]');
  console.log(`list: first rows on screen in ${Date.now() - tl} ms`);
  const inDom = await page.$$eval('.vrow', (e) => e.length);
  check(inDom < 40, `only the rows in view are in the DOM (${inDom} of 151)`);
  check(await page.$eval('.vrow[data-id]', (e) => /tone-14\d/.test(e.textContent)), 'newest first');
  // scroll to the end: the second page comes with the cursor, frames stay short
  const frames = await page.evaluate(async () => {
    const box = document.querySelector('.vlist');
    const times = [];
    let last = performance.now();
    for (let i = 0; i < 60; i++) {
      box.scrollTop += 120;
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      times.push(now - last);
      last = now;
    }
    box.scrollTop = box.scrollHeight;
    return times;
  });
  frames.sort((x, y) => x - y);
  console.log(`list scroll: median frame ${frames[frames.length >> 1].toFixed(1)} ms, worst ${frames[frames.length - 1].toFixed(1)} ms`);
  await page.waitForFunction(() => {
    const box = document.querySelector('.vlist');
    box.scrollTop = box.scrollHeight; // the end moves while the next page comes in
    return [...document.querySelectorAll('.vrow[data-id]')].some((e) => e.textContent.includes('tone-000'));
  }, { timeout: 20000, polling: 100 });
  check(true, 'scrolling to the end loads the next page (cursor) and shows the oldest rows');
  check(await page.$$eval('.vrow', (e) => e.length) < 40, 'still only the visible rows in the DOM');
  await shot('list-scrolled');

  // -- delete (with the confirmation dialog)
  step('delete');
  await page.goto(base + `/#/r/${recId}`);
  await page.waitForSelector('.seg');
  await page.click('button.danger');
  await page.waitForSelector('dialog[open]');
  await shot('delete-confirm');
  await page.click('#confirm-ok');
  await page.waitForFunction(() => location.hash === '#/');
  check((await api(`/v1/recordings/${recId}`)).status === 404, 'the recording is deleted on the server');
  await page.waitForSelector('.vrow[data-id]');
  check(!(await page.$(`.vrow[data-id="${recId}"]`)), 'and gone from the list');

  // -- a user key, then revoked while the page is open
  step('revoked key');
  await page.evaluate(() => localStorage.clear());
  await page.goto(base + '/');
  await page.waitForSelector('#key');
  await page.type('#key', userKey);
  await page.keyboard.press('Enter');
  await page.waitForSelector('.vlist, .empty:not([hidden])');
  check(await page.$eval('#nav-admin', (e) => e.hidden), 'a user key: no Admin in the menu');
  check((await page.$$('.vrow[data-id]')).length === 0, "a user sees none of the admin's recordings");
  execFileSync(keysBin, [db, 'revoke', userKeyId]);
  await page.click('nav a[data-nav=upload]');
  await page.click('nav a[data-nav=list]');
  await page.waitForFunction(() => document.querySelector('#key-error') && document.querySelector('#key-error').textContent.includes('no longer accepted'));
  check(await page.evaluate(() => localStorage.getItem('hark.key')) === null, 'the revoked key is forgotten');
  await shot('revoked');

  // -- a local server without keys: no sign-in, audio straight from the API with Range
  step('a server without keys');
  check(await stopServer() === 0, 'the server stops cleanly (SIGTERM)');
  const db2 = path.join(tmp, 'open.db');
  server = await startServer(db2);
  const base2 = server.url;
  const fd = new FormData();
  fd.append('file', new Blob([fs.readFileSync(wav)], { type: 'audio/wav' }), 'open.wav');
  const up = await (await fetch(base2 + '/v1/recordings', { method: 'POST', body: fd })).json();
  const ranges = [];
  page.on('request', (r) => { if (r.url().includes('/audio')) ranges.push(r.headers().range || 'none'); });
  await page.goto(`${base2}/#/r/${up.recording}`);
  await page.waitForSelector('.seg', { timeout: 30000 });
  check(!(await page.$('#key')), 'no sign-in when the server needs no key');
  check(await page.$eval('#signout', (e) => e.hidden), 'and no Sign out');
  check(await page.$eval('audio', (a, id) => a.src.endsWith(`/v1/recordings/${id}/audio`), up.recording), 'the audio element streams from the API URL');
  await page.waitForFunction(() => document.querySelector('audio').readyState >= 1);
  await page.click('.seg:last-child button.t');
  await page.waitForFunction(() => { const a = document.querySelector('audio'); return !a.paused && a.currentTime > 0; });
  check(ranges.some((r) => r.startsWith('bytes=')), `the browser fetched the audio with Range requests (${ranges.join(', ')})`);
  await shot('no-keys');

  check(problems.length === 0, `no CSP violations or page errors:\n${problems.join('\n')}`);
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.stack || e}`);
  if (problems.length) console.error(problems.join('\n'));
  try {
    const pages = await browser.pages();
    if (pages.length) await pages[pages.length - 1].screenshot({ path: path.join(shots, 'failure.png') });
  } catch { /* no screenshot */ }
  console.error(`server log:\n${server.logText().slice(-3000)}`);
} finally {
  chat.close();
  await browser.close();
  if (await stopServer() !== 0) failed = true;
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`screenshots in ${shots}`);
console.log(`web: ${failed ? 'FAILED' : 'ok'}: ${passed} passed, ${failed ? 1 : 0} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(failed ? 1 : 0);
