// earshot listen-in: a jitter buffer feeding the audio output. The main
// thread posts {pcm: Int16Array, transitMs}; the processor keeps about
// targetMs buffered, waits for targetMs again after an underrun, and drops
// the oldest audio when more than maxMs piles up (drop to catch up).
class EarshotPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions || {};
    this.target = Math.round(sampleRate * (o.targetMs || 150) / 1000);
    this.max = Math.round(sampleRate * (o.maxMs || 300) / 1000);
    this.outputLatencyMs = o.outputLatencyMs || 0;
    this.ring = new Float32Array(sampleRate * 2);
    this.read = 0;
    this.queued = 0;
    this.playing = false;
    this.frames = 0;
    this.dropped = 0;
    this.underruns = 0;
    this.latencies = [];
    this.sumSq = 0;
    this.n = 0;
    this.levelDbfs = null;
    this.lastReport = 0;
    this.port.onmessage = (e) => this.push(e.data);
  }

  push(m) {
    if (m.outputLatencyMs !== undefined) { this.outputLatencyMs = m.outputLatencyMs; return; }
    const pcm = m.pcm;
    // The frame plays once what is queued ahead of it has played.
    const ahead = this.playing ? this.queued : Math.max(this.queued, this.target - pcm.length);
    this.latencies.push(m.transitMs + ahead * 1000 / sampleRate + this.outputLatencyMs);
    if (this.latencies.length > 50) this.latencies.shift();
    const size = this.ring.length;
    let write = (this.read + this.queued) % size;
    for (let i = 0; i < pcm.length; i++) {
      this.ring[write] = pcm[i] / 32768;
      write = (write + 1) % size;
    }
    this.queued = Math.min(size, this.queued + pcm.length);
    this.frames++;
    if (this.queued > this.max) {
      const drop = this.queued - this.target;
      this.read = (this.read + drop) % size;
      this.queued -= drop;
      this.dropped += drop;
    }
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!this.playing && this.queued >= this.target) this.playing = true;
    const size = this.ring.length;
    for (let i = 0; i < out.length; i++) {
      if (this.playing && this.queued > 0) {
        const v = this.ring[this.read];
        out[i] = v;
        this.sumSq += v * v;
        this.n++;
        this.read = (this.read + 1) % size;
        this.queued--;
      } else {
        out[i] = 0;
        if (this.playing) { this.playing = false; this.underruns++; }
      }
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (this.n >= sampleRate / 2) {
      const rms = Math.sqrt(this.sumSq / this.n);
      this.levelDbfs = rms > 0 ? Math.max(-120, 20 * Math.log10(rms)) : -120;
      this.sumSq = 0;
      this.n = 0;
    }
    if (currentTime - this.lastReport >= 0.1) {
      this.lastReport = currentTime;
      const sorted = [...this.latencies].sort((a, b) => a - b);
      this.port.postMessage({
        frames: this.frames, bufferedMs: this.queued * 1000 / sampleRate, droppedMs: this.dropped * 1000 / sampleRate,
        underruns: this.underruns, levelDbfs: this.levelDbfs,
        latencyMs: sorted.length ? sorted[sorted.length >> 1] : null,
      });
    }
    return true;
  }
}
registerProcessor('earshot-player', EarshotPlayer);
