/*
 * wsload: a lean WebSocket echo and fan-out load generator (C11, Linux epoll, libc only).
 *
 * Opens N TCP connections to HOST:PORT and upgrades each on PATH (RFC 6455 §4.1, fixed key, the
 * 101 and Sec-WebSocket-Accept are checked). Server frames are parsed by header (§5.2: 2/4/10
 * bytes, never masked from a server) across reads; pings are answered with pongs, pongs ignored.
 * The reads of the open connections one epoll_wait reports go to the kernel in one io_uring
 * submission (Linux 6.1+; --no-uring, or a kernel that refuses it: one read(2) each).
 *
 * --mode echo (default): K binary messages of M bytes in flight per connection. One pre-built
 * masked frame (§5.3) is written again and again; each echo's payload is compared with what was
 * sent, its round trip recorded, and the next frame goes out at once (closed loop). A Close
 * fails the connection (counted as an error).
 *
 * --mode fanout: the first connection is the sender, the other N - 1 are receivers, and the
 * server is expected to send each message to every receiver and not back to the sender. Round r
 * is one message whose first 12 payload bytes are its CLOCK_MONOTONIC send time (int64 ns, LE)
 * and r (uint32, LE), written masked into one of K pre-built frames (slot r mod K). Every
 * receiver must get every round, in order, with the rest of the payload as sent; its delivery
 * latency is taken from the embedded time. Round r + K goes out when every receiver got round r
 * (K = 1: one message per round). A delivery that is not the expected one, a lost connection or
 * a round still incomplete after --round-timeout ends the process with exit code 3 and the
 * reason on stderr: the round accounting would mean nothing after it.
 *
 * A run is a warm-up then a measured window; one JSON line per run on stdout, progress on
 * stderr. With --control the connections stay open after the run and further runs are read
 * from stdin ("run <seconds>" per line; "quit" or EOF ends), which is how bench/lib/c-ws-load.ts
 * drives it: its warm-up call pays for the upgrades, the measured call does not.
 *
 * --mode rooms: the first connection is the sender, the other N - 1 are receivers, all members of
 * the room on PATH (e.g. slabcast's /ws/room/bench in open mode). Open loop: the sender posts
 * --rate danmaku per second, each a masked TEXT frame {"type":"danmaku","text":"n:<seq>"}, whatever
 * the deliveries do; each tick sends what the rate owes since the last one, so a late wake-up does
 * not lower the rate. A tick is every --tick-ms (several danmaku may go together, as from the Node
 * rooms client's 10 ms timer), or with 0 (default) whenever the next one is due. Seq numbers start at --first-seq and go on across runs (a server's history
 * replays an earlier process's danmaku on join: a caller that continues its seqs, as
 * bench/lib/c-ws-load.ts does from the last run's "lastSeq", has them recognised as stale). A receiver's TEXT message whose first
 * ROOMS_PREFIX payload bytes hold "text":"n:<digits>" is a delivery of that seq (its latency: now
 * minus the seq's send time); other messages (ready, join, leave, presence) and the sender's own
 * copy are ignored. A seq sent before the run is stale (counted apart), one never sent or out of
 * order is an error. After the window, deliveries still missing (sent × receivers expected) after
 * --drain-timeout are errors. A failed upgrade ends the process as in fan-out.
 *
 * --mode idle (with --control): opens and holds idle WebSockets, for the memory and upgrade-cost
 * scenario. "open <n>" opens n more (at most --connections held, CONNECT_CONCURRENCY upgrades in
 * flight) and prints one JSON line: opened, failed, firstFailure, elapsedSec, the upgrade latency's
 * p50Ms/p99Ms (socket() to the checked 101) and the client's cpuMicros. Held sockets send nothing,
 * answer pings, and count a server close. "close" closes them all and prints stillOpen (how many
 * the server had not closed). On loopback each "open" connects from a source address of its own
 * (127.1.0.1, 127.1.0.2, …), so no pass hunts for ephemeral ports beside an earlier one's
 * TIME_WAIT sockets.
 *
 * Build: cc -std=c11 -O2 -Wall -Wextra -o wsload wsload.c
 * Usage: wsload --port P [--host 127.0.0.1] [--path /echo] [--mode echo|fanout|rooms|idle] [--connections 100]
 *               [--inflight 1] [--size 20] [--rate R] [--first-seq 1] [--tick-ms 0] [--warmup 0] [--duration 10] [--control] [--no-verify] [--no-uring]
 *               [--connect-timeout 10] [--drain-timeout 2] [--round-timeout 2]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* base64("slabcast-bench-k"), as the Node lean client; the accept is base64(SHA-1(key + GUID)) (§4.2.2). */
#define WS_KEY "c2xhYmNhc3QtYmVuY2gtaw=="
#define WS_ACCEPT "eh5/tj0XSmKo/NbeV46kXXn7tBc="
static const uint8_t MASK_KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

enum { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xa };

#define READ_BUFFER_BYTES (256 * 1024)
#define HANDSHAKE_MAX 8192
#define CONTROL_MAX 125          /* §5.5 */
#define CTRL_OUT_MAX 1024        /* pending pong bytes per connection */
#define WRITE_BATCH 64           /* iovecs per writev */
#define MAX_EVENTS 512
#define CONNECT_CONCURRENCY 200  /* upgrades in flight, well under a 511 listen backlog */
#define FANOUT_PREFIX 12         /* fan-out payload prefix: int64 send time (ns) + uint32 round */
#define EXIT_BROKEN 3            /* fan-out: a wrong or missing delivery, or a lost connection; rooms: a failed upgrade */
#define ROOMS_PREFIX 160         /* rooms: payload bytes searched for "text":"n: (user ids are guest-<12 hex>) */
#define ROOMS_RING 65536         /* rooms: send times kept, by seq mod this; far more than can be in flight */
#define ROOMS_OUT_MAX (1 << 20)  /* rooms: the sender's unwritten bytes; past this the server has stopped reading */

enum { MODE_ECHO, MODE_FANOUT, MODE_ROOMS, MODE_IDLE };

/* ---------------------------------------------------------------- options */

static struct {
  const char *host;
  int port;
  const char *path;
  int mode;
  long connections;
  long inflight;
  long size;
  double warmup;
  double duration;
  bool control;
  bool verify;
  double connect_timeout;
  double drain_timeout;
  double round_timeout;
  double rate;
  uint64_t first_seq;
  double tick_ms;
  bool uring;
} opt = {"127.0.0.1", 0, "/echo", MODE_ECHO, 100, 1, 20, 0, 10, false, true, 10, 2, 2, 0, 1, 0, true};

/* ---------------------------------------------------------------- time, histogram */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void cpu_now(int64_t *user, int64_t *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
  *sys = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

/* Log-linear µs histogram, the same buckets as bench/lib/latency-histogram.ts: exact below 64 µs,
 * then 32 buckets per power of two (≤ 3% error), up to 2^31 µs. */
#define HIST_BUCKETS 864
static uint64_t hist[HIST_BUCKETS];
static uint64_t hist_total;

static void hist_record(int64_t ns) {
  int64_t r = ns <= 0 ? 0 : (ns + 500) / 1000;
  uint32_t v = r >= 0x7fffffff ? 0x7fffffffu : (uint32_t)r;
  uint32_t index = v;
  if (v >= 64) {
    int k = 31 - __builtin_clz(v);
    index = 64 + (uint32_t)(k - 6) * 32 + ((v >> (k - 5)) - 32);
  }
  hist[index]++;
  hist_total++;
}

/* The q-quantile in ms (bucket midpoint), or a negative number without samples. */
static double hist_quantile_ms(double q) {
  if (hist_total == 0) return -1;
  double want = q * (double)hist_total;
  uint64_t rank = (uint64_t)want;
  if ((double)rank < want) rank++;
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) {
    seen += hist[i];
    if (seen >= rank) {
      if (i < 64) return i / 1000.0;
      int j = i - 64, k = (j >> 5) + 6;
      double width = (double)(1u << (k - 5));
      return (((j & 31) + 32) * width + (width - 1) / 2) / 1000.0;
    }
  }
  return -1;
}

/* ---------------------------------------------------------------- connections */

enum { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSED };

typedef struct conn {
  int fd;
  int state;
  bool want_out;           /* EPOLLOUT registered */
  int64_t started;         /* connect start (connect timeout) */
  /* handshake */
  size_t req_off;
  char *hs;
  size_t hs_len;
  /* output: data frames still to write (the current one included), the sequence number of the
   * current one (it picks the frame slot), bytes of the current one written */
  uint64_t out_frames;
  uint64_t out_seq;
  size_t out_off;
  uint8_t ctrl[CTRL_OUT_MAX];
  size_t ctrl_len, ctrl_off;
  /* send times of the messages in flight (ring of opt.inflight) */
  int64_t *sent_at;
  uint32_t ring_head, ring_count;
  /* frame parser */
  uint8_t head[14];
  uint32_t head_have, head_need;
  bool in_payload;
  uint64_t frame_len, payload_left;
  uint8_t frame_op;
  bool frame_fin;
  bool in_message;         /* a data message started and has not had its FIN frame */
  uint8_t msg_op;
  uint64_t msg_len;
  bool msg_bad;            /* payload differed from what was sent */
  uint8_t prefix[ROOMS_PREFIX]; /* fan-out, rooms: the current message's first payload bytes */
  uint64_t next_round;     /* fan-out receiver: the round it must get next */
  uint64_t last_seq;       /* rooms receiver: the last danmaku seq counted (warm-up or window) */
  uint8_t ctl[CONTROL_MAX];
  uint32_t ctl_have;
} conn;

