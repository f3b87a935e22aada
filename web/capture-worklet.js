// capture-worklet.js: the AudioWorklet behind the Record view (record.js). It runs on the
// audio thread, mixes its input to mono and posts Float32Array blocks of about 20 ms
// (transferred, not copied) to the page, which makes the protocol's frames. A module file
// of its own because the page's CSP (script-src 'self') allows no inline or blob: script.
class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.max(128, Math.round(sampleRate / 50)); // sampleRate: the worklet global
    this.buf = new Float32Array(this.size);
    this.n = 0;
  }

  process(inputs) {
    const chans = inputs[0];
    if (!chans || !chans.length) return true; // no input yet (or the track ended)
    const len = chans[0].length;
    const k = 1 / chans.length;
    for (let i = 0; i < len; i++) {
      let v = 0;
      for (let c = 0; c < chans.length; c++) v += chans[c][i];
      this.buf[this.n++] = v * k;
      if (this.n === this.size) {
        this.port.postMessage(this.buf, [this.buf.buffer]);
        this.buf = new Float32Array(this.size);
        this.n = 0;
      }
    }
    return true;
  }
}

registerProcessor('hark-capture', Capture);
