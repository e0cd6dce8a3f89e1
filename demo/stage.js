// The danmaku stage: comments fly from right to left in lanes (a CSS animation per comment), or sit
// at the top or bottom for a few seconds; whispers fly too, styled apart.

const SPEED_PX_PER_S = 170;
const LANE_GAP_PX = 24; // space kept between two comments in one lane
const FIXED_MS = 4500; // how long a top/bottom comment stays
const MAX_ON_STAGE = 120; // beyond this the oldest comment leaves early

export class Stage {
  constructor(el) {
    this.el = el;
    this.laneFreeAt = []; // per scrolling lane: when its last comment's tail has cleared the right edge
    this.fixedUntil = { top: [], bottom: [] };
  }

  laneHeight() {
    return parseFloat(getComputedStyle(this.el).getPropertyValue('--lane-height')) || 34;
  }

  lanes() {
    return Math.max(1, Math.floor((this.el.clientHeight - 16) / this.laneHeight()));
  }

  /** Shows `text` with `classes`; `mode`: scroll | top | bottom. */
  show(label, text, { color = '#ffffff', mode = 'scroll', classes = [] } = {}) {
    this.el.querySelector('.stage-hint')?.remove();
    const bullets = this.el.querySelectorAll('.bullet');
    if (bullets.length >= MAX_ON_STAGE) bullets[0].remove();
    const b = document.createElement('div');
    b.className = ['bullet', ...classes].join(' ');
    if (label !== null) {
      const who = document.createElement('span');
      who.className = 'bullet-who';
      who.textContent = label;
      b.append(who);
    }
    b.append(document.createTextNode(text));
    b.style.color = color;
    if (mode === 'top' || mode === 'bottom') this.fix(b, mode);
    else this.fly(b);
  }

  fly(b) {
    const now = performance.now();
    const n = this.lanes();
    let lane = 0;
    for (let i = 0; i < n; i++) {
      if ((this.laneFreeAt[i] ?? 0) <= now) {
        lane = i;
        break;
      }
      if ((this.laneFreeAt[i] ?? 0) < (this.laneFreeAt[lane] ?? 0)) lane = i;
    }
    b.classList.add('fly');
    b.style.top = `${8 + lane * this.laneHeight()}px`;
    this.el.append(b);
    const width = b.offsetWidth;
    const distance = this.el.clientWidth + width;
    b.style.setProperty('--distance', `${-distance}px`);
    b.style.animationDuration = `${(distance / SPEED_PX_PER_S).toFixed(2)}s`;
    this.laneFreeAt[lane] = Math.max(now, this.laneFreeAt[lane] ?? 0) + ((width + LANE_GAP_PX) / SPEED_PX_PER_S) * 1000;
    b.addEventListener('animationend', () => b.remove(), { once: true });
  }

  fix(b, where) {
    const now = performance.now();
    const slots = this.fixedUntil[where];
    let slot = slots.findIndex((until) => until <= now);
    if (slot === -1) slot = Math.min(slots.length, Math.max(0, Math.floor(this.lanes() / 2) - 1));
    slots[slot] = now + FIXED_MS;
    b.classList.add('fixed', where);
    b.style[where] = `${8 + slot * this.laneHeight()}px`;
    b.style.animationDuration = `${FIXED_MS}ms`;
    this.el.append(b);
    b.addEventListener('animationend', () => b.remove(), { once: true });
  }

  clear() {
    for (const b of this.el.querySelectorAll('.bullet')) b.remove();
    this.laneFreeAt = [];
    this.fixedUntil = { top: [], bottom: [] };
  }
}