static conn *conns;
static int epfd = -1;
static struct sockaddr_in target;
/* Idle mode on loopback: the source address of the current "open" (0: the kernel's choice). */
static struct sockaddr_in source;
static uint32_t open_passes;
static char *upgrade_req;
static size_t upgrade_len;
static uint8_t *frames;     /* the pre-built masked client frames: 1 (echo) or --inflight (fan-out) */
static uint32_t frame_slots;
static size_t frame_len;    /* bytes of one frame */
static size_t payload_at;   /* payload offset in a frame */
static uint8_t *expected;   /* the plain payload the echo must carry */
static uint8_t read_buf[READ_BUFFER_BYTES];
static int stdin_tag;       /* address used as epoll data for stdin */
/* Fan-out registers its sockets edge-triggered (EPOLLET): a level-triggered socket reported ready
 * is polled again by the next epoll_wait even when it was read empty, a second poll per delivery.
 * Reads then go on until a short read (all that was queued) or EAGAIN, writes until EAGAIN. */
static uint32_t edge;

/* ---------------------------------------------------------------- run state */

enum { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_IDLE, PH_EXIT };
static int phase = PH_CONNECT;
static int64_t warm_start, warm_end, measure_start, measure_end, measure_stop, drain_deadline;
static double next_warmup, next_duration;
static int64_t cpu_user_before, cpu_sys_before;
/* Rooms: the CPU when the window ended. Its cpuMicros stops there: an open-loop window ends on
 * time, and a server that fell behind would otherwise bill the client for reading its backlog
 * during the drain (the drain's share is reported apart). */
static int64_t cpu_user_stop, cpu_sys_stop;
static int run_number;
static bool quit_requested;

/* connect phase */
static long started_conns, settled_conns, opened_conns, connect_failures;
/* Connections the connect phase opens up to: --connections, or (idle mode) those held plus the "open <n>". */
static long connect_goal;
/* Idle mode: connections opened and the client's CPU before the current "open <n>". */
static long idle_opened_before;
static int64_t connect_begin;
static double connect_sec;

/* counters, reset after each report (so errors between runs land in the next report) */
static uint64_t completed, warm_completed, errors, mismatches, pings, closed_conns;
static uint64_t sent_msgs, echoed_msgs, sent_bytes, echoed_bytes;
static uint64_t epoll_waits, epoll_events; /* during the measured window */
static uint64_t total_inflight;
static char first_error[256];

