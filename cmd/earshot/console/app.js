// earshot console: the stream table (virtualised), live levels over one
// WebSocket, listen-in over one WebSocket per stream, and a stream's
// timeline. The admin token, when one is set, is asked once and kept in
// sessionStorage for the tab; it travels only in Authorization headers.
// WebSockets carry a one-use ticket, fetched with the token, as a
// subprotocol: never the token, never in a URL.

const TOKEN_KEY = 'earshot.token';
const ROW = 28;             // px, as --row in style.css
const OVERSCAN = 10;        // rows rendered beyond the viewport
const POLL_MS = 2000;       // stream list refresh
const MINUS = '\u2212';

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  streams: [],              // from /console/api/streams
  view: [],                 // filtered and sorted
  levels: new Map(),        // id -> {rms, peak, silent}
  sort: { key: 'id', asc: true },
  filter: '',
  selected: null,
  players: new Map(),       // id -> Player
  levelsSocket: null,
  visibleKey: '',
  levelMessages: 0,        // received on the levels socket
  clockOffset: 0,           // server minus browser clock, ms
};
// For tests and the curious: read-only views of the page's state.
window.earshotConsole = { state, playerStats: (id) => state.players.get(id)?.stats || null };

function authHeaders() {
  return state.token ? { Authorization: 'Bearer ' + state.token } : {};
}

async function api(path, init = {}) {
  const r = await fetch(path, { ...init, headers: { ...authHeaders(), ...(init.headers || {}) }, cache: 'no-store' });
  if (r.status === 401) throw Object.assign(new Error('unauthorized'), { status: 401 });
  if (!r.ok) throw Object.assign(new Error(`${path}: ${r.status} ${await r.text()}`), { status: r.status });
  return r.json();
}

async function ticket() {
  const t = await api('/console/api/ticket', { method: 'POST' });
  return t.ticket;
}

async function openSocket(path) {
  const t = await ticket();
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return new WebSocket(`${proto}//${location.host}${path}`, ['earshot.v1', 'ticket.' + t]);
}

// ---- start-up and the token prompt ----

async function start() {
  try {
    await refresh();
  } catch (e) {
    if (e.status === 401) return showLogin(state.token ? 'That token was refused.' : '');
    return fatal(e.message);
  }
  $('login').hidden = true;
  $('app').hidden = false;
  setupTable();
  render(); // now that the viewport has a height
  connectLevels();
  setInterval(() => refresh().catch((e) => { if (e.status === 401) location.reload(); }), POLL_MS);
}

function showLogin(msg) {
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = msg;
  $('token').focus();
}

function fatal(msg) {
  $('fatal').hidden = false;
  $('fatal').textContent = msg;
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  state.token = $('token').value.trim();
  $('token').value = '';
  sessionStorage.setItem(TOKEN_KEY, state.token);
  start();
});

// ---- the table ----

async function refresh() {
  const r = await api('/console/api/streams');
  state.clockOffset = r.server_time_ms - Date.now();
  // In fleet mode the list is the whole fleet's, with each stream's owner.
  state.instance = r.instance || '';
  document.body.classList.toggle('fleet', !!r.instance);
  state.streams = r.streams;
  for (const s of r.streams) {
    if (s.state !== 'streaming') state.levels.delete(s.id);
  }
  applyView();
}

const sorters = {
  id: (s) => s.id,
  state: (s) => s.state + (s.silent ? '~silent' : ''),
  since: (s) => -s.since_ms,
  codec: (s) => s.codec || '',
  level: (s) => state.levels.get(s.id)?.rms ?? -1000,
  gaps: (s) => s.gaps_1h,
  stalls: (s) => s.stalls_1h,
  error: (s) => errorText(s),
  owner: (s) => s.owner || '',
};

function errorText(s) {
  if (s.stall) return `stall: ${s.stall.reason} (${s.stall.stage})`;
  return s.last_error || '';
}

