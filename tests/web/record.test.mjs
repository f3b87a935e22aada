// record.test.mjs: the Record view (web/record.js) in a real Chromium against a real
// `hark serve --engine test` (VAD on) on 127.0.0.1 with a real API key. Chromium's fake
// microphone plays a corpus WAV (--use-file-for-fake-audio-capture); the page captures it
// through the AudioWorklet and streams it over the live WebSocket protocol (the key goes in
// the config message). The test waits for finals on the page, cuts the connection while
// recording (the server restarts: the page shows its banner, reconnects with resume and
// goes on), reloads the page (the session is offered from sessionStorage and continued),
// stops, and checks the stored recording's transcript through the API. No CSP violations,
// no page errors. Screenshots go to <build>/web-screenshots/record*.png.
//
// Environment (set by ctest): HARK_BIN, HARK_WEB_KEYS, HARK_SHARED_DIR, HARK_BUILD_DIR;
// HARK_CHROMIUM overrides /usr/bin/chromium. Exit 77 (skipped) without chromium,
// node_modules or the corpus WAV.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
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
const wav = path.join(shared, 'corpus/en/1089-134686-0000.wav');
if (!fs.existsSync(wav)) skip(`${wav} is absent`);

const shots = path.join(process.env.HARK_BUILD_DIR || os.tmpdir(), 'web-screenshots');
fs.mkdirSync(shots, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hark-rec-'));
const db = path.join(tmp, 'hark.db');

const t0 = Date.now();
const step = (what) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);
let passed = 0;
const check = (cond, what) => { assert.ok(cond, what); passed++; };

let server = null;
const startServer = (listen = '127.0.0.1:0') => startHark(bin, ['--listen', listen, '--db', db,
  '--cache-db', 'none', '--engine', 'test', '--workers', '2']);
const stopServer = () => stopHark(server);

