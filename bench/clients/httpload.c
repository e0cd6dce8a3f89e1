/*
 * httpload: a lean HTTP/1.1 download load generator (C11, Linux epoll, libc only).
 *
 * Opens N keep-alive connections to HOST:PORT and keeps one GET of PATH in flight on each
 * (closed loop): either the whole representation (expects 200) or, with --range R, R bytes at a
 * random offset (`Range: bytes=a-b`, expects 206 and a Content-Range starting at a; RFC 9110
 * §14.2, §15.3.7). Each response head is parsed for its status, Content-Length, Content-Range and
 * Connection; the body is counted as it arrives, read into one 1 MiB buffer (one recv per ready
 * socket), and with --file the first bytes of every read are compared with that file at the
 * offset they should have. A connection the server closes after a complete response (nginx's
 * keepalive_requests) is reopened and counted; one closed in the middle of a body is an error.
 *
 * A run is a warm-up then a measured window, one JSON line on stdout at the end. MB/s comes from
 * the body bytes received inside the window, so downloads that straddle its edges count for the
 * part that arrived inside it; `ops` counts the responses that completed inside it.
 *
 * Build: cc -std=c11 -O2 -Wall -Wextra -o httpload httpload.c
 * Usage: httpload --port P --path /audio/x --size BYTES [--host 127.0.0.1] [--connections 8]
 *                 [--range 0] [--warmup 0] [--duration 10] [--file PATH] [--seed 1]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READ_BUFFER_BYTES (1024 * 1024)
#define HEAD_MAX 8192
#define REQUEST_MAX 512
#define SAMPLE_BYTES 64          /* bytes compared with --file at the start of every read */
#define MAX_EVENTS 256

static struct {
  const char *host;
  int port;
  const char *path;
  long connections;
  uint64_t range;
  uint64_t size;
  double warmup;
  double duration;
  const char *file;
  uint64_t seed;
} opt = {"127.0.0.1", 0, NULL, 8, 0, 0, 0, 10, NULL, 1};

enum { READ_HEAD, READ_BODY };

typedef struct {
  int fd;
  int phase;
  char req[REQUEST_MAX];
  int req_len, req_sent;
  char head[HEAD_MAX];
  int head_len;
  uint64_t offset;      /* where the body starts in the representation */
  uint64_t body_len;    /* Content-Length */
  uint64_t body_got;
  bool close_after;     /* Connection: close */
  int64_t started_ns;
} conn;

static conn *conns;
static int ep;
static uint8_t *readbuf;
static const uint8_t *expected; /* --file, mapped */
static uint64_t expected_len;

/* Counters: `w_` ones only count inside the measured window. */
static bool in_window;
static uint64_t w_body_bytes, w_head_bytes, w_responses, w_non2xx, recv_calls, reconnects, mismatches, errors;
static char first_error[256];
static double *latencies;
static size_t n_latencies, cap_latencies;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t cpu_micros(int64_t *user, int64_t *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
  *sys = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  return *user + *sys;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("httpload: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void note_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note_error(const char *fmt, ...) {
  errors++;
  if (first_error[0] != '\0') return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(first_error, sizeof first_error, fmt, ap);
  va_end(ap);
}

/* xorshift64*: the offsets of --range requests, the same sequence for every target. */
static uint64_t rng_state;
static uint64_t next_random(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

static void watch(conn *c, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(ep, op, c->fd, &ev) != 0) die("epoll_ctl: %s", strerror(errno));
}

static void open_conn(conn *c) {
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
  if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) die("bad --host %s (IPv4 only)", opt.host);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) die("socket: %s", strerror(errno));
  /* Loopback: a blocking connect returns at once, and keeps the loop simple. */
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect %s:%d: %s", opt.host, opt.port, strerror(errno));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  watch(c, EPOLLIN, EPOLL_CTL_ADD);
}

static void reopen_conn(conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  reconnects++;
  open_conn(c);
}

static void send_request(conn *c);