function applyView() {
  const f = state.filter.toLowerCase();
  let v = state.streams;
  if (f) {
    v = v.filter((s) => [s.id, s.state, s.codec, errorText(s), s.silent ? 'silent' : '', s.owner || ''].join(' ').toLowerCase().includes(f));
  }
  const key = sorters[state.sort.key];
  const dir = state.sort.asc ? 1 : -1;
  state.view = [...v].sort((a, b) => {
    const x = key(a), y = key(b);
    return (x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : 1) * dir;
  });
  const silent = state.streams.filter((s) => s.silent).length;
  const flowing = state.streams.filter((s) => s.state === 'streaming' && (!s.stall || s.silent)).length;
  $('summary').textContent = `${state.streams.length} streams · ${flowing} flowing · ${silent} silent` +
    (state.view.length !== state.streams.length ? ` · ${state.view.length} shown` : '');
  render();
}

function setupTable() {
  $('filter').addEventListener('input', (e) => { state.filter = e.target.value; applyView(); });
  for (const h of document.querySelectorAll('#head [data-sort]')) {
    h.addEventListener('click', () => {
      const k = h.dataset.sort;
      state.sort = { key: k, asc: state.sort.key === k ? !state.sort.asc : true };
      applyView();
    });
  }
  let pending = false;
  $('viewport').addEventListener('scroll', () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; render(); });
  });
  window.addEventListener('resize', () => render());
  $('rows').addEventListener('click', (e) => {
    const row = e.target.closest('.row');
    if (!row) return;
    const id = row.dataset.id;
    if (e.target.closest('.listen')) toggleListen(id);
    else select(id);
  });
}

const pool = [];   // row elements, reused

function makeRow() {
  const row = document.createElement('div');
  row.className = 'row';
  row.innerHTML = '<span class="c-listen"><button class="listen" title="listen">\u25B6</button></span>' +
    '<span class="c-id"></span><span class="c-state"></span><span class="c-since"></span><span class="c-codec"></span>' +
    '<span class="c-level"><span class="meter"><i></i><b></b></span><span class="leveltext"></span></span>' +
    '<span class="c-gaps"></span><span class="c-stalls"></span><span class="c-error"></span><span class="c-owner"></span>';
  return row;
}

// render draws only the rows in (or near) the viewport.
function render() {
  const vp = $('viewport');
  const n = state.view.length;
  $('spacer').style.height = `${n * ROW}px`;
  const top = Math.floor(vp.scrollTop / ROW);
  const bottom = Math.ceil((vp.scrollTop + vp.clientHeight) / ROW);
  const first = Math.max(0, top - OVERSCAN);
  const last = Math.min(n, bottom + OVERSCAN);
  const rows = $('rows');
  rows.style.transform = `translateY(${first * ROW}px)`;
  while (pool.length < last - first) pool.push(makeRow());
  while (rows.children.length > last - first) rows.lastChild.remove();
  for (let i = first; i < last; i++) {
    const el = pool[i - first];
    if (el.parentNode !== rows || rows.children[i - first] !== el) rows.insertBefore(el, rows.children[i - first] || null);
    fillRow(el, state.view[i]);
  }
  // The server sends levels for what is on screen only.
  const visible = state.view.slice(Math.max(0, top - 2), Math.min(n, bottom + 2)).map((s) => s.id);
  const key = visible.join('\n');
  if (key !== state.visibleKey) {
    state.visibleKey = key;
    sendVisible();
  }
}

