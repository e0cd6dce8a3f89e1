/*
 * c-hello: the floor for the http-hello rows. Not an HTTP server: a single-threaded C program that
 * answers every request head it sees with the same hello page as slabcast, with the least work a
 * server on this kernel can do per request. One epoll instance holds the listener and every
 * connection (level-triggered, the way libuv and uWebSockets poll); a readable connection gets one
 * recv(2), and the answers to every complete head in it leave in one send(2). No parsing beyond
 * finding "\r\n\r\n", no routing, no limits, no timeouts: GET requests without a body only.
 *
 * What a server row costs above this one is what the server itself adds (parsing, its runtime, its
 * event delivery); what this one costs is the kernel's TCP work and the loop's system calls, which
 * every server on the machine pays.
 *
 * Output a connection cannot take at once waits in a per-connection buffer; reading that connection
 * stops until it has gone (EPOLLOUT). A connection closes on EOF, a read error or a write error.
 *
 * --nested puts the connections in a second epoll instance that the first one watches, the shape of
 * slabcast's native transport under libuv (libuv polls the transport's epoll descriptor, which is
 * then read with epoll_wait(…, 0)): the difference between the two runs prices that second wait.
 *
 * Usage: c-hello --port P [--host 127.0.0.1] [--nested]      (compiled by bench/lib/c-client.ts)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY "<!doctype html><html><head><title>slabcast</title></head><body><h1>Hello from slabcast</h1></body></html>"
#define READ_BYTES 65536
#define MAX_EVENTS 1024
#define MAX_FD (1 << 16) /* connections numbered past it are refused */

typedef struct {
  int match;       /* how much of "\r\n\r\n" the last read ended in (0..3) */
  char *pending;   /* output the socket did not take, or NULL */
  size_t pending_len;
  size_t pending_at;
} conn_t;

static conn_t *conns;
static char response[512];
static size_t response_len;
static time_t response_second = -1;

/* The answer, with a Date line renewed once a second. */
static void refresh_response(void) {
  const time_t now = time(NULL);
  if (now == response_second) return;
  response_second = now;
  char date[64];
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  response_len = (size_t)snprintf(response, sizeof response,
                                  "HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n\r\n%s",
                                  date, strlen(BODY), BODY);
}

/* Complete request heads in buf[0, n), carrying a partial "\r\n\r\n" across reads. */
static int count_heads(conn_t *c, const char *buf, ssize_t n) {
  static const char end[] = "\r\n\r\n";
  int m = c->match, heads = 0;
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] == end[m]) {
      if (++m == 4) {
        heads++;
        m = 0;
      }
    } else {
      m = buf[i] == '\r' ? 1 : 0;
    }
  }
  c->match = m;
  return heads;
}

static void drop(int ep, int fd) {
  conn_t *c = &conns[fd];
  free(c->pending);
  memset(c, 0, sizeof *c);
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
}

/* Sends buf[0, len); what the socket does not take waits (copied), and the connection stops reading. */
static void send_or_queue(int ep, int fd, const char *buf, size_t len) {
  ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    drop(ep, fd);
    return;
  }
  if (w < 0) w = 0;
  if ((size_t)w == len) return;
  conn_t *c = &conns[fd];
  c->pending = malloc(len - (size_t)w);
  if (c->pending == NULL) {
    drop(ep, fd);
    return;
  }
  memcpy(c->pending, buf + w, len - (size_t)w);
  c->pending_len = len - (size_t)w;
  c->pending_at = 0;
  struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static void flush_pending(int ep, int fd) {
  conn_t *c = &conns[fd];
  ssize_t w = send(fd, c->pending + c->pending_at, c->pending_len - c->pending_at, MSG_NOSIGNAL);
  if (w < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) drop(ep, fd);
    return;
  }
  c->pending_at += (size_t)w;
  if (c->pending_at < c->pending_len) return;
  free(c->pending);
  c->pending = NULL;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static void on_readable(int ep, int fd, char *in, char *out, size_t out_size) {
  const ssize_t n = recv(fd, in, READ_BYTES, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    drop(ep, fd);
    return;
  }
  if (n < 0) return;
  const int heads = count_heads(&conns[fd], in, n);
  if (heads == 0) return;
  const size_t len = (size_t)heads * response_len;
  char *buf = len <= out_size ? out : malloc(len);
  if (buf == NULL) {
    drop(ep, fd);
    return;
  }
  for (int h = 0; h < heads; h++) memcpy(buf + (size_t)h * response_len, response, response_len);
  send_or_queue(ep, fd, buf, len);
  if (buf != out) free(buf);
}

int main(int argc, char **argv) {
  int port = 0;
  int nested = 0;
  const char *host = "127.0.0.1";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--nested") == 0) nested = 1;
    else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = atoi(argv[++i]);
    else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) host = argv[++i];
  }
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(ls, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1 || bind(ls, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(ls, 4096) != 0) {
    fprintf(stderr, "c-hello: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
    return 1;
  }
  conns = calloc(MAX_FD, sizeof *conns);
  /* The connections' epoll instance (`ep`) and the one the loop sleeps in (`outer`): one and the same
     unless --nested. */
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  const int outer = nested ? epoll_create1(EPOLL_CLOEXEC) : ep;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  if (nested) {
    struct epoll_event inner = {.events = EPOLLIN, .data.fd = ep};
    epoll_ctl(outer, EPOLL_CTL_ADD, ep, &inner);
  }
  static char in[READ_BYTES];
  static char out[64 * 1024];
  struct epoll_event events[MAX_EVENTS];
  fprintf(stderr, "c-hello listening on %s:%d%s\n", host, port, nested ? " (nested epoll)" : "");
  for (;;) {
    int n = epoll_wait(outer, events, MAX_EVENTS, -1);
    if (n > 0 && nested) n = epoll_wait(ep, events, MAX_EVENTS, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("c-hello: epoll_wait");
      return 1;
    }
    refresh_response();
    for (int i = 0; i < n; i++) {
      const int fd = events[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          if (c >= MAX_FD) {
            close(c);
            continue;
          }
          struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      if (conns[fd].pending != NULL) {
        if (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) flush_pending(ep, fd);
        continue;
      }
      on_readable(ep, fd, in, out, sizeof out);
    }
  }
}