static void note_error(uint64_t count, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_error(uint64_t count, const char *fmt, ...) {
  errors += count;
  if (first_error[0] != '\0') return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(first_error, sizeof first_error, fmt, ap);
  va_end(ap);
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("wsload: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* Prints "wsload: <prefix><message>" and ends the process with `code`. */
static void vexit(int code, const char *prefix, const char *fmt, va_list ap) __attribute__((noreturn));
static void vexit(int code, const char *prefix, const char *fmt, va_list ap) {
  fprintf(stderr, "wsload: %s", prefix);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  exit(code);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vexit(2, "", fmt, ap);
}

/* Fan-out, rooms: the run cannot go on (see the top comment); ends the process. */
static void fanout_broken(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fanout_broken(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vexit(EXIT_BROKEN, opt.mode == MODE_ROOMS ? "rooms broken: " : "fan-out broken: ", fmt, ap);
}

/* "sender" or "receiver <i>" (1-based), for messages. */
static const char *conn_name(const conn *c) {
  static char name[32];
  long i = (long)(c - conns);
  if (i == 0) return "sender";
  snprintf(name, sizeof name, "receiver %ld", i);
  return name;
}

static void connect_settled(void);
static void finish_idle_open(void);

/* Upgrade-response buffers (HANDSHAKE_MAX + 1 bytes) on a free list, the next pointer in a free
 * buffer's first bytes. At most CONNECT_CONCURRENCY are in use at once; a malloc and free per
 * upgrade made glibc grow and trim the top of its heap again and again, a page fault per page. */
static char *hs_free_list;

static char *hs_take(void) {
  char *b = hs_free_list;
  if (b != NULL) {
    memcpy(&hs_free_list, b, sizeof hs_free_list);
    return b;
  }
  b = malloc(HANDSHAKE_MAX + 1);
  if (b == NULL) die("out of memory");
  return b;
}

static void hs_give(char *b) {
  if (b == NULL) return;
  memcpy(b, &hs_free_list, sizeof hs_free_list);
  hs_free_list = b;
}

/* Drops a connection; its messages in flight are lost (one error for the connection).
 * Fan-out: an open connection lost ends the process. */
static void conn_fail(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_fail(conn *c, const char *fmt, ...) {
  if (c->state == ST_CLOSED) return;
  bool was_pending = c->state == ST_CONNECTING || c->state == ST_HANDSHAKE;
  char reason[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  if (opt.mode == MODE_FANOUT && !was_pending) fanout_broken("%s: %s", conn_name(c), reason);
  note_error(1, "%s", reason);
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->state = ST_CLOSED;
  hs_give(c->hs);
  c->hs = NULL;
  total_inflight -= c->ring_count;
  c->ring_count = 0;
  c->out_frames = 0;
  if (was_pending) {
    connect_failures++;
    connect_settled();
  } else {
    closed_conns++;
  }
}

static void set_want_out(conn *c, bool want) {
  if (c->want_out == want) return;
  struct epoll_event ev = {.events = edge | EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl MOD: %s", strerror(errno));
  c->want_out = want;
}

/* The frame carrying data message `seq` (echo: always the one frame). */
static uint8_t *frame_at(uint64_t seq) {
  return frames + (size_t)(seq % frame_slots) * frame_len;
}

/* Rooms: the sender's frames are of varying length (the seq's digits), so they are queued as bytes,
 * its pongs among them in stream order: rm_out[rm_out_off, rm_out_len) is still to write. */
static uint8_t *rm_out;
static size_t rm_out_len, rm_out_off;

/* Writes what is queued, in stream order: the rest of a partly written data frame, pending
 * control frames, then whole data frames. At most one of the first two is ever partial.
 * Rooms: the sender's byte queue (it has no pre-built data frames and no separate control bytes). */
static void flush(conn *c) {
  while (c->state == ST_OPEN) {
    struct iovec iov[WRITE_BATCH];
    int n = 0;
    if (opt.mode == MODE_ROOMS && c == &conns[0]) {
      if (rm_out_off == rm_out_len) {
        rm_out_off = rm_out_len = 0;
        set_want_out(c, false);
        return;
      }
      ssize_t w = write(c->fd, rm_out + rm_out_off, rm_out_len - rm_out_off);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) set_want_out(c, true);
        else conn_fail(c, "write: %s", strerror(errno));
        return;
      }
      rm_out_off += (size_t)w;
      continue;
    }
    bool partial = c->out_off > 0;
    if (partial) iov[n++] = (struct iovec){frame_at(c->out_seq) + c->out_off, frame_len - c->out_off};
    bool ctrl = c->ctrl_off < c->ctrl_len;
    if (ctrl) iov[n++] = (struct iovec){c->ctrl + c->ctrl_off, c->ctrl_len - c->ctrl_off};
    uint64_t whole = c->out_frames - (partial ? 1 : 0);
    for (uint64_t seq = c->out_seq + (partial ? 1 : 0); whole > 0 && n < WRITE_BATCH; seq++, whole--) {
      iov[n++] = (struct iovec){frame_at(seq), frame_len};
    }
    if (n == 0) {
      set_want_out(c, false);
      return;
    }
    ssize_t w = writev(c->fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        set_want_out(c, true);
        return;
      }
      conn_fail(c, "write: %s", strerror(errno));
      return;
    }
    size_t left = (size_t)w;
    if (partial) {
      size_t rest = frame_len - c->out_off;
      if (left < rest) {
        c->out_off += left;
        set_want_out(c, true);
        return;
      }
      left -= rest;
      c->out_off = 0;
      c->out_frames--;
      c->out_seq++;
    }
    if (ctrl) {
      size_t rest = c->ctrl_len - c->ctrl_off;
      if (left < rest) {
        c->ctrl_off += left;
        set_want_out(c, true);
        return;
      }
      left -= rest;
      c->ctrl_off = c->ctrl_len = 0;
    }
    uint64_t done = left / frame_len;
    c->out_frames -= done;
    c->out_seq += done;
    c->out_off = left % frame_len;
    if (c->out_off > 0) {
      set_want_out(c, true);
      return;
    }
  }
}

/* Queues `count` data frames sent at `now` (the round-trip start, as in the Node client). */
static void send_messages(conn *c, uint32_t count, int64_t now) {
  for (uint32_t i = 0; i < count; i++) {
    c->sent_at[(c->ring_head + c->ring_count) % (uint32_t)opt.inflight] = now;
    c->ring_count++;
  }
  total_inflight += count;
  sent_msgs += count;
  sent_bytes += (uint64_t)opt.size * count;
  c->out_frames += count;
  flush(c);
}

/* Rooms: appends one frame to the sender's byte queue. False (and the sender failed) when the
 * queue is full: the server has stopped reading. */
static bool rooms_queue(conn *c, const uint8_t *frame, size_t len) {
  if (rm_out_off > 0 && rm_out_len + len > ROOMS_OUT_MAX) {
    memmove(rm_out, rm_out + rm_out_off, rm_out_len - rm_out_off);
    rm_out_len -= rm_out_off;
    rm_out_off = 0;
  }
  if (rm_out_len + len > ROOMS_OUT_MAX) {
    conn_fail(c, "over %d B queued unwritten: the server stopped reading", ROOMS_OUT_MAX);
    return false;
  }
  memcpy(rm_out + rm_out_len, frame, len);
  rm_out_len += len;
  return true;
}

/* §5.5.2: a Pong with the Ping's payload, masked like every client frame. */
static void queue_pong(conn *c) {
  size_t need = 6 + c->ctl_have;
  if (opt.mode == MODE_ROOMS && c == &conns[0]) {
    uint8_t pong[6 + CONTROL_MAX];
    pong[0] = 0x80 | OP_PONG;
    pong[1] = 0x80 | (uint8_t)c->ctl_have;
    memcpy(pong + 2, MASK_KEY, 4);
    for (uint32_t i = 0; i < c->ctl_have; i++) pong[6 + i] = c->ctl[i] ^ MASK_KEY[i & 3];
    if (rooms_queue(c, pong, need)) flush(c);
    return;
  }
  if (c->ctrl_off == c->ctrl_len) c->ctrl_off = c->ctrl_len = 0;
  if (c->ctrl_len + need > CTRL_OUT_MAX) {
    conn_fail(c, "too many pings left unanswered");
    return;
  }
  uint8_t *p = c->ctrl + c->ctrl_len;
  p[0] = 0x80 | OP_PONG;
  p[1] = 0x80 | (uint8_t)c->ctl_have;
  memcpy(p + 2, MASK_KEY, 4);
  for (uint32_t i = 0; i < c->ctl_have; i++) p[6 + i] = c->ctl[i] ^ MASK_KEY[i & 3];
  c->ctrl_len += need;
  flush(c);
}

/* ---------------------------------------------------------------- fan-out rounds */

/* Rounds are numbered from 1; rounds fo_oldest..fo_round are in flight (total_inflight of them).
 * Per slot (round mod --inflight): its send time and the receivers that have not got it yet. */
static uint64_t fo_round, fo_oldest = 1, fo_rounds_done;
static int64_t *fo_sent_at;
static uint32_t *fo_waiting;
static uint32_t fo_receivers;

static void finish_run(int64_t now);

/* Round fo_round + 1 goes out: its send time and number, masked, into its frame's first bytes. */
static void fanout_send(int64_t now) {
  uint64_t round = ++fo_round;
  uint32_t slot = (uint32_t)(round % frame_slots);
  fo_sent_at[slot] = now;
  fo_waiting[slot] = fo_receivers;
  uint8_t plain[FANOUT_PREFIX];
  for (int i = 0; i < 8; i++) plain[i] = (uint8_t)((uint64_t)now >> (8 * i));
  for (int i = 0; i < 4; i++) plain[8 + i] = (uint8_t)(round >> (8 * i));
  uint8_t *payload = frame_at(round) + payload_at;
  for (int i = 0; i < FANOUT_PREFIX; i++) payload[i] = plain[i] ^ MASK_KEY[i & 3];
  total_inflight++;
  sent_msgs++;
  sent_bytes += (uint64_t)opt.size;
  conn *sender = &conns[0];
  sender->out_frames++;
  flush(sender);
}

/* Completes the oldest rounds every receiver has got, sending the next ones while the run lasts. */
static void fanout_advance(int64_t now) {
  while (total_inflight > 0 && fo_waiting[fo_oldest % frame_slots] == 0) {
    fo_oldest++;
    fo_rounds_done++;
    total_inflight--;
    if (phase == PH_WARMUP || phase == PH_MEASURE) fanout_send(now);
  }
  if (phase == PH_DRAIN && total_inflight == 0) finish_run(now);
}

static uint64_t read_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* A complete data message on c, in fan-out mode: it must be the receiver's next round, as sent. */
static void on_delivery(conn *c, int64_t now) {
  echoed_msgs++;
  echoed_bytes += c->msg_len;
  if (c == &conns[0]) fanout_broken("the sender got a message (opcode %u, %" PRIu64 " B): the server sent it back to its sender", c->msg_op, c->msg_len);
  if (c->msg_op != OP_BINARY || c->msg_len != (uint64_t)opt.size) {
    fanout_broken("%s got opcode %u, %" PRIu64 " B; the sender sent binary %ld B", conn_name(c), c->msg_op, c->msg_len, opt.size);
  }
  uint64_t round = read_le(c->prefix + 8, 4);
  if (round != (c->next_round & 0xffffffffu) || c->next_round > fo_round) {
    fanout_broken("%s got round %" PRIu64 ", expected round %" PRIu64 " (rounds %" PRIu64 "..%" PRIu64 " sent and not yet complete)",
                  conn_name(c), round, c->next_round, fo_oldest, fo_round);
  }
  uint32_t slot = (uint32_t)(c->next_round % frame_slots);
  int64_t sent = (int64_t)read_le(c->prefix, 8);
  if (sent != fo_sent_at[slot]) fanout_broken("%s: round %" PRIu64 " carries another send time than the one sent", conn_name(c), c->next_round);
  if (c->msg_bad) {
    mismatches++;
    fanout_broken("%s: round %" PRIu64 " payload differs from what was sent after byte %d", conn_name(c), c->next_round, FANOUT_PREFIX);
  }
  c->next_round++;
  if (phase == PH_MEASURE) {
    completed++;
    hist_record(now - sent);
  } else if (phase == PH_WARMUP) {
    warm_completed++;
  }
  if (--fo_waiting[slot] == 0) fanout_advance(now);
}

/* A round in flight longer than --round-timeout: name the first receiver still waiting for it. */
static void check_rounds(int64_t now) {
  if (total_inflight == 0) return;
  uint32_t slot = (uint32_t)(fo_oldest % frame_slots);
  if (now - fo_sent_at[slot] <= (int64_t)(opt.round_timeout * 1e9)) return;
  long first = 0;
  for (long i = 1; i < opt.connections && first == 0; i++) {
    if (conns[i].next_round <= fo_oldest) first = i;
  }
  fanout_broken("round %" PRIu64 ": %" PRIu32 " of %" PRIu32 " receivers still missing it after %.1f s (receiver %ld among them)",
                fo_oldest, fo_waiting[slot], fo_receivers, opt.round_timeout, first);
}

/* ---------------------------------------------------------------- rooms */

/* Seqs are numbered from 1 and go on across runs; those up to rm_base were sent before this run
 * (before its measured window, after a warm-up). A measured window expects every receiver
 * (fo_receivers of them) to get every seq it sent. */
static uint64_t rm_seq, rm_base;
static int64_t *rm_sent_at;   /* by seq mod ROOMS_RING */
static double rm_carry;       /* danmaku the rate owes, not sent yet (< 1 after a turn) */
static int64_t rm_last_tick;
static uint64_t rm_sent, rm_stale, rm_expected;
static const char TEXT_MARK[] = "\"text\":\"n:";

/* The next danmaku, {"type":"danmaku","text":"n:<seq>"}, masked, onto the sender's queue. */
static void rooms_send(int64_t now) {
  conn *sender = &conns[0];
  if (sender->state != ST_OPEN) return; /* lost: conn_fail counted it, the missing deliveries will be */
  char plain[64];
  uint64_t seq = rm_seq + 1;
  int len = snprintf(plain, sizeof plain, "{\"type\":\"danmaku\",\"text\":\"n:%" PRIu64 "\"}", seq);
  uint8_t frame[6 + sizeof plain];
  frame[0] = 0x80 | OP_TEXT;
  frame[1] = 0x80 | (uint8_t)len; /* < 126: one-byte length (§5.2) */
  memcpy(frame + 2, MASK_KEY, 4);
  for (int i = 0; i < len; i++) frame[6 + i] = (uint8_t)plain[i] ^ MASK_KEY[i & 3];
  if (!rooms_queue(sender, frame, 6 + (size_t)len)) return;
  rm_seq = seq;
  rm_sent_at[seq % ROOMS_RING] = now;
  sent_msgs++;
  sent_bytes += (uint64_t)len;
  if (phase == PH_MEASURE) {
    rm_sent++;
    rm_expected += fo_receivers;
  }
}

/* A tick: sends what the rate owes since the last one (so a late wake-up does not change the rate). */
static void rooms_send_owed(int64_t now) {
  if ((double)(now - rm_last_tick) < opt.tick_ms * 1e6) return;
  rm_carry += (double)(now - rm_last_tick) * opt.rate / 1e9;
  rm_last_tick = now;
  if (rm_carry < 1) return;
  while (rm_carry >= 1) {
    rm_carry -= 1;
    rooms_send(now);
  }
  if (conns[0].state == ST_OPEN) flush(&conns[0]);
}

/* The next tick that will owe a danmaku. */
static int64_t rooms_next_due(void) {
  double wait = (1 - rm_carry) * 1e9 / opt.rate, tick = opt.tick_ms * 1e6;
  if (tick > 0) wait = tick * (double)(int64_t)((wait + tick - 1) / tick); /* whole ticks */
  return rm_last_tick + (int64_t)wait + 1;
}

/* The seq of a danmaku in c's captured prefix: "text":"n:<digits>" within its first ROOMS_PREFIX bytes. */
static bool rooms_seq(const conn *c, uint64_t *seq) {
  size_t have = c->msg_len < ROOMS_PREFIX ? (size_t)c->msg_len : ROOMS_PREFIX;
  const uint8_t *at = memmem(c->prefix, have, TEXT_MARK, sizeof TEXT_MARK - 1);
  if (at == NULL) return false;
  const uint8_t *digits = at + sizeof TEXT_MARK - 1, *end = c->prefix + have, *p = digits;
  uint64_t n = 0;
  for (; p < end && p - digits < 19 && *p >= '0' && *p <= '9'; p++) n = n * 10 + (uint64_t)(*p - '0');
  if (p == digits) return false;
  *seq = n;
  return true;
}

/* A complete data message on c, in rooms mode: a delivery when it is a receiver's danmaku. */
static void on_room_message(conn *c, int64_t now) {
  echoed_msgs++;
  echoed_bytes += c->msg_len;
  uint64_t n;
  /* The sender's own copy is the server's confirmation; ready, join, leave, presence carry no seq. */
  if (c == &conns[0] || c->msg_op != OP_TEXT || !rooms_seq(c, &n)) return;
  /* Between runs and while connecting (a room's history replayed on join), nothing counts. */
  if (phase != PH_WARMUP && phase != PH_MEASURE && phase != PH_DRAIN) return;
  if (n <= rm_base) {
    if (phase != PH_WARMUP) rm_stale++; /* sent before the window: the server was behind */
    return;
  }
  if (n > rm_seq || rm_seq - n >= ROOMS_RING) {
    note_error(1, "%s got danmaku %" PRIu64 "; sent up to %" PRIu64, conn_name(c), n, rm_seq);
    return;
  }
  if (n <= c->last_seq) {
    note_error(1, "%s got danmaku %" PRIu64 " again or out of order (after %" PRIu64 ")", conn_name(c), n, c->last_seq);
    return;
  }
  c->last_seq = n;
  if (phase == PH_WARMUP) {
    warm_completed++;
    return;
  }
  completed++;
  hist_record(now - rm_sent_at[n % ROOMS_RING]);
  if (phase == PH_DRAIN && completed >= rm_expected) finish_run(now);
}

/* The drain limit passed: the deliveries still missing are errors. */
static void rooms_give_up(int64_t now) {
  uint64_t missing = rm_expected > completed ? rm_expected - completed : 0;
  note_error(missing, "%" PRIu64 " deliveries missing %.1f s after the window", missing, opt.drain_timeout);
  finish_run(now);
}

/* ---------------------------------------------------------------- run phases */

static void start_measure(int64_t now) {
  phase = PH_MEASURE;
  measure_start = now;
  measure_end = now + (int64_t)(next_duration * 1e9);
  cpu_now(&cpu_user_before, &cpu_sys_before);
  memset(hist, 0, sizeof hist);
  hist_total = 0;
  rm_base = rm_seq; /* rooms: warm-up danmaku arriving from here on are stale */
}

/* Starts a run: K messages on every open connection, warm-up first if asked. */
static void begin_run(double warmup, double duration, int64_t now) {
  next_warmup = warmup;
  next_duration = duration;
  run_number++;
  warm_start = now;
  if (warmup > 0) {
    phase = PH_WARMUP;
    warm_end = now + (int64_t)(warmup * 1e9);
  } else {
    warm_end = now;
    start_measure(now);
  }
  if (opt.mode == MODE_FANOUT) {
    for (long i = 0; i < opt.inflight; i++) fanout_send(now);
    return;
  }
  if (opt.mode == MODE_ROOMS) {
    rm_base = rm_seq;
    rm_carry = 0;
    rm_last_tick = now; /* the first danmaku goes 1/rate from now */
    return;
  }
  for (long i = 0; i < opt.connections; i++) {
    if (conns[i].state == ST_OPEN) send_messages(&conns[i], (uint32_t)opt.inflight, now);
  }
}

static void json_string(const char *s) {
  putchar('"');
  for (; *s != '\0'; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') printf("\\%c", ch);
    else if (ch < 0x20) printf("\\u%04x", ch);
    else putchar(ch);
  }
  putchar('"');
}

static void json_ms(const char *key, double ms) {
  if (ms < 0) printf(",\"%s\":null", key);
  else printf(",\"%s\":%.4f", key, ms);
}

static long open_connections(void) {
  long n = 0;
  for (long i = 0; i < opt.connections; i++) n += conns[i].state == ST_OPEN;
  return n;
}

/* The run is over (everything drained or given up): one JSON line, counters reset. */
static void finish_run(int64_t now) {
  int64_t user, sys;
  cpu_now(&user, &sys);
  int64_t drain_cpu = 0;
  if (opt.mode == MODE_ROOMS) {
    drain_cpu = (user - cpu_user_stop) + (sys - cpu_sys_stop);
    user = cpu_user_stop;
    sys = cpu_sys_stop;
  }
  double elapsed = (double)(measure_stop - measure_start) / 1e9;
  const char *mode = opt.mode == MODE_FANOUT ? "fanout" : opt.mode == MODE_ROOMS ? "rooms" : "echo";
  printf("{\"tool\":\"c-ws\",\"mode\":\"%s\",\"run\":%d", mode, run_number);
  printf(",\"ops\":%" PRIu64 ",\"elapsedSec\":%.6f", completed, elapsed);
  json_ms("p50Ms", hist_quantile_ms(0.5));
  json_ms("p99Ms", hist_quantile_ms(0.99));
  printf(",\"errors\":%" PRIu64 ",\"firstError\":", errors);
  if (first_error[0] == '\0') printf("null");
  else json_string(first_error);
  printf(",\"cpuMicros\":%" PRId64 ",\"cpuUserMicros\":%" PRId64 ",\"cpuSysMicros\":%" PRId64,
         (user - cpu_user_before) + (sys - cpu_sys_before), user - cpu_user_before, sys - cpu_sys_before);
  printf(",\"connections\":%ld,\"connectionsOpened\":%ld,\"connectFailures\":%ld,\"connectSec\":%.4f",
         open_connections(), opened_conns, connect_failures, connect_sec);
  printf(",\"connectionsLost\":%" PRIu64, closed_conns);
  printf(",\"warmupSec\":%.6f,\"warmupOps\":%" PRIu64, (double)(warm_end - warm_start) / 1e9, warm_completed);
  printf(",\"runSec\":%.6f", (double)(now - warm_start) / 1e9);
  /* rooms: payloads are not compared (only the seq is read) */
  printf(",\"messageBytes\":%ld,\"inflight\":%ld,\"verified\":%s", opt.size, opt.inflight, opt.verify && opt.mode != MODE_ROOMS ? "true" : "false");
  printf(",\"sentMsgs\":%" PRIu64 ",\"echoedMsgs\":%" PRIu64 ",\"sentBytes\":%" PRIu64 ",\"echoedBytes\":%" PRIu64,
         sent_msgs, echoed_msgs, sent_bytes, echoed_bytes);
  printf(",\"mismatches\":%" PRIu64 ",\"pings\":%" PRIu64, mismatches, pings);
  if (opt.mode == MODE_FANOUT) printf(",\"receivers\":%" PRIu32 ",\"rounds\":%" PRIu64, fo_receivers, fo_rounds_done);
  if (opt.mode == MODE_ROOMS) {
    printf(",\"receivers\":%" PRIu32 ",\"rate\":%g,\"sent\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"lastSeq\":%" PRIu64,
           fo_receivers, opt.rate, rm_sent, rm_expected, rm_stale, rm_seq);
    printf(",\"drainSec\":%.6f,\"drainCpuMicros\":%" PRId64, (double)(now - measure_stop) / 1e9, drain_cpu);
  }
  printf(",\"uring\":%s", opt.uring ? "true" : "false");
  printf(",\"epollWaits\":%" PRIu64 ",\"eventsPerWait\":%.2f}\n", epoll_waits,
         epoll_waits > 0 ? (double)epoll_events / (double)epoll_waits : 0.0);
  fflush(stdout);
  completed = warm_completed = errors = mismatches = pings = closed_conns = 0;
  sent_msgs = echoed_msgs = sent_bytes = echoed_bytes = 0;
  fo_rounds_done = 0;
  rm_sent = rm_expected = rm_stale = 0;
  epoll_waits = epoll_events = 0;
  first_error[0] = '\0';
  connect_failures = 0;
  phase = opt.control && !quit_requested ? PH_IDLE : PH_EXIT;
}

static void end_measure(int64_t now) {
  phase = PH_DRAIN;
  measure_stop = now;
  cpu_now(&cpu_user_stop, &cpu_sys_stop);
  drain_deadline = now + (int64_t)(opt.drain_timeout * 1e9);
  if (opt.mode == MODE_ROOMS ? completed >= rm_expected : total_inflight == 0) finish_run(now);
}

/* Warm-up → measured → drain transitions at time `now`. */
static void advance_clock(int64_t now) {
  if (phase == PH_WARMUP && now >= warm_end) start_measure(now);
  if (phase == PH_MEASURE && now >= measure_end) end_measure(now);
}

/* ---------------------------------------------------------------- frame parser */

/* A complete data message (FIN) arrived on c. */
static void on_message(conn *c, int64_t now) {
  echoed_msgs++;
  echoed_bytes += c->msg_len;
  if (c->ring_count == 0) {
    note_error(1, "unsolicited message: opcode %u, %" PRIu64 " B", c->msg_op, c->msg_len);
    return;
  }
  int64_t sent = c->sent_at[c->ring_head];
  c->ring_head = (c->ring_head + 1) % (uint32_t)opt.inflight;
  c->ring_count--;
  total_inflight--;
  if (c->msg_op != OP_BINARY || c->msg_len != (uint64_t)opt.size) {
    note_error(1, "echo was opcode %u, %" PRIu64 " B; sent binary %ld B", c->msg_op, c->msg_len, opt.size);
  } else if (c->msg_bad) {
    mismatches++;
    note_error(1, "echo payload differs from what was sent (%ld B)", opt.size);
  } else if (phase == PH_MEASURE) {
    completed++;
    hist_record(now - sent);
  } else if (phase == PH_WARMUP) {
    warm_completed++;
  }
  if (phase == PH_WARMUP || phase == PH_MEASURE) send_messages(c, 1, now);
  else if (phase == PH_DRAIN && total_inflight == 0) finish_run(now);
}

static void on_control(conn *c) {
  if (c->frame_op == OP_PING) {
    pings++;
    queue_pong(c);
  } else if (c->frame_op == OP_CLOSE) {
    unsigned code = c->ctl_have >= 2 ? (unsigned)c->ctl[0] << 8 | c->ctl[1] : 1005;
    int len = c->ctl_have > 2 ? (int)c->ctl_have - 2 : 0;
    conn_fail(c, "server sent Close %u %.*s", code, len, (const char *)c->ctl + 2);
  }
  /* §5.5.3: an unsolicited Pong needs no answer. */
}

static void end_frame(conn *c, int64_t now) {
  c->in_payload = false;
  c->head_have = 0;
  c->head_need = 2;
  if (c->frame_op >= OP_CLOSE) {
    on_control(c);
    return;
  }
  c->msg_len += c->frame_len;
  if (c->frame_fin) {
    c->in_message = false;
    if (opt.mode == MODE_FANOUT) on_delivery(c, now);
    else if (opt.mode == MODE_ROOMS) on_room_message(c, now);
    else on_message(c, now);
  }
}

/* A complete header is in c->head: decode it. False when the connection failed. */
static bool start_frame(conn *c, int64_t now) {
  uint8_t b0 = c->head[0], b1 = c->head[1];
  if (b1 & 0x80) {
    conn_fail(c, "masked frame from the server (RFC 6455 §5.1)");
    return false;
  }
  uint64_t len = b1 & 0x7f;
  if (len == 126) len = (uint64_t)c->head[2] << 8 | c->head[3];
  else if (len == 127) {
    len = 0;
    for (int i = 2; i < 10; i++) len = len << 8 | c->head[i];
  }
  uint8_t op = b0 & 0x0f;
  bool fin = (b0 & 0x80) != 0;
  if (op >= OP_CLOSE) {
    if (op > OP_PONG || !fin || len > CONTROL_MAX) {
      conn_fail(c, "bad control frame: opcode %u, %" PRIu64 " B, fin %d", op, len, fin);
      return false;
    }
    c->ctl_have = 0;
  } else if (op == OP_CONT) {
    if (!c->in_message) {
      conn_fail(c, "continuation frame without a message");
      return false;
    }
  } else if (op == OP_TEXT || op == OP_BINARY) {
    if (c->in_message) {
      conn_fail(c, "new message before the previous one's FIN");
      return false;
    }
    c->in_message = true;
    c->msg_op = op;
    c->msg_len = 0;
    c->msg_bad = false;
  } else {
    conn_fail(c, "reserved opcode %u from the server", op);
    return false;
  }
  c->frame_op = op;
  c->frame_fin = fin;
  c->frame_len = c->payload_left = len;
  c->in_payload = true;
  if (len == 0) end_frame(c, now);
  return true;
}

/* Walks frames in buf[0, n): headers gathered across reads, payload compared in place. */
static void parse(conn *c, const uint8_t *buf, size_t n, int64_t now) {
  size_t pos = 0;
  while (pos < n && c->state == ST_OPEN) {
    if (!c->in_payload) {
      while (pos < n && c->head_have < c->head_need) {
        c->head[c->head_have++] = buf[pos++];
        if (c->head_have == 2) {
          uint8_t len7 = c->head[1] & 0x7f;
          c->head_need = 2u + (len7 == 126 ? 2u : len7 == 127 ? 8u : 0u) + (c->head[1] & 0x80 ? 4u : 0u);
        }
      }
      if (c->head_have < c->head_need) return;
      if (!start_frame(c, now)) return;
      continue;
    }
    size_t take = n - pos;
    if ((uint64_t)take > c->payload_left) take = (size_t)c->payload_left;
    if (c->frame_op >= OP_CLOSE) {
      memcpy(c->ctl + c->ctl_have, buf + pos, take);
      c->ctl_have += (uint32_t)take;
    } else {
      uint64_t off = c->msg_len + (c->frame_len - c->payload_left);
      uint64_t skip = 0; /* leading bytes not compared: the fan-out prefix */
      if (opt.mode == MODE_FANOUT) {
        skip = FANOUT_PREFIX;
        if (off < FANOUT_PREFIX) memcpy(c->prefix + off, buf + pos, take < FANOUT_PREFIX - off ? take : (size_t)(FANOUT_PREFIX - off));
      } else if (opt.mode == MODE_ROOMS && off < ROOMS_PREFIX) {
        /* Only the prefix is read (the seq); a message may come in several frames and reads. */
        memcpy(c->prefix + off, buf + pos, take < ROOMS_PREFIX - off ? take : (size_t)(ROOMS_PREFIX - off));
      }
      uint64_t size = (uint64_t)opt.size;
      if (!opt.verify || opt.mode == MODE_ROOMS || c->msg_bad || off + take <= skip) {
        /* nothing to compare */
      } else if (off + take > size) {
        c->msg_bad = true; /* longer than sent: the length check reports it */
      } else {
        uint64_t from = off < skip ? skip : off;
        if (memcmp(buf + pos + (from - off), expected + from, (size_t)(off + take - from)) != 0) c->msg_bad = true;
      }
    }
    pos += take;
    c->payload_left -= take;
    if (c->payload_left == 0) end_frame(c, now);
  }
}

/* ---------------------------------------------------------------- handshake */

static bool header_value_is(const char *head, const char *name, const char *value) {
  size_t name_len = strlen(name);
  for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
    const char *p = line + 2;
    if (strncasecmp(p, name, name_len) != 0 || p[name_len] != ':') continue;
    p += name_len + 1;
    while (*p == ' ' || *p == '\t') p++;
    size_t len = strcspn(p, "\r");
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    return len == strlen(value) && memcmp(p, value, len) == 0;
  }
  return false;
}

/* Only the response head must fit in HANDSHAKE_MAX: frames the server sends right after the 101
 * (a room's ready message with its member list) may come in the same read, and are parsed from
 * where they are. */
static void on_handshake_data(conn *c, const uint8_t *buf, size_t n, int64_t now) {
  size_t take = HANDSHAKE_MAX - c->hs_len < n ? HANDSHAKE_MAX - c->hs_len : n;
  memcpy(c->hs + c->hs_len, buf, take);
  c->hs_len += take;
  c->hs[c->hs_len] = '\0';
  char *end = strstr(c->hs, "\r\n\r\n");
  if (end == NULL) {
    if (c->hs_len == HANDSHAKE_MAX) conn_fail(c, "upgrade response head over %d B", HANDSHAKE_MAX);
    else if (memchr(c->hs, '\0', c->hs_len) != NULL) conn_fail(c, "NUL byte in the upgrade response");
    return;
  }
  end[2] = '\0'; /* keep the last header's CRLF for the line scan */
  size_t body = (size_t)(end + 4 - c->hs);
  if (strncmp(c->hs, "HTTP/1.1 101", 12) != 0) {
    conn_fail(c, "upgrade refused: %.*s", (int)strcspn(c->hs, "\r"), c->hs);
    return;
  }
  if (!header_value_is(c->hs, "Sec-WebSocket-Accept", WS_ACCEPT)) {
    conn_fail(c, "bad or missing Sec-WebSocket-Accept");
    return;
  }
  c->state = ST_OPEN;
  opened_conns++;
  if (opt.mode == MODE_IDLE) hist_record(now - c->started);
  size_t rest = c->hs_len - body;
  uint8_t extra[HANDSHAKE_MAX];
  memcpy(extra, c->hs + body, rest);
  hs_give(c->hs);
  c->hs = NULL;
  connect_settled();
  if (rest > 0 && c->state == ST_OPEN) parse(c, extra, rest, now);
  if (take < n && c->state == ST_OPEN) parse(c, buf + take, n - take, now);
}

static void write_request(conn *c) {
  while (c->req_off < upgrade_len) {
    ssize_t w = write(c->fd, upgrade_req + c->req_off, upgrade_len - c->req_off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        set_want_out(c, true);
        return;
      }
      conn_fail(c, "write upgrade: %s", strerror(errno));
      return;
    }
    c->req_off += (size_t)w;
  }
  set_want_out(c, false);
}

/* The non-blocking connect finished: writable alone means established; only an error or hang-up
 * needs SO_ERROR's reason. */
static void on_connected(conn *c, uint32_t events) {
  int err = 0;
  socklen_t len = sizeof err;
  if ((events & (EPOLLERR | EPOLLHUP)) && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err != 0) {
    conn_fail(c, "connect: %s", strerror(err));
    return;
  }
  c->state = ST_HANDSHAKE;
  c->hs = hs_take();
  c->hs_len = 0;
  write_request(c);
}

static void start_next_connection(int64_t now) {
  conn *c = &conns[started_conns++];
  c->started = now;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  c->state = ST_CONNECTING; /* from here on, conn_fail counts it as a failed connection */
  if (c->fd < 0) {
    conn_fail(c, "socket: %s", strerror(errno));
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source.sin_family == AF_INET) {
    /* The port is still chosen by connect(), for the whole 4-tuple (no bind-time port search). */
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(c->fd, (struct sockaddr *)&source, sizeof source) < 0) {
      conn_fail(c, "bind %s: %s", inet_ntoa(source.sin_addr), strerror(errno));
      return;
    }
  }
  if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
    conn_fail(c, "connect: %s", strerror(errno));
    return;
  }
  /* On loopback the TCP handshake has usually completed inside connect(): the upgrade goes out
   * now, and EPOLLOUT is only waited for when it could not (EAGAIN: still connecting). */
  ssize_t w = write(c->fd, upgrade_req, upgrade_len);
  if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    conn_fail(c, "connect: %s", strerror(errno));
    return;
  }
  if (w > 0) {
    c->state = ST_HANDSHAKE;
    c->hs = hs_take();
    c->hs_len = 0;
    c->req_off = (size_t)w;
  }
  c->want_out = c->state == ST_CONNECTING || c->req_off < upgrade_len;
  struct epoll_event ev = {.events = edge | EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl ADD: %s", strerror(errno));
}

