// record.js: recording from the microphone.
//
// LIVE SESSIONS GO HERE (issue 8, the live WebSocket protocol, is being built): capture with
// getUserMedia + an AudioWorklet (a module under web/, allowed by the page's CSP:
// script-src 'self'), resample to 16 kHz, stream over the live protocol with sequence
// numbers, show partials and finals, reconnect with resume. The server's
// Permissions-Policy already allows the microphone to this page (microphone=(self)).
import { h } from './util.js';

export function render(main) {
  main.dataset.title = 'Record';
  main.append(h('h1', null, 'Record'),
    h('section.card', { 'aria-labelledby': 'rec-soon' },
      h('h2', { id: 'rec-soon' }, 'Live recording comes with live sessions'),
      h('p', null, 'Recording from the microphone, with the transcript appearing as you speak, arrives with hark’s live sessions (in progress).'),
      h('p', null, 'Meanwhile, record with any app and ', h('a', { href: '#/upload' }, 'upload the file'), '.')));
}
