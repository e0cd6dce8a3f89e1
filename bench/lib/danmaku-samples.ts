/**
 * Realistic danmaku for the rooms benchmarks: what a live room's chat looks like (short reactions,
 * a few longer comments, mostly CJK with some Latin and emoji), so a compressor sees the text it
 * would meet in production, not a repeated placeholder. Each message still starts its text with
 * `n:<seq> `, which the load client reads back to match a delivery to its send time.
 */

/** Comments cycled in order; lengths from 2 to ~60 characters (up to ~180 B of UTF-8). */
const COMMENTS: readonly string[] = [
  '前方高能！！！',
  '666666',
  '这波操作太秀了',
  'awsl',
  '主播今天状态好好啊',
  '哈哈哈哈哈哈哈哈哈哈',
  '第一次来，已关注，主播加油',
  'this is insane lol',
  '弹幕护体',
  '泪目了 😭😭',
  '正片开始',
  '有没有人和我一样是从推荐页过来的',
  'GG',
  '这个配乐叫什么名字？求歌名',
  'the timing on that was perfect',
  '下次一定',
  '打卡 第 37 天',
  '太强了吧，这都能反杀？',
  '2333333',
  '刚才那一段再放一遍可以吗，没看清楚',
  'let’s gooooo 🔥🔥🔥',
  '高能预警 ⚠️',
  '笑死，主播自己都没想到',
  '空降成功',
  '这期视频质量真的很高，做了很久吧，辛苦了',
  '?',
  'wwwwww',
  '爷青回',
  '建议改成：先手控再输出，伤害能高一截',
  '好耶！',
  'first time catching this live, hello from Berlin',
  '名场面来了',
  '我宣布这是本年度最佳',
  '妈妈问我为什么跪着看直播',
  '有一说一，确实',
  '蹲一个回放',
  '主播的声音好好听',
  'xswl',
  '这就是专业选手吗，爱了爱了',
  '不愧是你',
];

/** Colours and modes as a room sees them: mostly white scrolling text. */
const COLORS: readonly string[] = ['#ffffff', '#ffffff', '#ffffff', '#fe0302', '#00cd00', '#ffff00', '#ffffff', '#89d5ff'];
const MODES: readonly string[] = ['scroll', 'scroll', 'scroll', 'scroll', 'scroll', 'top', 'scroll', 'bottom'];

/** The client's JSON for danmaku number `n` (its text starts with `n:<n> `). */
export function realisticDanmaku(n: number): string {
  const text = `n:${n} ${COMMENTS[n % COMMENTS.length]}`;
  return JSON.stringify({ type: 'danmaku', text, color: COLORS[n % COLORS.length], mode: MODES[(n >> 3) % MODES.length] });
}

/** The placeholder the plain rooms scenario sends (kept for its published numbers). */
export function placeholderDanmaku(n: number): string {
  return `{"type":"danmaku","text":"n:${n}"}`;
}