/* One connection left the pending set (opened or failed). */
static void connect_settled(void) {
  settled_conns++;
}

/* Connect phase, from the main loop: keep CONNECT_CONCURRENCY upgrades in flight (a sliding
 * window, so a burst never overflows the server's backlog); when all have settled, begin the
 * first run. Not called from conn_fail, so a dead server cannot recurse N deep. */
static void pump_connections(int64_t now) {
  while (phase == PH_CONNECT && started_conns < connect_goal && started_conns - settled_conns < CONNECT_CONCURRENCY) {
    start_next_connection(now);
  }
  if (phase != PH_CONNECT || settled_conns < connect_goal) return;
  connect_sec = (double)(now - connect_begin) / 1e9;
  if (opt.mode == MODE_IDLE) {
    finish_idle_open();
    return;
  }
  progress("opened %ld of %ld WebSocket(s) on %s in %.2f s", opened_conns, opt.connections, opt.path, connect_sec);
  if ((opt.mode == MODE_FANOUT || opt.mode == MODE_ROOMS) && opened_conns < opt.connections) {
    fanout_broken("%ld of %ld upgrades failed; first: %s", opt.connections - opened_conns, opt.connections, first_error);
  }
  if (opened_conns == 0) {
    /* Nothing to measure: report the failures and exit. */
    run_number++;
    cpu_now(&cpu_user_before, &cpu_sys_before);
    warm_start = warm_end = measure_start = measure_stop = now;
    quit_requested = true;
    finish_run(now);
    return;
  }
  begin_run(opt.warmup, opt.duration, now);
}

