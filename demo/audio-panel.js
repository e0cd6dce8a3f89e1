// The audio panel: make a clip (microphone or test tone), upload it as a stream, list the cached
// streams, check one's bytes with HTTP range reads, and play it from its HTTP address.
import { AudioClient } from './audio-client.js';
import { makeToneWav, MicRecorder, sha256Hex, sniffAudioType } from './sound.js';

const STREAM_ID = /^[A-Za-z0-9._-]{1,128}$/;
const MAX_RECORD_MS = 30_000;

const $ = (id) => document.getElementById(id);

function formatBytes(n) {
  return n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

function shortHash(hex) {
  return hex === null ? 'n/a (needs https or localhost)' : `${hex.slice(0, 12)}…`;
}

/** The HTTP address of stream `id` next to the audio cache URL (its token, if any, kept in the query). */
function streamHttpUrl(audioUrl, id) {
  const u = new URL(audioUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = `${u.pathname.replace(/\/$/, '')}/${encodeURIComponent(id)}`;
  return u.toString();
}

/** Wires the panel. `showError(text)` puts a message in the page's error area. */
export function setupAudioPanel(audioUrl, showError) {
  const client = new AudioClient(audioUrl);
  const mic = new MicRecorder();
  const uploaded = new Map(); // stream id → SHA-256 of the bytes this page uploaded
  let clip = null; // { bytes, type, source, sha256 }
  let autoId = true;
  let recordTimer = 0;

  const el = {
    id: $('stream-id'),
    record: $('record'),
    tone: $('tone'),
    upload: $('upload'),
    clip: $('clip'),
    uploadProgress: $('upload-progress'),
    refresh: $('refresh'),
    rows: $('streams').tBodies[0],
    empty: $('streams-empty'),
    player: $('player'),
    playInfo: $('play-info'),
    playProgress: $('play-progress'),
    audio: $('audio'),
  };

  el.id.addEventListener('input', () => (autoId = false));

  async function setClip(bytes, type, source) {
    const sha256 = await sha256Hex(bytes);
    clip = { bytes, type, source, sha256 };
    if (autoId || el.id.value === '') {
      el.id.value = `${source}-${Date.now().toString(36)}`;
      autoId = true;
    }
    el.clip.textContent = `${source === 'tone' ? 'Test tone' : 'Recording'}: ${formatBytes(bytes.length)} ${type} · sha-256 ${shortHash(sha256)}`;
    el.clip.dataset.sha256 = sha256 ?? '';
    el.clip.dataset.bytes = String(bytes.length);
    el.upload.disabled = false;
  }

  el.tone.addEventListener('click', async () => {
    try {
      await setClip(await makeToneWav(), 'audio/wav', 'tone');
    } catch (err) {
      showError(`test tone: ${err.message}`);
    }
  });

  el.record.addEventListener('click', async () => {
    try {
      if (mic.recording) {
        clearTimeout(recordTimer);
        el.record.textContent = '● Record mic';
        el.record.classList.remove('live');
        const { bytes, type } = await mic.stop();
        if (bytes.length === 0) throw new Error('the recording is empty');
        await setClip(bytes, type, 'mic');
        return;
      }
      await mic.start();
      el.record.textContent = '■ Stop';
      el.record.classList.add('live');
      el.clip.textContent = 'Recording… (30 s at most)';
      recordTimer = setTimeout(() => el.record.click(), MAX_RECORD_MS);
    } catch (err) {
      el.record.textContent = '● Record mic';
      el.record.classList.remove('live');
      showError(`microphone: ${err.message}`);
    }
  });

  el.upload.addEventListener('click', async () => {
    const id = el.id.value.trim();
    if (!STREAM_ID.test(id) || id.includes('..')) {
      showError('stream ids are 1–128 letters, digits, “-”, “_” or “.” (no “..”)');
      return;
    }
    if (clip === null) return;
    const current = clip;
    el.upload.disabled = true;
    el.uploadProgress.hidden = false;
    el.uploadProgress.value = 0;
    try {
      const r = await client.upload(id, current.bytes, (f) => (el.uploadProgress.value = f));
      uploaded.set(id, current.sha256);
      const resumed = r.resumedAt > 0 ? `, resumed at ${formatBytes(r.resumedAt)}` : '';
      el.clip.textContent = `Uploaded ${id}: ${formatBytes(r.size)} in ${r.chunks} chunks${resumed} · sha-256 ${shortHash(current.sha256)}`;
      renderList(r.list, id);
      autoId = true;
    } catch (err) {
      showError(`upload of ${id}: ${err.message}`);
    } finally {
      el.upload.disabled = false;
      el.uploadProgress.hidden = true;
    }
  });

  async function refresh() {
    try {
      renderList(await client.list(), null);
    } catch (err) {
      showError(`list streams: ${err.message}`);
    }
  }
  el.refresh.addEventListener('click', refresh);

  function renderList(streams, highlight) {
    el.rows.replaceChildren();
    el.empty.hidden = streams.length > 0;
    // Most recently used first: the server lists least recently used first.
    for (const s of [...streams].reverse()) {
      const tr = document.createElement('tr');
      tr.dataset.id = s.id;
      if (s.id === highlight) tr.classList.add('fresh');
      const name = document.createElement('td');
      name.className = 'stream-name';
      name.title = s.id;
      const line = document.createElement('div');
      line.className = 'stream-line';
      const label = document.createElement('span');
      label.className = 'stream-id';
      label.textContent = s.id;
      line.append(label);
      // "uploading" only while an upload is open; an incomplete stream nobody uploads can be resumed.
      if (!s.complete) line.append(badge(s.uploading ? 'uploading' : 'incomplete', s.uploading ? 'live' : 'stale'));
      name.append(line);
      const size = document.createElement('td');
      size.className = 'num';
      size.textContent = formatBytes(s.size);
      const actions = document.createElement('td');
      actions.className = 'actions';
      actions.append(button('Play', 'play', s.id), button('Delete', 'delete', s.id));
      tr.append(name, size, actions);
      el.rows.append(tr);
    }
  }

  function badge(text, kind) {
    const b = document.createElement('span');
    b.className = `badge ${kind}`;
    b.textContent = text;
    return b;
  }

  function button(label, action, id) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `small ${action}`;
    b.textContent = label;
    b.dataset.action = action;
    b.dataset.id = id;
    return b;
  }

  el.rows.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-action]');
    if (b === null) return;
    const id = b.dataset.id;
    if (b.dataset.action === 'play') await play(id);
    else {
      try {
        await client.remove(id);
        uploaded.delete(id);
      } catch (err) {
        showError(`delete ${id}: ${err.message}`);
      }
      await refresh();
    }
  });

  async function play(id) {
    el.player.hidden = false;
    el.player.dataset.state = 'loading';
    el.playProgress.value = 0;
    el.playInfo.textContent = `Fetching ${id}…`;
    try {
      const { bytes, ranges } = await client.download(id, (f) => (el.playProgress.value = f));
      const sha256 = await sha256Hex(bytes);
      const type = sniffAudioType(bytes);
      const mine = uploaded.get(id);
      const check = mine === undefined ? '' : mine === sha256 ? ' · same bytes as uploaded ✓' : ' · DIFFERS from the upload ✗';
      el.playInfo.textContent = `${id}: ${formatBytes(bytes.length)} in ${ranges} HTTP ranges, ${type} · sha-256 ${shortHash(sha256)}${check}`;
      el.playInfo.dataset.sha256 = sha256 ?? '';
      el.playInfo.dataset.id = id;
      if (mine !== undefined && mine !== sha256) showError(`playback of ${id}: the fetched bytes differ from the uploaded ones`);
      // The player streams it over plain HTTP (byte ranges for seeking), straight from the cache.
      el.audio.src = streamHttpUrl(audioUrl, id);
      el.audio.play().catch(() => {
        // Autoplay refused (no user gesture yet): the controls are there to press play.
      });
    } catch (err) {
      el.player.dataset.state = 'error';
      el.playInfo.textContent = `Could not fetch ${id}.`;
      showError(`playback of ${id}: ${err.message}`);
    }
  }

  el.audio.addEventListener('loadedmetadata', () => (el.player.dataset.state = 'metadata'));
  el.audio.addEventListener('canplay', () => (el.player.dataset.state = 'canplay'));
  el.audio.addEventListener('error', () => {
    if (el.audio.getAttribute('src') === null) return;
    el.player.dataset.state = 'error';
    showError(`this browser cannot play the stream (${el.audio.error?.message || 'unsupported format'})`);
  });

  refresh();
}