static void start_request(conn *c) {
  if (opt.range == 0) {
    c->offset = 0;
    c->req_len = snprintf(c->req, REQUEST_MAX, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", opt.path, opt.host, opt.port);
  } else {
    c->offset = next_random() % (opt.size - opt.range + 1);
    c->req_len = snprintf(c->req, REQUEST_MAX, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nRange: bytes=%" PRIu64 "-%" PRIu64 "\r\n\r\n",
                          opt.path, opt.host, opt.port, c->offset, c->offset + opt.range - 1);
  }
  c->req_sent = 0;
  c->head_len = 0;
  c->body_got = 0;
  c->body_len = 0;
  c->close_after = false;
  c->phase = READ_HEAD;
  c->started_ns = now_ns();
  send_request(c);
}

static void send_request(conn *c) {
  while (c->req_sent < c->req_len) {
    ssize_t n = send(c->fd, c->req + c->req_sent, (size_t)(c->req_len - c->req_sent), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) {
        watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        return;
      }
      note_error("send: %s", strerror(errno));
      reopen_conn(c);
      start_request(c);
      return;
    }
    c->req_sent += (int)n;
  }
}

/* The value of header `name` (case-insensitive) in the head, or NULL. */
static const char *header(const conn *c, const char *name, size_t *len) {
  size_t nl = strlen(name);
  const char *p = memchr(c->head, '\n', (size_t)c->head_len);
  const char *end = c->head + c->head_len;
  while (p != NULL && p + 1 < end) {
    const char *line = p + 1;
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    if (eol == NULL) break;
    if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
      const char *v = line + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) ve--;
      *len = (size_t)(ve - v);
      return v;
    }
    p = eol;
  }
  return NULL;
}

static void response_done(conn *c) {
  if (in_window) {
    w_responses++;
    if (n_latencies == cap_latencies) {
      cap_latencies = cap_latencies == 0 ? 4096 : cap_latencies * 2;
      latencies = realloc(latencies, cap_latencies * sizeof *latencies);
      if (latencies == NULL) die("out of memory");
    }
    latencies[n_latencies++] = (double)(now_ns() - c->started_ns) / 1e6;
  }
  if (c->close_after) reopen_conn(c);
  start_request(c);
}

/* Counts body bytes and compares the first ones with --file at the offset they belong to. */
static void body_bytes(conn *c, const uint8_t *data, uint64_t n) {
  if (expected != NULL && n > 0) {
    uint64_t at = c->offset + c->body_got;
    uint64_t k = n < SAMPLE_BYTES ? n : SAMPLE_BYTES;
    if (at + k > expected_len || memcmp(data, expected + at, k) != 0) {
      mismatches++;
      note_error("body bytes at offset %" PRIu64 " differ from --file", at);
    }
  }
  c->body_got += n;
  if (in_window) w_body_bytes += n;
}

/* Parses a complete head; returns false (after noting an error) when the response is not the expected one. */
static bool parse_head(conn *c) {
  int status = 0;
  if (c->head_len < 12 || sscanf(c->head, "HTTP/1.%*d %d", &status) != 1) {
    note_error("bad status line");
    return false;
  }
  int want = opt.range == 0 ? 200 : 206;
  if (status != want) {
    if (in_window) w_non2xx++;
    note_error("status %d, expected %d", status, want);
    return false;
  }
  size_t len;
  const char *v = header(c, "Transfer-Encoding", &len);
  if (v != NULL) {
    note_error("Transfer-Encoding %.*s: only Content-Length bodies are read", (int)len, v);
    return false;
  }
  v = header(c, "Content-Length", &len);
  if (v == NULL) {
    note_error("no Content-Length");
    return false;
  }
  c->body_len = strtoull(v, NULL, 10);
  uint64_t want_len = opt.range == 0 ? opt.size : opt.range;
  if (want_len != 0 && c->body_len != want_len) {
    note_error("Content-Length %" PRIu64 ", expected %" PRIu64, c->body_len, want_len);
    return false;
  }
  if (opt.range != 0) {
    v = header(c, "Content-Range", &len);
    uint64_t first = UINT64_MAX;
    if (v == NULL || sscanf(v, "bytes %" SCNu64 "-", &first) != 1 || first != c->offset) {
      note_error("Content-Range %.*s, expected bytes %" PRIu64 "-…", v == NULL ? 6 : (int)len, v == NULL ? "(none)" : v, c->offset);
      return false;
    }
  }
  v = header(c, "Connection", &len);
  c->close_after = v != NULL && len == 5 && strncasecmp(v, "close", 5) == 0;
  return true;
}

