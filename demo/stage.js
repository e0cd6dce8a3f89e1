// The danmaku stage: comments fly from right to left in lanes (a CSS animation per comment), or sit
// at the top or bottom for a few seconds; whispers fly too, styled apart.

const SPEED_PX_PER_S = 170;
const LANE_GAP_PX = 24; // space kept between two comments in one lane
const FIXED_MS = 4500; // how long a top/bottom comment stays
const MAX_ON_STAGE = 120; // beyond this the oldest comment leaves early

export class Stage {
  constructor(el) {
    this.el = el;
    this.resetLanes();
  }

  /**
   * Per lane (one line of the stage, counted from the top), three times from performance.now():
   * - `tailClearAt`: when the last scrolling comment's tail clears the right edge (another may start);
   * - `scrollGoneAt`: when that comment has left the stage (nothing scrolls through the lane any more);
   * - `fixedUntil`: when a top or bottom comment held in the lane disappears.
   * Scrolling comments never take a lane that holds a fixed one, and a fixed comment takes a lane that
   * nothing scrolls through, so the two do not overlap. Only a stage with traffic in every lane lets a
   * fixed comment sit over a scrolling one, the one that leaves first (it has its own background, so it
   * stays readable).
   */
  resetLanes() {
    this.tailClearAt = [];
    this.scrollGoneAt = [];
    this.fixedUntil = [];
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
    // The first free lane without a fixed comment, else the one that frees soonest.
    let lane = -1;
    for (let i = 0; i < n; i++) {
      if ((this.fixedUntil[i] ?? 0) > now) continue;
      if ((this.tailClearAt[i] ?? 0) <= now) {
        lane = i;
        break;
      }
      if (lane === -1 || (this.tailClearAt[i] ?? 0) < (this.tailClearAt[lane] ?? 0)) lane = i;
    }
    if (lane === -1) lane = this.soonest(this.tailClearAt, n); // every lane holds a fixed comment
    b.classList.add('fly');
    b.style.top = `${this.laneTop(lane)}px`;
    this.el.append(b);
    const width = b.offsetWidth;
    const distance = this.el.clientWidth + width;
    const start = Math.max(now, this.tailClearAt[lane] ?? 0);
    b.style.setProperty('--distance', `${-distance}px`);
    b.style.animationDuration = `${(distance / SPEED_PX_PER_S).toFixed(2)}s`;
    this.tailClearAt[lane] = start + ((width + LANE_GAP_PX) / SPEED_PX_PER_S) * 1000;
    this.scrollGoneAt[lane] = Math.max(this.scrollGoneAt[lane] ?? 0, now + (distance / SPEED_PX_PER_S) * 1000);
    b.addEventListener('animationend', () => b.remove(), { once: true });
  }

  fix(b, where) {
    const now = performance.now();
    const n = this.lanes();
    // Top comments fill lanes from the top down, bottom ones from the bottom up.
    const order = Array.from({ length: n }, (_, i) => (where === 'top' ? i : n - 1 - i));
    const free = (i) => (this.fixedUntil[i] ?? 0) <= now;
    const sooner = (times) => (best, i) => ((times[i] ?? 0) < (times[best] ?? 0) ? i : best);
    let lane = order.find((i) => free(i) && (this.scrollGoneAt[i] ?? 0) <= now);
    // A stage busy everywhere: over the scrolling comment that leaves first, else the oldest fixed one.
    if (lane === undefined && order.some(free)) lane = order.filter(free).reduce(sooner(this.scrollGoneAt));
    lane ??= order.reduce(sooner(this.fixedUntil));
    this.fixedUntil[lane] = now + FIXED_MS;
    b.classList.add('fixed', where);
    b.style.top = `${this.laneTop(lane)}px`;
    b.style.animationDuration = `${FIXED_MS}ms`;
    this.el.append(b);
    b.addEventListener('animationend', () => b.remove(), { once: true });
  }

  laneTop(lane) {
    return 8 + lane * this.laneHeight();
  }

  soonest(times, n) {
    let lane = 0;
    for (let i = 1; i < n; i++) if ((times[i] ?? 0) < (times[lane] ?? 0)) lane = i;
    return lane;
  }

  clear() {
    for (const b of this.el.querySelectorAll('.bullet')) b.remove();
    this.resetLanes();
  }
}