function fillRow(el, s) {
  el.dataset.id = s.id;
  el.classList.toggle('selected', s.id === state.selected);
  const c = el.children;
  c[0].firstChild.classList.toggle('on', state.players.has(s.id));
  c[0].firstChild.textContent = state.players.has(s.id) ? '\u25A0' : '\u25B6';
  c[1].textContent = s.id;
  c[1].title = s.id;
  const silent = s.silent || state.levels.get(s.id)?.silent;
  c[2].className = 'c-state state-' + s.state;
  c[2].textContent = s.state;
  if (silent) c[2].insertAdjacentHTML('beforeend', '<span class="badge silent" title="silent_audio: the microphone sends silence">silent</span>');
  else if (s.stall) c[2].insertAdjacentHTML('beforeend', '<span class="badge">stalled</span>');
  c[3].textContent = s.since_ms ? duration(Date.now() + state.clockOffset - s.since_ms) : '';
  c[4].textContent = s.codec || '';
  fillLevel(c[5], s.state === 'streaming' ? state.levels.get(s.id) : null);
  c[6].textContent = s.gaps_1h;
  c[7].textContent = s.stalls_1h;
  c[8].textContent = errorText(s);
  c[8].title = errorText(s);
  c[9].textContent = s.owner || '';
  c[9].classList.toggle('self', !!s.owner && s.owner === state.instance);
}