/* ---------------------------------------------------------------- events */

static void on_readable(conn *c) {
  for (;;) {
    ssize_t r = read(c->fd, read_buf, sizeof read_buf);
    int64_t now = now_ns();
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      conn_fail(c, "read: %s", strerror(errno));
      return;
    }
    if (r == 0) {
      conn_fail(c, "connection closed by the server");
      return;
    }
    advance_clock(now);
    if (c->state == ST_HANDSHAKE) on_handshake_data(c, read_buf, (size_t)r, now);
    else if (c->state == ST_OPEN) parse(c, read_buf, (size_t)r, now);
    /* Edge-triggered: a short read took all that was queued; after a full one there may be more.
     * Level-triggered (echo): one read per event, epoll reports the socket again. */
    if (edge == 0 || (size_t)r < sizeof read_buf || c->state == ST_CLOSED) return;
  }
}

static void on_event(conn *c, uint32_t events) {
  if (c->state == ST_CLOSED) return;
  if (c->state == ST_CONNECTING) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c, events);
    return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
  if (c->state == ST_CLOSED) return;
  if (events & EPOLLOUT) {
    if (c->state == ST_HANDSHAKE) write_request(c);
    else if (c->state == ST_OPEN) flush(c);
  }
}

/* ---------------------------------------------------------------- batched reads (io_uring) */

