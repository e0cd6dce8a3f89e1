// The slabcast demo page: a room (danmaku, whispers, members, history) and the audio cache panel.
// The protocols are slabcast/client's (served by slabcast at /client/): it reconnects, resumes with
// since= and reports gaps. Everything the server or another user sends is put in the page with
// textContent, never as HTML.
import { connectRoom } from '/client/index.js';
import { setupAudioPanel } from './audio-panel.js';
import { Stage } from './stage.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
const ROOM_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_LOG = 300;

const CLOSE_REASONS = {
  1001: 'the server is shutting down',
  1008: 'too many refused messages',
  1013: 'this page could not keep up with the room',
  4000: 'the room was closed by an admin',
};

const el = {
  joinForm: $('join-form'),
  room: $('room'),
  user: $('user'),
  tokenBadge: $('token-badge'),
  join: $('join'),
  leave: $('leave'),
  status: $('status'),
  errors: $('errors'),
  stage: $('stage'),
  sendForm: $('send-form'),
  text: $('text'),
  color: $('color'),
  mode: $('mode'),
  send: $('send'),
  log: $('log'),
  count: $('count'),
  members: $('members'),
};

const stage = new Stage(el.stage);
const token = params.get('token');
let me = null;
let room = null; // the RoomClient while joined
let phase = 'idle'; // idle → history (replay before `ready`) → live
const members = new Set();

/** Shows an error in the page (and keeps the five most recent). */
function showError(text) {
  const item = document.createElement('div');
  item.className = 'error';
  const msg = document.createElement('span');
  msg.textContent = text;
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'dismiss';
  close.textContent = '×';
  close.title = 'Dismiss';
  close.addEventListener('click', () => item.remove());
  item.append(msg, close);
  el.errors.append(item);
  while (el.errors.children.length > 5) el.errors.firstElementChild.remove();
}

function setStatus(text, state) {
  el.status.textContent = text;
  el.status.dataset.state = state;
}

/** The claims of a JWT, unverified: only to show who the token names (the server verifies it). */
function tokenClaims(jwt) {
  try {
    const b64 = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    const claims = JSON.parse(json);
    return typeof claims === 'object' && claims !== null ? claims : null;
  } catch {
    return null;
  }
}

function initForm() {
  el.room.value = params.get('room') ?? 'lobby';
  el.user.value = params.get('user') ?? `guest-${Math.random().toString(36).slice(2, 6)}`;
  if (token === null) return;
  const claims = tokenClaims(token);
  if (claims === null || typeof claims.sub !== 'string') {
    showError('the token in the page URL (?token=…) is not a JWT; the server will refuse it');
    return;
  }
  el.user.value = claims.sub;
  el.user.readOnly = true;
  el.user.title = 'Your name comes from the token in the page URL';
  el.tokenBadge.hidden = false;
  el.tokenBadge.textContent = 'token';
  el.tokenBadge.title = claims.exp ? `token valid until ${new Date(claims.exp * 1000).toLocaleString()}` : 'token from the page URL';
  if (typeof claims.room === 'string') {
    el.room.value = claims.room;
    el.room.readOnly = true;
  }
}

function time(ts) {
  const t = document.createElement('time');
  const d = new Date(ts);
  t.dateTime = d.toISOString();
  t.textContent = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return t;
}

/** Appends a line to the log: `kind` is danmaku | whisper | system | note. */
function logLine(kind, parts, { ts = Date.now(), history = false, mine = false } = {}) {
  const li = document.createElement('li');
  li.className = `msg ${kind}${history ? ' history' : ''}${mine ? ' mine' : ''}`;
  li.append(time(ts));
  for (const [cls, text] of parts) {
    const span = document.createElement('span');
    span.className = cls;
    span.textContent = text;
    li.append(span);
  }
  const atBottom = el.log.scrollTop + el.log.clientHeight >= el.log.scrollHeight - 8;
  el.log.append(li);
  while (el.log.children.length > MAX_LOG) el.log.firstElementChild.remove();
  if (atBottom) el.log.scrollTop = el.log.scrollHeight;
}

function renderMembers(count) {
  el.count.textContent = String(count ?? members.size);
  el.members.replaceChildren(
    ...[...members].sort().map((user) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'member';
      b.textContent = user + (user === me ? ' (you)' : '');
      b.dataset.user = user;
      b.disabled = user === me;
      li.append(b);
      return li;
    }),
  );
}