function fillLevel(cell, l) {
  const bar = cell.firstChild.firstChild, peak = cell.firstChild.lastChild, text = cell.lastChild;
  if (!l) {
    bar.style.width = '0';
    peak.style.left = '0';
    text.textContent = '\u2014';
    delete text.dataset.rms;
    return;
  }
  // The meter spans -60..0 dBFS.
  const pos = (db) => `${Math.max(0, Math.min(100, (db + 60) / 60 * 100))}%`;
  bar.style.width = pos(l.rms);
  peak.style.left = pos(l.peak);
  text.textContent = l.rms <= -120 ? `${MINUS}\u221E dBFS` : `${l.rms.toFixed(1).replace('-', MINUS)} dBFS`;
  text.dataset.rms = String(l.rms);
}

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}`;
}

// ---- levels over one WebSocket ----

async function connectLevels() {
  let ws;
  try {
    ws = await openSocket('/console/ws/levels');
  } catch (e) {
    $('conn').textContent = 'levels: ' + e.message;
    setTimeout(connectLevels, 2000);
    return;
  }
  state.levelsSocket = ws;
  ws.onopen = () => { $('conn').textContent = 'live'; sendVisible(); };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    state.levelMessages++;
    for (const [id, rms, peak, silent] of m.levels) state.levels.set(id, { rms, peak, silent });
    for (const el of $('rows').children) {
      const l = state.levels.get(el.dataset.id);
      if (l && el.children[2].classList.contains('state-streaming')) fillLevel(el.children[5], l);
    }
  };
  ws.onclose = () => {
    state.levelsSocket = null;
    $('conn').textContent = 'reconnecting…';
    setTimeout(connectLevels, 1000);
  };
}

function sendVisible() {
  const ws = state.levelsSocket;
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ visible: state.visibleKey ? state.visibleKey.split('\n') : [] }));
  }
}

// ---- detail: timeline of the last hour ----

async function select(id) {
  state.selected = id;
  render();
  $('detail').hidden = false;
  $('detail-title').textContent = id;
  showPlayerStats();
  let ev = [];
  try {
    ev = (await api(`/console/api/streams/${encodeURIComponent(id)}/events`)).events || [];
  } catch (e) {
    $('events').textContent = e.message;
    return;
  }
  const tl = $('timeline');
  tl.replaceChildren();
  const now = Date.now() + state.clockOffset;
  const list = $('events');
  list.replaceChildren();
  for (const e of ev) {
    const t = Date.parse(e.time);
    const mark = document.createElement('i');
    mark.className = e.kind;
    mark.style.left = `${Math.max(0, Math.min(99.5, 100 - (now - t) / 36000))}%`;
    mark.title = `${e.kind} ${e.reason}`;
    tl.append(mark);
    const li = document.createElement('li');
    li.textContent = `${new Date(t).toLocaleTimeString()} ${e.kind} ${e.reason}` + (e.stage ? ` (${e.stage})` : '') + (e.gap_ms ? ` ${e.gap_ms} ms` : '');
    list.append(li);
  }
  if (!ev.length) list.textContent = 'no gap nor stall in the last hour';
}

function showPlayerStats() {
  const p = state.players.get(state.selected);
  const s = p?.stats;
  $('player-stats').textContent = !p ? 'click \u25B6 to listen' : !s ? 'starting…' :
    `listening: level ${s.levelDbfs == null ? '\u2014' : s.levelDbfs.toFixed(1)} dBFS · latency ${s.latencyMs == null ? '\u2014' : s.latencyMs.toFixed(0)} ms · ` +
    `buffer ${s.bufferedMs.toFixed(0)} ms · dropped here ${s.droppedMs.toFixed(0)} ms, at the server ${p.serverDropped} frames · underruns ${s.underruns}`;
}

// ---- listen-in ----

// One AudioContext per sample rate (earshot's output rate, 16 kHz unless
// configured otherwise), shared by the streams that play.
const contexts = new Map();

async function context(rate) {
  let c = contexts.get(rate);
  if (!c) {
    c = (async () => {
      const ctx = new AudioContext({ sampleRate: rate, latencyHint: 'interactive' });
      await ctx.audioWorklet.addModule('/console/static/worklet.js');
      return ctx;
    })();
    contexts.set(rate, c);
  }
  const ctx = await c;
  if (ctx.state !== 'running') await ctx.resume();
  return ctx;
}

class Player {
  constructor(id) {
    this.id = id;
    this.stats = null;
    this.serverDropped = 0;
    this.closed = false;
  }

  async start() {
    this.ws = await openSocket(`/console/ws/listen/${encodeURIComponent(this.id)}`);
    this.ws.binaryType = 'arraybuffer';
    this.ws.onclose = () => this.stop();
    const hello = await new Promise((ok, fail) => {
      // Audio that comes before the player is ready is not played.
      this.ws.onmessage = (e) => { if (typeof e.data === 'string') ok(JSON.parse(e.data)); };
      this.ws.onerror = () => fail(new Error('listen socket refused'));
    });
    const offset = hello.server_time_ms - Date.now();
    const ctx = await context(hello.rate);
    if (this.closed) return;
    const outMs = ((ctx.baseLatency || 0) + (ctx.outputLatency || 0)) * 1000;
    this.node = new AudioWorkletNode(ctx, 'earshot-player', { processorOptions: { targetMs: 150, maxMs: 300, outputLatencyMs: outMs } });
    this.node.connect(ctx.destination);
    this.node.port.onmessage = (e) => {
      this.stats = { ...e.data, contextState: ctx.state };
      if (state.selected === this.id) showPlayerStats();
    };
    this.ws.onmessage = (e) => {
      if (typeof e.data === 'string') {
        const m = JSON.parse(e.data);
        if (m.dropped !== undefined) this.serverDropped = m.dropped;
        return;
      }
      const arrival = new DataView(e.data, 0, 8).getFloat64(0, true);
      const pcm = new Int16Array(e.data.slice(8));
      this.node.port.postMessage({ pcm, transitMs: Date.now() + offset - arrival }, [pcm.buffer]);
    };
  }

  stop() {
    if (this.closed) return;
    this.closed = true;
    this.ws?.close();
    this.node?.disconnect();
    state.players.delete(this.id);
    render();
  }
}

async function toggleListen(id) {
  const p = state.players.get(id);
  if (p) { p.stop(); return; }
  const np = new Player(id);
  state.players.set(id, np);
  render();
  if (!state.selected) select(id);
  try {
    await np.start();
  } catch (e) {
    np.stop();
    fatal('listen: ' + e.message);
  }
}

window.addEventListener('pagehide', () => {
  for (const p of [...state.players.values()]) p.stop();
  state.levelsSocket?.close();
});

start();
