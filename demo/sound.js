// Sound helpers of the demo page: a test tone rendered with WebAudio and encoded as WAV, microphone
// recording with MediaRecorder, content sniffing for playback, and SHA-256 of byte arrays.

/** Renders a short arpeggio with an OscillatorNode (offline, no audio device needed) as a 16-bit mono WAV. */
export async function makeToneWav(seconds = 2, sampleRate = 22050) {
  const frames = Math.round(seconds * sampleRate);
  const notes = [440, 554.37, 659.25, 880]; // A major arpeggio
  const step = seconds / notes.length;
  let samples;
  if (typeof OfflineAudioContext === 'function') {
    const ctx = new OfflineAudioContext(1, frames, sampleRate);
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'triangle';
    gain.gain.setValueAtTime(0, 0);
    notes.forEach((freq, i) => {
      const t = i * step;
      osc.frequency.setValueAtTime(freq, t);
      // A short attack and release per note: no clicks at the steps.
      gain.gain.setValueAtTime(0, t);
      gain.gain.linearRampToValueAtTime(0.5, t + 0.02);
      gain.gain.setValueAtTime(0.5, t + step - 0.05);
      gain.gain.linearRampToValueAtTime(0, t + step - 0.005);
    });
    osc.connect(gain).connect(ctx.destination);
    osc.start(0);
    osc.stop(seconds);
    samples = (await ctx.startRendering()).getChannelData(0);
  } else {
    // No WebAudio: the same notes as plain sines computed here.
    samples = new Float32Array(frames);
    for (let i = 0; i < frames; i++) {
      const t = i / sampleRate;
      samples[i] = 0.4 * Math.sin(2 * Math.PI * notes[Math.min(notes.length - 1, Math.floor(t / step))] * t);
    }
  }
  return encodeWav(samples, sampleRate);
}

/** PCM float samples (−1…1, mono) → a RIFF/WAVE file with 16-bit little-endian samples. */
export function encodeWav(samples, sampleRate) {
  const dataBytes = samples.length * 2;
  const out = new Uint8Array(44 + dataBytes);
  const v = new DataView(out.buffer);
  const ascii = (at, s) => [...s].forEach((c, i) => v.setUint8(at + i, c.charCodeAt(0)));
  ascii(0, 'RIFF');
  v.setUint32(4, 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  v.setUint32(16, 16, true); // fmt chunk size
  v.setUint16(20, 1, true); // PCM
  v.setUint16(22, 1, true); // channels
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * 2, true); // byte rate
  v.setUint16(32, 2, true); // block align
  v.setUint16(34, 16, true); // bits per sample
  ascii(36, 'data');
  v.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    v.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return out;
}

/** The media type of audio bytes, from their first bytes (the cache stores bytes, not types). */
export function sniffAudioType(b) {
  const at = (i, s) => [...s].every((c, k) => b[i + k] === c.charCodeAt(0));
  if (at(0, 'RIFF') && at(8, 'WAVE')) return 'audio/wav';
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return 'audio/webm'; // EBML
  if (at(0, 'OggS')) return 'audio/ogg';
  if (at(0, 'fLaC')) return 'audio/flac';
  if (at(4, 'ftyp')) return 'audio/mp4';
  if (at(0, 'ID3') || (b[0] === 0xff && (b[1] & 0xe0) === 0xe0)) return 'audio/mpeg';
  return 'application/octet-stream';
}

/** Lower-case hex SHA-256 of `bytes`, or null where WebCrypto is unavailable (plain-HTTP non-local origins). */
export async function sha256Hex(bytes) {
  if (globalThis.crypto?.subtle === undefined) return null;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...digest].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/** Microphone recording with MediaRecorder: `start()`, then `stop()` resolves with the bytes. */
export class MicRecorder {
  constructor() {
    this.recorder = null;
    this.stream = null;
    this.chunks = [];
  }

  get recording() {
    return this.recorder !== null;
  }

  async start() {
    if (navigator.mediaDevices?.getUserMedia === undefined) {
      throw new Error('this page cannot use the microphone here (browsers allow it on https:// or localhost only): use the test tone');
    }
    if (typeof MediaRecorder !== 'function') throw new Error('this browser has no MediaRecorder: use the test tone');
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const type = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm'].find((t) => MediaRecorder.isTypeSupported(t));
    this.chunks = [];
    this.recorder = new MediaRecorder(this.stream, type === undefined ? {} : { mimeType: type });
    this.recorder.addEventListener('dataavailable', (e) => {
      if (e.data.size > 0) this.chunks.push(e.data);
    });
    this.recorder.start(250);
  }

  /** Stops and resolves with `{ bytes, type }`. */
  stop() {
    const rec = this.recorder;
    if (rec === null) return Promise.reject(new Error('not recording'));
    return new Promise((resolve, reject) => {
      rec.addEventListener('error', (e) => reject(e.error ?? new Error('recording failed')), { once: true });
      rec.addEventListener(
        'stop',
        async () => {
          for (const track of this.stream.getTracks()) track.stop();
          this.recorder = null;
          this.stream = null;
          const blob = new Blob(this.chunks, { type: rec.mimeType });
          resolve({ bytes: new Uint8Array(await blob.arrayBuffer()), type: rec.mimeType });
        },
        { once: true },
      );
      rec.stop();
    });
  }
}
