// server.mjs: a real `hark serve` for the browser tests, started on a free loopback port
// (the tests pass `--listen 127.0.0.1:0` or a fixed port in `args`) and stopped with SIGTERM.
import { spawn } from 'node:child_process';

// Start `bin serve ...args`; resolves with the process once it listens (p.url = its URL,
// p.logText() = its stderr so far), rejects if it exits first or takes over 30 s.
export function startServer(bin, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, ['serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${log}`)), 30000);
    p.stderr.on('data', (d) => {
      log += d;
      const m = /listening on (http:\/\/\S+)/.exec(log);
      if (m && !p.url) { p.url = m[1]; clearTimeout(timer); resolve(p); }
    });
    p.on('exit', (code) => { clearTimeout(timer); if (!p.url) reject(new Error(`the server exited (${code}):\n${log}`)); });
    p.logText = () => log;
  });
}

// SIGTERM, and its exit code: 0 for a graceful stop (under the sanitizers a leak or an error
// would not be 0), 128 when a signal ended it, -1 when it had to be killed after 20 s. The
// log's tail is printed for anything but 0.
export async function stopServer(p) {
  if (!p || p.exitCode !== null || p.signalCode) return p ? p.exitCode : 0;
  const done = new Promise((r) => p.on('exit', (code, sig) => r(sig ? 128 : code)));
  p.kill('SIGTERM');
  const code = await Promise.race([done, new Promise((r) => setTimeout(() => r(-1), 20000))]);
  if (code === -1) p.kill('SIGKILL');
  if (code !== 0) console.error(`the server exited with ${code}:\n${p.logText().slice(-3000)}`);
  return code;
}
