// The simulated terminal's page: draws the OLED from the panel's own bytes (SSD1306 page layout: 8
// pages of 128 column bytes, bit 0 at the top), and sends keys, taps and switches to the simulator.
// window.tapline.oled holds the bytes last drawn, for anyone checking what the page shows.
const W = 128;
const H = 64;
const SCALE = 4;
const KEYS = ['1', '2', '3', 'A', '4', '5', '6', 'B', '7', '8', '9', 'C', '*', '0', '#', 'D'];
const KEY_NOTES = { '*': 'cancel', '#': 'OK', A: '', B: 'back', C: '', D: '' };

const oled = { bytes: new Uint8Array(W * H / 8), lines: [], draws: 0 };
window.tapline = { oled, state: null };

const $ = (id) => document.getElementById(id);
const canvas = $('oled');
const ctx = canvas.getContext('2d');
let socket;
let state;

function pixel(bytes, x, y) {
  return (bytes[(y >> 3) * W + x] >> (y & 7)) & 1;
}

function draw(hex) {
  const bytes = new Uint8Array(W * H / 8);
  for (let i = 0; i < bytes.length && i * 2 < hex.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
  const image = ctx.createImageData(W * SCALE, H * SCALE);
  const on = [226, 240, 255];
  const off = [6, 10, 18];
  for (let y = 0; y < H * SCALE; y++) {
    for (let x = 0; x < W * SCALE; x++) {
      // a one-pixel dark seam between OLED dots, as the real panel shows them
      const seam = x % SCALE === SCALE - 1 || y % SCALE === SCALE - 1;
      const lit = pixel(bytes, (x / SCALE) | 0, (y / SCALE) | 0) && !seam;
      const c = lit ? on : off;
      const i = (y * W * SCALE + x) * 4;
      image.data[i] = c[0];
      image.data[i + 1] = c[1];
      image.data[i + 2] = c[2];
      image.data[i + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
  oled.bytes = bytes;
  oled.draws++;
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function buildKeypad() {
  const pad = $('keypad');
  for (const k of KEYS) {
    const b = document.createElement('button');
    b.className = 'key' + (/[A-D]/.test(k) ? ' fn' : '') + (k === '#' ? ' ok' : '') + (k === '*' ? ' cancel' : '');
    b.dataset.key = k;
    b.innerHTML = '';
    const main = document.createElement('span');
    main.textContent = k;
    b.append(main);
    if (KEY_NOTES[k]) {
      const note = document.createElement('small');
      note.textContent = KEY_NOTES[k];
      b.append(note);
    }
    b.addEventListener('click', () => send({ op: 'key', key: k }));
    pad.append(b);
  }
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement) return;
    let k = e.key;
    if (k === 'Enter') k = '#';
    else if (k === 'Backspace') k = 'B';
    else if (k === 'Escape') k = '*';
    else k = k.toUpperCase();
    if (KEYS.includes(k)) {
      send({ op: 'key', key: k });
      e.preventDefault();
    }
  });
}

function money(minor) {
  return `${Math.floor(minor / 100).toLocaleString('en-US')}.${String(minor % 100).padStart(2, '0')}`;
}

function renderWallets(s) {
  const box = $('wallets');
  box.replaceChildren();
  for (const w of s.wallets) {
    const b = document.createElement('button');
    b.className = 'wallet' + (s.inField === w.name ? ' in-field' : '') + (w.cloneOf ? ' clone' : '');
    b.dataset.wallet = w.name;
    b.title = `tap ${w.name} on the reader`;
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = w.name;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = `${w.profile}${w.cloneOf ? ` · clone of ${w.cloneOf}` : ''} · ${w.walletId}`;
    const bal = document.createElement('span');
    bal.className = 'balance';
    bal.textContent = money(w.balance);
    b.append(name, bal, meta);
    b.addEventListener('click', () => send({ op: 'tap', wallet: w.name }));
    box.append(b);
  }
}

function render(s) {
  state = s;
  window.tapline.state = s;
  oled.lines = s.lines;
  if (s.screen) draw(s.screen);
  else draw('');
  $('mode').textContent = s.mode === 'transit' ? 'transit gate' : 'merchant till';
  $('led-green').classList.toggle('on', s.led === 'green');
  $('led-red').classList.toggle('on', s.led === 'red');
  $('nfc').textContent = s.inField ? `in the field: ${s.inField}` : 'NFC field empty';
  $('nfc').classList.toggle('on', !!s.inField);
  $('network').checked = s.network;
  $('power').checked = s.powered;
  $('office').href = s.officeUrl;
  canvas.classList.toggle('off', !s.powered);
  renderWallets(s);
}

let buzzerTimer;
function flashBuzzer() {
  $('buzzer').classList.add('on');
  clearTimeout(buzzerTimer);
  buzzerTimer = setTimeout(() => $('buzzer').classList.remove('on'), 400);
}

function addLog(entries) {
  const list = $('log');
  for (const e of entries) {
    const li = document.createElement('li');
    li.className = `k-${e.kind}${e.level ? ` l-${e.level}` : ''}${e.kind === 'decision' && e.text.startsWith('DECLINED') ? ' declined' : ''}`;
    if (e.kind === 'beep') flashBuzzer();
    const t = document.createElement('time');
    t.dateTime = e.at;
    t.textContent = e.at.slice(11, 19);
    const text = document.createElement('span');
    text.textContent = e.text;
    li.append(t, text);
    list.prepend(li);
  }
  while (list.children.length > 200) list.lastChild.remove();
}

function connect() {
  socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  const link = $('link');
  socket.addEventListener('open', () => {
    link.hidden = true;
  });
  socket.addEventListener('message', (event) => {
    const m = JSON.parse(event.data);
    if (m.type === 'state') render(m);
    else if (m.type === 'log') addLog(m.entries);
  });
  socket.addEventListener('close', () => {
    link.hidden = false;
    link.textContent = 'simulator stopped: reconnecting…';
    setTimeout(connect, 1000);
  });
}

buildKeypad();
draw('');
$('remove').addEventListener('click', () => send({ op: 'remove' }));
$('network').addEventListener('change', (e) => send({ op: 'network', up: e.target.checked }));
$('power').addEventListener('change', (e) => send({ op: 'power', on: e.target.checked }));
connect();
