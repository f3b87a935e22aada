// admin.js: for admin keys: the server's mode (full, degraded, maintenance) with a reason
// for the audit log, its state (queue depth, workers, model) from /health/ready and
// /metrics, and the audit log, newest first, a page at a time.
import * as api from './api.js';
import { h, when, banner } from './util.js';

const MODES = [
  ['full', 'Full', 'Everything runs.'],
  ['degraded', 'Degraded', 'Lighter work: uploads are accepted, transcription is cheaper.'],
  ['maintenance', 'Maintenance', 'Reads only: no uploads, no new transcriptions.'],
];

function sum(ms, name, pred = () => true) {
  return ms.filter((m) => m.name === name && pred(m.labels)).reduce((a, m) => a + m.value, 0);
}

export async function render(main) {
  main.dataset.title = 'Admin';
  let timer = 0, alive = true;
  const stats = h('dl.stats', { 'aria-label': 'Server state' });
  const current = h('strong', { id: 'mode-now' }, '…');
  const reason = h('input', { type: 'text', id: 'mode-reason', maxlength: 200, placeholder: 'e.g. disk replacement tonight' });
  const radios = MODES.map(([v, label, help]) => h('label.radio', null,
    h('input', { type: 'radio', name: 'mode', value: v }), h('span', null, h('strong', null, label), ' — ', h('span.muted', null, help))));
  const apply = h('button', { type: 'submit' }, 'Change mode');
  const modeForm = h('form', { onsubmit: async (e) => {
    e.preventDefault();
    const v = (modeForm.querySelector('input[name=mode]:checked') || {}).value;
    if (!v) return;
    apply.disabled = true;
    try {
      const r = await api.getJSON('/v1/admin/mode', { method: 'PUT', json: { mode: v, reason: reason.value.trim() } });
      banner(`Mode is now ${r.mode}.`, { ms: 4000 });
      reason.value = '';
      await refresh();
      auditBody.replaceChildren();
      cursor = 0;
      await moreAudit();
    } catch (e) {
      banner(`Could not change the mode: ${e.message}`, { bad: true });
    } finally {
      apply.disabled = false;
    }
  } },
  h('fieldset', null, h('legend', null, 'Mode (now ', current, ')'), ...radios,
    h('label', { for: 'mode-reason' }, 'Reason (kept in the audit log)'), reason,
    h('div', null, apply)));

  const auditBody = h('tbody');
  const older = h('button.secondary', { type: 'button', hidden: true }, 'Older entries');
  let cursor = 0;
  async function moreAudit() {
    try {
      const r = await api.getJSON(`/v1/admin/audit?limit=50${cursor ? `&cursor=${cursor}` : ''}`);
      for (const e of r.entries) {
        auditBody.append(h('tr', null,
          h('td', null, when(e.ts_ms)), h('td', null, e.user == null ? '—' : String(e.user)),
          h('td', null, e.key == null ? '—' : String(e.key)), h('td', null, e.action),
          h('td.detail', null, typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail))));
      }
      if (!auditBody.children.length) auditBody.append(h('tr', null, h('td', { colspan: 5, class: 'muted' }, 'Nothing yet.')));
      cursor = r.next_cursor || 0;
      older.hidden = !r.next_cursor;
    } catch (e) {
      banner(`Could not load the audit log: ${e.message}`, { bad: true });
    }
  }
  older.addEventListener('click', moreAudit);

  async function refresh() {
    try {
      const [mode, ready, ms] = await Promise.all([
        api.getJSON('/v1/admin/mode'),
        fetch('/health/ready', { cache: 'no-store' }).then((r) => r.json()),
        api.metrics(),
      ]);
      current.textContent = mode.mode;
      for (const r of modeForm.querySelectorAll('input[name=mode]')) if (document.activeElement?.name !== 'mode') r.checked = r.value === mode.mode;
      const rows = [
        ['Ready', ready.ready ? 'yes' : 'no'],
        ['Engine', ready.engine],
        ['Model loaded', ready.model_loaded ? 'yes' : 'no (loads on the next job)'],
        ['Jobs queued', sum(ms, 'hark_jobs', (l) => l.state === 'queued')],
        ['Jobs running', sum(ms, 'hark_jobs', (l) => l.state === 'running')],
        ['Jobs failed (dead)', sum(ms, 'hark_jobs', (l) => l.state === 'dead')],
        ['Workers', `${sum(ms, 'hark_workers_busy')} busy of ${sum(ms, 'hark_workers')}`],
        ['Chunks waiting', sum(ms, 'hark_chunks_queued')],
        ['Chunks done', sum(ms, 'hark_chunks_total')],
        ['Open connections', sum(ms, 'hark_http_connections')],
        ['Memory', `${Math.round(sum(ms, 'process_resident_memory_bytes') / 1048576)} MB`],
        ['Up for', `${Math.round(sum(ms, 'hark_uptime_seconds') / 60)} min`],
      ];
      stats.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', { 'data-stat': k }, String(v))]));
    } catch (e) {
      if (e.status !== 401) banner(`Could not read the server's state: ${e.message}`, { bad: true });
    }
    if (alive) timer = setTimeout(refresh, 5000);
  }

  main.append(h('h1', null, 'Admin'),
    h('div.grid', null, h('section.card', { 'aria-labelledby': 'st' }, h('h2', { id: 'st' }, 'Server'), stats),
      h('section.card', { 'aria-labelledby': 'md' }, h('h2', { id: 'md' }, 'Mode'), modeForm)),
    h('section', { 'aria-labelledby': 'au' }, h('h2', { id: 'au' }, 'Audit log'),
      h('div.table-wrap', null, h('table', null,
        h('thead', null, h('tr', null, ...['Time', 'User', 'Key', 'Action', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))),
        auditBody)), h('div.row', null, older)));
  await Promise.all([refresh(), moreAudit()]);
  return () => { alive = false; clearTimeout(timer); };
}