function onRoomMessage(msg) {
  const history = phase === 'history';
  switch (msg.type) {
    case 'danmaku': {
      const mine = msg.user === me;
      logLine('danmaku', [['who', msg.user], ['text', msg.text]], { ts: msg.ts, history, mine });
      if (!history) stage.show(null, msg.text, { color: msg.color, mode: msg.mode, classes: mine ? ['mine'] : [] });
      return;
    }
    case 'whisper': {
      const label = msg.from === me ? `you → ${msg.to}` : `${msg.from} → you`;
      logLine('whisper', [['who', label], ['tag', 'whisper'], ['text', msg.text]], { ts: msg.ts, mine: msg.from === me });
      stage.show(`${label}: `, msg.text, { color: '#f7c6ff', classes: ['whisper'] });
      return;
    }
    case 'system':
      logLine('system', [['who', 'system'], ['text', msg.text]], { ts: msg.ts, history });
      if (!history) stage.show('system: ', msg.text, { color: '#ffe08a', mode: 'top', classes: ['system'] });
      return;
    case 'ready': {
      phase = 'live';
      const kept = el.log.querySelectorAll('.history').length;
      if (msg.resumed) logLine('note', [['text', `back in ${el.room.value}`]]);
      else logLine('note', [['text', `joined ${el.room.value}: ${kept} earlier message${kept === 1 ? '' : 's'}${msg.gap ? ' (some older ones expired)' : ''}`]]);
      setStatus(`in ${el.room.value} as ${me}`, 'live');
      el.text.disabled = false;
      el.send.disabled = false;
      el.text.focus();
      room.who();
      return;
    }
    case 'who':
      members.clear();
      for (const u of msg.users) members.add(u);
      renderMembers(msg.count);
      return;
    case 'join':
    case 'leave':
      if (msg.type === 'join') members.add(msg.user);
      else members.delete(msg.user);
      renderMembers(msg.count);
      if (msg.user !== me) logLine('note', [['text', `${msg.user} ${msg.type === 'join' ? 'joined' : 'left'}`]]);
      return;
    case 'error':
      showError(`${msg.code}: ${msg.message}`);
      return;
    default:
      showError(`unexpected message from the room: ${JSON.stringify(msg).slice(0, 120)}`);
  }
}

function join() {
  const roomId = el.room.value.trim();
  const user = el.user.value.trim();
  if (!ROOM_ID.test(roomId)) return showError('room names are 1–64 letters, digits, “-” or “_”');
  if (token === null && user === '') return showError('pick a name first');
  me = user;
  phase = 'history';
  el.log.replaceChildren();
  stage.clear();
  members.clear();
  renderMembers(0);
  let gapped = false;
  let joined = false; // past a first `ready`
  const client = connectRoom(`${wsBase}/ws/room/${roomId}`, token !== null ? { token } : { user });
  room = client;
  setStatus(`joining ${roomId}…`, 'connecting');
  el.join.hidden = true;
  el.leave.hidden = false;
  el.room.disabled = true;
  el.user.disabled = true;
  for (const type of ['danmaku', 'whisper', 'system', 'who', 'join', 'leave', 'error']) client.on(type, onRoomMessage);
  client.on('gap', () => (gapped = true));
  client.on('ready', (r) => {
    onRoomMessage({ type: 'ready', gap: gapped, resumed: r.resumed });
    gapped = false;
  });
  client.on('disconnect', (d) => {
    phase = 'history';
    el.text.disabled = true;
    el.send.disabled = true;
    if (room !== client) return;
    if (!joined) {
      // Refused before it ever joined (a bad token, no token where one is needed): do not insist.
      showError(
        token !== null
          ? `could not join ${roomId}: the server refused the token (invalid, expired, or for another room)`
          : `could not join ${roomId}: the server refused the connection (if it runs with --token-secret, open this page with ?token=…)`,
      );
      client.close();
      return;
    }
    setStatus(`reconnecting to ${roomId}…`, 'connecting');
    showError(`disconnected from ${roomId}: ${CLOSE_REASONS[d.code] ?? `close code ${d.code}`}${d.reason ? ` (${d.reason})` : ''}; reconnecting`);
  });
  client.on('close', (c) => {
    if (room !== client) return;
    room = null;
    phase = 'idle';
    el.text.disabled = true;
    el.send.disabled = true;
    el.join.hidden = false;
    el.leave.hidden = true;
    el.room.disabled = false;
    el.user.disabled = false;
    members.clear();
    renderMembers(0);
    setStatus('not connected', 'idle');
    if (c.code !== 1000) showError(`disconnected from ${roomId}: ${CLOSE_REASONS[c.code] ?? `close code ${c.code}`}${c.reason ? ` (${c.reason})` : ''}`);
  });
  client.on('ready', () => (joined = true));
}

el.joinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  if (room === null) join();
});

el.leave.addEventListener('click', () => room?.close());

el.sendForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = el.text.value.trim();
  if (text === '' || phase !== 'live') return;
  // `/w name message`, or `/w "name with spaces" message`.
  const whisper = /^\/w\s+(?:"([^"]+)"|(\S+))\s+([\s\S]+)$/.exec(text);
  if (whisper !== null) {
    const to = whisper[1] ?? whisper[2];
    room.whisper(to, whisper[3]);
    el.text.value = whisperPrefix(to); // keep whispering to the same person
  } else if (/^\/w(\s|$)/.test(text)) showError('to whisper, type: /w name message');
  else {
    room.send(text, { color: el.color.value, mode: el.mode.value });
    el.text.value = '';
  }
});

function whisperPrefix(user) {
  return /\s/.test(user) ? `/w "${user}" ` : `/w ${user} `;
}

el.members.addEventListener('click', (e) => {
  const b = e.target.closest('button.member');
  if (b === null || b.disabled) return;
  el.text.value = whisperPrefix(b.dataset.user);
  el.text.focus();
});

initForm();
// With --token-secret the audio cache wants a token too: the page's, which needs "audio" rights in its claims.
setupAudioPanel(`${wsBase}${params.get('audioPath') ?? '/audio'}${token !== null ? `?token=${encodeURIComponent(token)}` : ''}`, showError);
if (params.has('join')) join();