static void on_readable(conn *c) {
  size_t want = READ_BUFFER_BYTES;
  if (c->phase == READ_BODY && c->body_len - c->body_got < want) want = (size_t)(c->body_len - c->body_got);
  ssize_t n = recv(c->fd, readbuf, want, 0);
  recv_calls++;
  if (n < 0) {
    if (errno == EAGAIN) return;
    note_error("recv: %s", strerror(errno));
    reopen_conn(c);
    start_request(c);
    return;
  }
  if (n == 0) {
    /* Closed between responses (keepalive_requests, idle timeout): reopen. Mid-response: an error. */
    if (c->phase == READ_BODY || c->head_len > 0) note_error("connection closed in the middle of a response");
    reopen_conn(c);
    start_request(c);
    return;
  }
  size_t used = 0;
  if (c->phase == READ_HEAD) {
    size_t prev = (size_t)c->head_len;
    size_t room = HEAD_MAX - 1 - prev;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(c->head + prev, readbuf, take);
    c->head_len += (int)take;
    c->head[c->head_len] = '\0';
    char *end = strstr(c->head + (prev >= 3 ? prev - 3 : 0), "\r\n\r\n");
    if (end == NULL) {
      if (c->head_len >= HEAD_MAX - 1) {
        note_error("response head over %d bytes", HEAD_MAX);
        reopen_conn(c);
        start_request(c);
      }
      return;
    }
    size_t head_bytes = (size_t)(end + 4 - c->head);
    c->head_len = (int)head_bytes;
    used = head_bytes - prev;
    if (in_window) w_head_bytes += head_bytes;
    if (!parse_head(c)) {
      reopen_conn(c);
      start_request(c);
      return;
    }
    c->phase = READ_BODY;
  }
  uint64_t rest = (uint64_t)n - used;
  if (rest > c->body_len - c->body_got) {
    note_error("%" PRIu64 " bytes past the end of a response (one request is in flight)", rest - (c->body_len - c->body_got));
    rest = c->body_len - c->body_got;
  }
  body_bytes(c, readbuf + used, rest);
  if (c->body_got == c->body_len) response_done(c);
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void json_ms(const char *key, double q) {
  if (n_latencies == 0) {
    printf(",\"%s\":null", key);
    return;
  }
  size_t i = (size_t)(q * (double)(n_latencies - 1) + 0.5);
  printf(",\"%s\":%.4f", key, latencies[i]);
}

static double number_arg(const char *flag, const char *value, double min) {
  char *end;
  double v = value == NULL ? 0 : strtod(value, &end);
  if (value == NULL || *end != '\0' || v < min) die("%s needs a number ≥ %g", flag, min);
  return v;
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--host") == 0 && v != NULL) opt.host = v;
    else if (strcmp(a, "--port") == 0) opt.port = (int)number_arg(a, v, 1);
    else if (strcmp(a, "--path") == 0 && v != NULL) opt.path = v;
    else if (strcmp(a, "--connections") == 0) opt.connections = (long)number_arg(a, v, 1);
    else if (strcmp(a, "--range") == 0) opt.range = (uint64_t)number_arg(a, v, 0);
    else if (strcmp(a, "--size") == 0) opt.size = (uint64_t)number_arg(a, v, 0);
    else if (strcmp(a, "--warmup") == 0) opt.warmup = number_arg(a, v, 0);
    else if (strcmp(a, "--duration") == 0) opt.duration = number_arg(a, v, 0.1);
    else if (strcmp(a, "--file") == 0 && v != NULL) opt.file = v;
    else if (strcmp(a, "--seed") == 0) opt.seed = (uint64_t)number_arg(a, v, 1);
    else die("unknown or incomplete option %s", a);
    i++;
  }
  if (opt.port == 0 || opt.path == NULL) die("--port and --path are required");
  if (opt.range != 0 && opt.size < opt.range) die("--range needs --size (the representation's length) of at least the range");
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  rng_state = opt.seed * 0x9E3779B97F4A7C15ULL;
  if (opt.file != NULL) {
    int fd = open(opt.file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) die("--file %s: %s", opt.file, strerror(errno));
    expected_len = (uint64_t)st.st_size;
    expected = mmap(NULL, expected_len, PROT_READ, MAP_SHARED, fd, 0);
    if (expected == MAP_FAILED) die("mmap %s: %s", opt.file, strerror(errno));
    close(fd);
  }
  readbuf = malloc(READ_BUFFER_BYTES);
  conns = calloc((size_t)opt.connections, sizeof *conns);
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (readbuf == NULL || conns == NULL || ep < 0) die("setup: %s", strerror(errno));
  for (long i = 0; i < opt.connections; i++) open_conn(&conns[i]);
  for (long i = 0; i < opt.connections; i++) start_request(&conns[i]);

  int64_t t0 = now_ns();
  int64_t window_start = t0 + (int64_t)(opt.warmup * 1e9);
  int64_t window_end = window_start + (int64_t)(opt.duration * 1e9);
  int64_t cpu_start = 0, user0 = 0, sys0 = 0;
  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int64_t now = now_ns();
    if (!in_window && now >= window_start) {
      in_window = true;
      cpu_start = cpu_micros(&user0, &sys0);
      window_start = now;
    }
    if (now >= window_end) break;
    int64_t until = in_window ? window_end : window_start;
    int timeout = (int)((until - now) / 1000000) + 1;
    int n = epoll_wait(ep, events, MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
      conn *c = events[i].data.ptr;
      if ((events[i].events & EPOLLOUT) != 0 && c->req_sent < c->req_len) {
        send_request(c);
        if (c->req_sent == c->req_len) watch(c, EPOLLIN, EPOLL_CTL_MOD);
      }
      if ((events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) on_readable(c);
    }
  }
  int64_t end = now_ns();
  int64_t user1, sys1;
  int64_t cpu = cpu_micros(&user1, &sys1) - cpu_start;
  double elapsed = (double)(end - window_start) / 1e9;
  qsort(latencies, n_latencies, sizeof *latencies, compare_doubles);
  printf("{\"tool\":\"c-http\",\"ops\":%" PRIu64 ",\"elapsedSec\":%.6f", w_responses, elapsed);
  json_ms("p50Ms", 0.5);
  json_ms("p99Ms", 0.99);
  printf(",\"bodyBytes\":%" PRIu64 ",\"headBytes\":%" PRIu64 ",\"non2xx\":%" PRIu64, w_body_bytes, w_head_bytes, w_non2xx);
  printf(",\"errors\":%" PRIu64 ",\"firstError\":", errors);
  if (first_error[0] == '\0') printf("null");
  else {
    putchar('"');
    for (const char *p = first_error; *p != '\0'; p++) {
      if (*p == '"' || *p == '\\') putchar('\\');
      if ((unsigned char)*p >= 0x20) putchar(*p);
    }
    putchar('"');
  }
  printf(",\"mismatches\":%" PRIu64 ",\"verified\":%s,\"reconnects\":%" PRIu64 ",\"recvCalls\":%" PRIu64, mismatches,
         expected != NULL ? "true" : "false", reconnects, recv_calls);
  printf(",\"cpuMicros\":%" PRId64 ",\"cpuUserMicros\":%" PRId64 ",\"cpuSysMicros\":%" PRId64 "}\n", cpu, user1 - user0, sys1 - sys0);
  return 0;
}