/* The reads of one epoll_wait's ready connections go to the kernel in one io_uring submission
 * (one system call instead of one read per socket, the client's main cost: on loopback its reads
 * are most of its CPU). Each read carries MSG_DONTWAIT, so it completes inside the submission with
 * what read(2) would have returned. Without io_uring (Linux before 6.1, seccomp) or with
 * --no-uring, one read(2) per socket as before. */
#define RING_ENTRIES MAX_EVENTS
/* As large as read(2)'s buffer: a 1 MiB echo then comes in a few reads, not 64 (each one a
 * readiness report and a receive of its own). Only the pages a read fills are ever touched. */
#define RING_WINDOW READ_BUFFER_BYTES
static struct {
  int fd;
  unsigned *sq_tail, sq_mask, *sq_array, *cq_head, *cq_tail, cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
} ring = {.fd = -1};
static uint8_t *ring_buf;              /* RING_ENTRIES windows of RING_WINDOW bytes */
static conn *ring_conns[RING_ENTRIES];
static uint32_t ring_events[RING_ENTRIES];
static int32_t ring_res[RING_ENTRIES];

static bool ring_open(void) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = (1U << 12) | (1U << 13); /* IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN: Linux 6.1+ */
  int fd = (int)syscall(__NR_io_uring_setup, RING_ENTRIES, &p);
  if (fd < 0) return false;
  size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (cq_size > sq_size) sq_size = cq_size;
  if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
    close(fd);
    return false;
  }
  char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  void *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  ring_buf = malloc((size_t)RING_ENTRIES * RING_WINDOW);
  if (sq == MAP_FAILED || sqes == MAP_FAILED || ring_buf == NULL) {
    close(fd);
    return false;
  }
  ring.fd = fd;
  ring.sq_tail = (unsigned *)(sq + p.sq_off.tail);
  ring.sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
  ring.sq_array = (unsigned *)(sq + p.sq_off.array);
  ring.cq_head = (unsigned *)(sq + p.cq_off.head);
  ring.cq_tail = (unsigned *)(sq + p.cq_off.tail);
  ring.cq_mask = *(unsigned *)(sq + p.cq_off.ring_mask);
  ring.cqes = (struct io_uring_cqe *)(sq + p.cq_off.cqes);
  ring.sqes = sqes;
  return true;
}

/* One read of at most RING_WINDOW bytes per connection in conns[0, n), all in one submission;
 * results in ring_res (bytes, 0 at EOF, or a negative errno). */
static void ring_read(int n) {
  unsigned tail = *ring.sq_tail;
  for (int k = 0; k < n; k++) {
    unsigned index = (tail + (unsigned)k) & ring.sq_mask;
    struct io_uring_sqe *sqe = &ring.sqes[index];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = ring_conns[k]->fd;
    sqe->addr = (uint64_t)(uintptr_t)(ring_buf + (size_t)k * RING_WINDOW);
    sqe->len = RING_WINDOW;
    sqe->msg_flags = MSG_DONTWAIT;
    sqe->user_data = (uint64_t)k;
    ring.sq_array[index] = index;
  }
  __atomic_store_n(ring.sq_tail, tail + (unsigned)n, __ATOMIC_RELEASE);
  int submitted = 0, completed = 0;
  while (completed < n) {
    long r = syscall(__NR_io_uring_enter, ring.fd, (unsigned)(n - submitted), (unsigned)(n - completed), IORING_ENTER_GETEVENTS, NULL, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("io_uring_enter: %s", strerror(errno));
    }
    submitted += (int)r;
    unsigned head = *ring.cq_head;
    unsigned ctail = __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE);
    for (; head != ctail; head++, completed++) {
      struct io_uring_cqe *cqe = &ring.cqes[head & ring.cq_mask];
      ring_res[cqe->user_data] = cqe->res;
    }
    __atomic_store_n(ring.cq_head, head, __ATOMIC_RELEASE);
  }
}

/* One epoll_wait's events with the open connections' first reads batched: the other events
 * (connects, handshakes, stdin) as before, then the batch, then writes. */
static void on_stdin(void);