server = await startServer();
assert.equal(await stopServer(), 0, 'the server stops cleanly');
const [, key] = execFileSync(keysBin, [db, 'create', 'ana', '0']).toString().trim().split(' ');
server = await startServer();
const base = server.url;
step(`server at ${base}`);
const api = (p) => fetch(base + p, { headers: { Authorization: `Bearer ${key}` } });

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav}`, '--autoplay-policy=no-user-gesture-required'],
});
const problems = [];
let failed = false;
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 860 });
  page.setDefaultTimeout(20000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // a WebSocket cut off on purpose below logs its failed (re)connects
    if (m.type() === 'error' && !/WebSocket connection to .* failed|the server responded with a status of 403/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`) });
  const finals = () => page.$$eval('#rec-finals li', (e) => e.length);

  step('sign in, open Record');
  await page.goto(base + '/');
  await page.waitForSelector('#key');
  await page.type('#key', key);
  await page.keyboard.press('Enter');
  await page.waitForSelector('nav:not([hidden])');
  await page.goto(base + '/#/record');
  await page.waitForSelector('#rec-start');
  check(await page.$eval('#rec-level', (e) => e.getAttribute('aria-label')) === 'Microphone level', 'the level meter has a label');

  step('record with the keyboard (Tab to Start, Enter)');
  let tabs = 0;
  while (tabs++ < 30 && !(await page.evaluate(() => document.activeElement && document.activeElement.id === 'rec-start'))) await page.keyboard.press('Tab');
  check(tabs < 30, 'Start recording is reachable with Tab');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#rec-status').dataset.state === 'recording');
  check(await page.$eval('#rec-stop', (e) => !e.hidden), 'Stop is shown while recording');
  const stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem('hark.live') || 'null'));
  check(stored && /^[0-9a-f]+$/.test(stored.session) && stored.recording > 0, `the session is kept in sessionStorage (${stored && stored.session})`);
  await page.waitForFunction(() => document.querySelector('#rec-time').textContent !== '0:00');
  check(await page.$eval('#rec-level', (e) => e.value > 0), 'the fake microphone is heard (level > 0)');

  step('wait for a final');
  await page.waitForSelector('#rec-finals li', { timeout: 60000 });
  const first = await page.$eval('#rec-finals li .txt', (e) => e.textContent);
  check(first.trim().length > 0, `a final is on the page: "${first}"`);

  step('the server restarts while recording: banner, resume');
  const port = new URL(base).port;
  check(await stopServer() === 0, 'the server stops cleanly (SIGTERM) with a live session');
  await page.waitForFunction(() => { const b = document.querySelector('#banner'); return !b.hidden && b.textContent.includes('reconnecting'); });
  await shot('record-reconnecting');
  check(true, 'the page shows that it is reconnecting');
  await new Promise((r) => setTimeout(r, 1500)); // audio goes on piling up meanwhile
  server = await startServer(`127.0.0.1:${port}`);
  await page.waitForFunction(() => document.querySelector('#banner').textContent.includes('Reconnected'), { timeout: 40000 });
  check(true, 'it reconnects with resume after the restart');
  const n1 = await finals();
  await page.waitForFunction((n) => document.querySelectorAll('#rec-finals li').length > n, { timeout: 60000 }, n1);
  check(true, `finals go on arriving after the resume (${n1} -> ${await finals()})`);

  step('reload: continue the session');
  const before = await finals();
  await page.reload();
  await page.waitForSelector('#rec-continue');
  check(await page.$$eval('#rec-finals li', (e) => e.length) === before, 'the finals so far are shown after the reload');
  await page.click('#rec-continue');
  await page.waitForFunction(() => document.querySelector('#rec-status').dataset.state === 'recording');
  check(await page.evaluate((s) => JSON.parse(sessionStorage.getItem('hark.live')).session === s, stored.session), 'the same session goes on');
  await page.waitForFunction((n) => document.querySelectorAll('#rec-finals li').length > n, { timeout: 60000 }, before);
  check(true, 'finals arrive in the continued session');
  await shot('record');

  step('stop');
  await page.focus('#rec-stop');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#rec-status').dataset.state === 'done', { timeout: 60000 });
  check(await page.evaluate(() => sessionStorage.getItem('hark.live')) === null, 'the finished session is forgotten');
  const shown = await page.$$eval('#rec-finals li .txt', (e) => e.map((x) => x.textContent));
  await shot('record-done');
  const href = await page.$eval('#rec-link', (a) => a.getAttribute('href'));
  check(href === `#/r/${stored.recording}`, `a link to the recording (${href})`);

  const rj = await (await api(`/v1/recordings/${stored.recording}`)).json();
  console.log(`recording: status ${rj.status}, duration ${rj.duration_ms} ms`);
  const tj = await (await api(`/v1/recordings/${stored.recording}/transcript?format=json`)).json();
  const text = tj.segments.map((s) => s.text).join(' ').trim();
  console.log(`stored transcript (${tj.segments.length} segments): ${text.slice(0, 200)}`);
  check(tj.segments.length > 0 && text.length > 0, 'the stored transcript is not empty');
  check(shown.every((t) => text.includes(t.trim())), 'every final shown is in the stored transcript');
  check(/f\d+ a0\.\d+/.test(text), 'the text is the test engine\'s (tone and level of the audio)');

  check(problems.length === 0, `no CSP violations or page errors:\n${problems.join('\n')}`);
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.stack || e}`);
  if (problems.length) console.error(problems.join('\n'));
  try {
    const pages = await browser.pages();
    if (pages.length) await pages[pages.length - 1].screenshot({ path: path.join(shots, 'record-failure.png') });
  } catch { /* no screenshot */ }
  if (server) console.error(`server log:\n${server.logText().slice(-3000)}`);
} finally {
  await browser.close();
  if (await stopServer() !== 0) failed = true;
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`record: ${failed ? 'FAILED' : 'ok'}: ${passed} passed, ${failed ? 1 : 0} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(failed ? 1 : 0);