static void on_events_batched(struct epoll_event *events, int n) {
  int m = 0;
  for (int i = 0; i < n; i++) {
    if (events[i].data.ptr == &stdin_tag) {
      on_stdin();
      continue;
    }
    conn *c = events[i].data.ptr;
    if (c->state == ST_OPEN && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
      ring_events[m] = events[i].events;
      ring_conns[m++] = c;
    } else {
      on_event(c, events[i].events);
    }
  }
  if (m > 0) ring_read(m);
  for (int k = 0; k < m; k++) {
    conn *c = ring_conns[k];
    if (c->state != ST_OPEN) continue;
    int32_t r = ring_res[k];
    if (r > 0) {
      int64_t now = now_ns();
      advance_clock(now);
      parse(c, ring_buf + (size_t)k * RING_WINDOW, (size_t)r, now);
      /* Edge-triggered: a full window may have left more behind. */
      if (edge != 0 && r == RING_WINDOW && c->state == ST_OPEN) on_readable(c);
    } else if (r == 0) {
      conn_fail(c, "connection closed by the server");
    } else if (r != -EAGAIN && r != -EWOULDBLOCK && r != -EINTR) {
      conn_fail(c, "read: %s", strerror(-r));
    }
    if (c->state == ST_OPEN && (ring_events[k] & EPOLLOUT)) flush(c);
  }
}

/* ---------------------------------------------------------------- idle mode */

/* A connection slot as it is before its first use. */
static void conn_reset(conn *c) {
  hs_give(c->hs);
  int64_t *ring = c->sent_at;
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->state = ST_IDLE;
  c->head_need = 2;
  c->sent_at = ring;
  c->out_seq = 1;    /* fan-out: the sender's first frame is round 1's */
  c->next_round = 1; /* fan-out: a receiver's first delivery is round 1 */
}

/* "open <n>": n more connections (up to --connections held), through the connect phase. */
static void idle_open(long n, int64_t now) {
  /* On loopback every "open" connects from a source address of its own (127.1.0.1, 127.1.0.2, …):
   * the sockets an earlier pass closed sit in TIME_WAIT on most of the ephemeral ports of the last
   * address, and connect() would spend the pass searching for a free one (a loopback TIME_WAIT is
   * reused only once it is a second old). */
  if ((ntohl(target.sin_addr.s_addr) >> 24) == 127) {
    source.sin_family = AF_INET;
    source.sin_port = 0;
    source.sin_addr.s_addr = htonl(0x7F010000u + 1u + open_passes++ % 0xFFFEu);
  }
  connect_goal = started_conns + n > opt.connections ? opt.connections : started_conns + n;
  idle_opened_before = opened_conns;
  connect_failures = 0;
  errors = 0;
  first_error[0] = '\0';
  memset(hist, 0, sizeof hist);
  hist_total = 0;
  cpu_now(&cpu_user_before, &cpu_sys_before);
  connect_begin = now;
  phase = PH_CONNECT;
}

/* The connect phase of an "open" is over: its JSON line, then back to reading commands. */
static void finish_idle_open(void) {
  int64_t user, sys;
  cpu_now(&user, &sys);
  printf("{\"tool\":\"c-ws\",\"mode\":\"idle\",\"opened\":%ld,\"failed\":%ld,\"firstFailure\":", opened_conns - idle_opened_before,
         connect_failures);
  if (first_error[0] == '\0') printf("null");
  else json_string(first_error);
  printf(",\"elapsedSec\":%.6f", connect_sec);
  json_ms("p50Ms", hist_quantile_ms(0.5));
  json_ms("p99Ms", hist_quantile_ms(0.99));
  printf(",\"cpuMicros\":%" PRId64 ",\"held\":%ld}\n", (user - cpu_user_before) + (sys - cpu_sys_before), open_connections());
  fflush(stdout);
  phase = PH_IDLE; /* commands already read still run; at EOF run_commands ends after the last */
}

/* "close": closes every held connection; prints how many the server had left open. */
static void idle_close(void) {
  long still_open = 0;
  for (long i = 0; i < started_conns; i++) {
    conn *c = &conns[i];
    if (c->state == ST_OPEN) still_open++;
    if (c->fd >= 0) close(c->fd); /* also leaves the epoll set */
    conn_reset(c);
  }
  started_conns = settled_conns = opened_conns = 0;
  closed_conns = 0;
  printf("{\"tool\":\"c-ws\",\"mode\":\"idle\",\"stillOpen\":%ld}\n", still_open);
  fflush(stdout);
}

/* --control: "run <seconds>" starts a run (no warm-up: the previous run warmed up), "quit" ends;
 * idle mode: "open <n>", "close", "quit". */
static char cmd_buf[256];
static size_t cmd_len;

static void run_commands(void) {
  while (phase == PH_IDLE) {
    char *nl = memchr(cmd_buf, '\n', cmd_len);
    if (nl == NULL) {
      if (quit_requested) phase = PH_EXIT;
      return;
    }
    *nl = '\0';
    double seconds = 0;
    long count = 0;
    if (strcmp(cmd_buf, "quit") == 0) phase = PH_EXIT;
    else if (opt.mode == MODE_IDLE && sscanf(cmd_buf, "open %ld", &count) == 1 && count > 0) idle_open(count, now_ns());
    else if (opt.mode == MODE_IDLE && strcmp(cmd_buf, "close") == 0) idle_close();
    else if (opt.mode != MODE_IDLE && sscanf(cmd_buf, "run %lf", &seconds) == 1 && seconds > 0) begin_run(0, seconds, now_ns());
    else if (opt.mode == MODE_IDLE) progress("ignoring command \"%s\" (want \"open <n>\", \"close\" or \"quit\")", cmd_buf);
    else progress("ignoring command \"%s\" (want \"run <seconds>\" or \"quit\")", cmd_buf);
    size_t used = (size_t)(nl + 1 - cmd_buf);
    memmove(cmd_buf, nl + 1, cmd_len - used);
    cmd_len -= used;
  }
}

static void on_stdin(void) {
  if (cmd_len == sizeof cmd_buf) cmd_len = 0; /* an overlong line: drop it */
  ssize_t r = read(STDIN_FILENO, cmd_buf + cmd_len, sizeof cmd_buf - cmd_len);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r <= 0) {
    quit_requested = true;
    epoll_ctl(epfd, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
    if (phase == PH_IDLE) phase = PH_EXIT;
    return;
  }
  cmd_len += (size_t)r;
  run_commands();
}

/* Connect timeouts are checked every CONNECT_CHECK_NS, not every loop turn: the walk over all
 * started slots (a cache miss each) on every turn cost more than the upgrades' own work. */
#define CONNECT_CHECK_NS 100000000
static int64_t next_connect_check;

/* Deadlines: connect timeouts, warm-up/measure ends, the drain limit. */
static void tick(int64_t now) {
  advance_clock(now);
  if (phase == PH_CONNECT) {
    pump_connections(now);
    if (now < next_connect_check) return;
    next_connect_check = now + CONNECT_CHECK_NS;
    int64_t limit = (int64_t)(opt.connect_timeout * 1e9);
    for (long i = 0; i < started_conns && phase == PH_CONNECT; i++) {
      conn *c = &conns[i];
      if ((c->state == ST_CONNECTING || c->state == ST_HANDSHAKE) && now - c->started > limit) {
        conn_fail(c, "no upgrade within %.1f s", opt.connect_timeout);
      }
    }
  } else if (opt.mode == MODE_FANOUT) {
    if (phase == PH_WARMUP || phase == PH_MEASURE || phase == PH_DRAIN) check_rounds(now);
  } else if (opt.mode == MODE_ROOMS) {
    if (phase == PH_WARMUP || phase == PH_MEASURE) rooms_send_owed(now);
    else if (phase == PH_DRAIN && now >= drain_deadline) rooms_give_up(now);
  } else if (phase == PH_DRAIN && now >= drain_deadline) {
    note_error(total_inflight, "%" PRIu64 " echo(es) still missing %.1f s after the window", total_inflight, opt.drain_timeout);
    /* Their late echoes would be taken for the next run's: drop those connections. */
    for (long i = 0; i < opt.connections; i++) {
      conn *c = &conns[i];
      if (c->state == ST_OPEN && c->ring_count > 0) {
        uint64_t saved = errors;
        conn_fail(c, "echo missing after the window");
        errors = saved; /* already counted above */
      }
    }
    finish_run(now);
  }
}

static int timeout_ms(int64_t now) {
  int64_t deadline;
  switch (phase) {
    case PH_CONNECT:
      /* pump_connections (in tick) has work: more to start with room in flight, or all settled.
       * Waiting for an event then could wait out the whole timeout with none in flight. */
      if (settled_conns >= connect_goal || (started_conns < connect_goal && started_conns - settled_conns < CONNECT_CONCURRENCY)) return 0;
      deadline = now + CONNECT_CHECK_NS; /* re-check connect timeouts */
      break;
    case PH_WARMUP: deadline = warm_end; break;
    case PH_MEASURE: deadline = measure_end; break;
    case PH_DRAIN: deadline = opt.mode == MODE_FANOUT ? INT64_MAX : drain_deadline; break;
    default: return -1;
  }
  /* Rooms: wake when the rate owes the next danmaku. */
  if (opt.mode == MODE_ROOMS && (phase == PH_WARMUP || phase == PH_MEASURE) && rooms_next_due() < deadline) deadline = rooms_next_due();
  /* Fan-out: re-check the oldest round's age every 100 ms (check_rounds). */
  if (opt.mode == MODE_FANOUT && deadline > now + 100000000) deadline = now + 100000000;
  if (deadline <= now) return 0;
  return (int)((deadline - now + 999999) / 1000000);
}

/* ---------------------------------------------------------------- main */

static double number_arg(const char *flag, const char *value, double min) {
  char *end;
  errno = 0;
  double v = strtod(value, &end);
  if (errno != 0 || end == value || *end != '\0' || !(v >= min)) die("%s wants a number ≥ %g, got \"%s\"", flag, min, value);
  return v;
}

static void usage(void) {
  fputs("usage: wsload --port P [--host 127.0.0.1] [--path /echo] [--mode echo|fanout|rooms|idle] [--connections 100]\n"
        "              [--inflight 1] [--size 20] [--rate R] [--first-seq 1] [--tick-ms 0] [--warmup 0] [--duration 10] [--control] [--no-verify] [--no-uring]\n"
        "              [--connect-timeout 10] [--drain-timeout 2] [--round-timeout 2]\n"
        "fanout: --connections counts the sender and the receivers; --inflight is the rounds in flight\n"
        "rooms: --connections counts the sender and the receivers; --rate is danmaku per second (required)\n"
        "idle (with --control): --connections is the most held; stdin commands \"open <n>\", \"close\", \"quit\"\n",
        stderr);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--control") == 0) opt.control = true;
    else if (strcmp(a, "--no-verify") == 0) opt.verify = false;
    else if (strcmp(a, "--no-uring") == 0) opt.uring = false;
    else if (strcmp(a, "--help") == 0) {
      usage();
      exit(0);
    } else {
      if (i + 1 >= argc) {
        usage();
        die("%s needs a value", a);
      }
      const char *v = argv[++i];
      if (strcmp(a, "--host") == 0) opt.host = v;
      else if (strcmp(a, "--port") == 0) opt.port = (int)number_arg(a, v, 1);
      else if (strcmp(a, "--path") == 0) opt.path = v;
      else if (strcmp(a, "--mode") == 0) {
        if (strcmp(v, "echo") == 0) opt.mode = MODE_ECHO;
        else if (strcmp(v, "fanout") == 0) opt.mode = MODE_FANOUT;
        else if (strcmp(v, "rooms") == 0) opt.mode = MODE_ROOMS;
        else if (strcmp(v, "idle") == 0) opt.mode = MODE_IDLE;
        else die("--mode is echo, fanout, rooms or idle, got \"%s\"", v);
      }
      else if (strcmp(a, "--connections") == 0) opt.connections = (long)number_arg(a, v, 1);
      else if (strcmp(a, "--inflight") == 0) opt.inflight = (long)number_arg(a, v, 1);
      else if (strcmp(a, "--size") == 0) opt.size = (long)number_arg(a, v, 0);
      else if (strcmp(a, "--warmup") == 0) opt.warmup = number_arg(a, v, 0);
      else if (strcmp(a, "--duration") == 0) opt.duration = number_arg(a, v, 0.001);
      else if (strcmp(a, "--connect-timeout") == 0) opt.connect_timeout = number_arg(a, v, 0.001);
      else if (strcmp(a, "--drain-timeout") == 0) opt.drain_timeout = number_arg(a, v, 0.001);
      else if (strcmp(a, "--round-timeout") == 0) opt.round_timeout = number_arg(a, v, 0.001);
      else if (strcmp(a, "--rate") == 0) opt.rate = number_arg(a, v, 0.001);
      else if (strcmp(a, "--first-seq") == 0) opt.first_seq = (uint64_t)number_arg(a, v, 1);
      else if (strcmp(a, "--tick-ms") == 0) opt.tick_ms = number_arg(a, v, 0);
      else {
        usage();
        die("unknown option %s", a);
      }
    }
  }
  if (opt.port <= 0 || opt.port > 65535) {
    usage();
    die("--port is required (1..65535)");
  }
  if (opt.path[0] != '/' || strpbrk(opt.path, " \r\n") != NULL) die("--path must start with / and hold no spaces or line breaks");
  if (opt.inflight > 65536) die("--inflight is at most 65536");
  if (opt.size > (1L << 30)) die("--size is at most 1 GiB");
  if (opt.mode == MODE_IDLE && !opt.control) die("--mode idle needs --control (its commands come from stdin)");
  if (opt.mode == MODE_ROOMS) {
    if (opt.connections < 2) die("--mode rooms needs --connections ≥ 2 (the sender and at least one receiver)");
    if (opt.rate <= 0) die("--mode rooms needs --rate (danmaku per second)");
    if (opt.first_seq > 1e15) die("--first-seq is at most 10^15");
  }
  if (opt.mode == MODE_FANOUT) {
    if (opt.connections < 2) die("--mode fanout needs --connections ≥ 2 (the sender and at least one receiver)");
    if (opt.size < FANOUT_PREFIX) die("--mode fanout needs --size ≥ %d (send time and round number)", FANOUT_PREFIX);
    if ((double)opt.inflight * (double)opt.size > 256.0 * 1024 * 1024) die("--mode fanout keeps --inflight frames of --size: at most 256 MiB");
  }
}

/* The masked client frames (FIN, binary) and the plain payload they carry: byte i =
 * (i * 31 + 7) & 0xff, as the Node lean client sends. Echo has one frame; fan-out one per round
 * in flight, since a round's frame may still be queued when the next round's is written. */
static void build_frames(void) {
  size_t m = (size_t)opt.size;
  size_t header = (m < 126 ? 2 : m < 65536 ? 4 : 10) + 4;
  frame_len = header + m;
  payload_at = header;
  frame_slots = opt.mode == MODE_FANOUT ? (uint32_t)opt.inflight : 1;
  frames = malloc(frame_len * frame_slots);
  expected = malloc(m + 1);
  if (frames == NULL || expected == NULL) die("out of memory");
  uint8_t *frame = frames;
  frame[0] = 0x80 | OP_BINARY;
  if (m < 126) frame[1] = 0x80 | (uint8_t)m;
  else if (m < 65536) {
    frame[1] = 0x80 | 126;
    frame[2] = (uint8_t)(m >> 8);
    frame[3] = (uint8_t)m;
  } else {
    frame[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) frame[2 + i] = (uint8_t)((uint64_t)m >> (56 - 8 * i));
  }
  memcpy(frame + header - 4, MASK_KEY, 4);
  for (size_t i = 0; i < m; i++) {
    expected[i] = (uint8_t)((i * 31 + 7) & 0xff);
    frame[header + i] = expected[i] ^ MASK_KEY[i & 3];
  }
  for (uint32_t k = 1; k < frame_slots; k++) memcpy(frames + k * frame_len, frame, frame_len);
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the harness */

  memset(&target, 0, sizeof target);
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)opt.port);
  if (inet_pton(AF_INET, opt.host, &target.sin_addr) != 1) die("--host must be an IPv4 address, got \"%s\"", opt.host);

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.connections + 32) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  int req = asprintf(&upgrade_req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     opt.path, opt.host, opt.port);
  if (req < 0) die("out of memory");
  upgrade_len = (size_t)req;
  build_frames();

  conns = calloc((size_t)opt.connections, sizeof *conns);
  if (conns == NULL) die("out of memory");
  int64_t *rings = NULL;
  if (opt.mode == MODE_ROOMS) {
    fo_receivers = (uint32_t)(opt.connections - 1);
    rm_sent_at = calloc(ROOMS_RING, sizeof *rm_sent_at);
    rm_out = malloc(ROOMS_OUT_MAX);
    if (rm_sent_at == NULL || rm_out == NULL) die("out of memory");
    rm_seq = opt.first_seq - 1;
  } else if (opt.mode == MODE_FANOUT) {
    fo_receivers = (uint32_t)(opt.connections - 1);
    fo_sent_at = calloc((size_t)opt.inflight, sizeof *fo_sent_at);
    fo_waiting = calloc((size_t)opt.inflight, sizeof *fo_waiting);
    if (fo_sent_at == NULL || fo_waiting == NULL) die("out of memory");
  } else {
    rings = calloc((size_t)opt.connections * (size_t)opt.inflight, sizeof *rings);
    if (rings == NULL) die("out of memory");
  }
  for (long i = 0; i < opt.connections; i++) {
    conns[i].sent_at = rings == NULL ? NULL : rings + i * opt.inflight;
    conn_reset(&conns[i]);
  }

  if (opt.mode == MODE_FANOUT || opt.mode == MODE_ROOMS) edge = EPOLLET;
  if (opt.uring && !ring_open()) opt.uring = false;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1: %s", strerror(errno));
  if (opt.control) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &stdin_tag};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) < 0) die("--control needs stdin to be a pipe or terminal: %s", strerror(errno));
  }

  connect_begin = now_ns();
  connect_goal = opt.connections;
  if (opt.mode == MODE_IDLE) {
    connect_goal = 0;
    phase = PH_IDLE; /* nothing opens before the first "open <n>" */
  }

  struct epoll_event events[MAX_EVENTS];
  while (phase != PH_EXIT) {
    int64_t now = now_ns();
    tick(now);
    if (phase == PH_EXIT) break;
    if (phase == PH_IDLE) run_commands();
    if (phase == PH_EXIT) break;
    int n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms(now_ns()));
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait: %s", strerror(errno));
    }
    if (phase == PH_MEASURE) {
      epoll_waits++;
      epoll_events += (uint64_t)n;
    }
    if (ring.fd >= 0 && n > 1) {
      on_events_batched(events, n);
      continue;
    }
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == &stdin_tag) on_stdin();
      else on_event(events[i].data.ptr, events[i].events);
    }
  }
  return opened_conns == 0 && opt.mode != MODE_IDLE ? 1 : 0;
}
