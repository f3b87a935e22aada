/*
 * fuzz_request.c: the whole request path of `hark serve` — HTTP framing
 * (libmicrohttpd), routing, authentication, query arguments, JSON bodies,
 * multipart uploads, ranges, and after a WebSocket upgrade the live
 * protocol's frames and config messages (src/server/live.c, both
 * endpoints) — fed raw bytes over TCP. One real server
 * (engine "test", its own temporary database) is started on the first input
 * and reused; each input is sent on a fresh connection, the write side is
 * closed, and the answer is read to the end. The server must stay up and keep
 * answering /health: a crash or a hang is a finding (abort()).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pid_t server_pid;
static unsigned short server_port;
static char dir[64];

static void stop_server(void)
{
    int st;
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, &st, 0);
    }
    if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "fuzz_request: could not remove %s\n", dir);
    }
}

static void start_server(void)
{
    int p[2];
    char db[128], line[256];
    size_t n = 0;
    const char *bin = getenv("HARK_BIN") ? getenv("HARK_BIN") : HARK_BIN_PATH;
    snprintf(dir, sizeof(dir), "/tmp/hark-fuzz-XXXXXX");
    if (!mkdtemp(dir) || pipe(p) != 0)
        abort();
    snprintf(db, sizeof(db), "%s/h.db", dir);
    signal(SIGPIPE, SIG_IGN);
    server_pid = fork();
    if (server_pid < 0)
        abort();
    if (server_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(p[1], 1);
        if (devnull >= 0)
            dup2(devnull, 2);
        close(p[0]);
        setenv("XDG_CONFIG_HOME", dir, 1);
        execl(bin, "hark", "serve", "--listen", "127.0.0.1:0", "--db", db, "--cache-db", "none",
              "--engine", "test", "--vad", "off", "--header-timeout", "2s", "--body-timeout", "2s",
              "--max-upload", "1M", "--max-body-json", "4K", "--log-level", "error", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    atexit(stop_server);
    while (n + 1 < sizeof(line)) { /* "hark serve: listening on http://127.0.0.1:PORT\n" */
        ssize_t r = read(p[0], line + n, 1);
        if (r <= 0)
            break;
        if (line[n++] == '\n')
            break;
    }
    line[n] = '\0';
    close(p[0]);
    {
        const char *q = strstr(line, "127.0.0.1:");
        if (!q) {
            fprintf(stderr, "fuzz_request: the server did not start (%s): %s\n", bin, line);
            abort();
        }
        server_port = (unsigned short)atoi(q + 10);
    }
}

static int connect_server(void)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        abort();
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(server_port);
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        abort(); /* the server is gone */
    return fd;
}

/* Read until EOF or `ms` of silence; returns the bytes read (first `cap` kept in buf). */
static size_t drain(int fd, char *buf, size_t cap, int ms)
{
    struct pollfd pf = { fd, POLLIN, 0 };
    size_t got = 0;
    char tmp[16384];
    while (poll(&pf, 1, ms) > 0) {
        ssize_t r = read(fd, tmp, sizeof(tmp));
        if (r <= 0)
            break;
        if (got < cap)
            memcpy(buf + got, tmp, (size_t)r < cap - got ? (size_t)r : cap - got);
        got += (size_t)r;
    }
    return got;
}

static void check_alive(void)
{
    static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[64];
    int fd, st;
    size_t n;
    if (waitpid(server_pid, &st, WNOHANG) == server_pid) {
        fprintf(stderr, "fuzz_request: the server died (status %d)\n", st);
        server_pid = 0;
        abort();
    }
    fd = connect_server();
    if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
        abort();
    n = drain(fd, buf, sizeof(buf) - 1, 10000);
    close(fd);
    buf[n < sizeof(buf) ? n : sizeof(buf) - 1] = '\0';
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
        fprintf(stderr, "fuzz_request: /health did not answer 200 after the input: '%s'\n", buf);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[1];
    int fd;
    size_t off = 0;
    if (!server_pid)
        start_server();
    fd = connect_server();
    while (off < size) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server closed it early: fine */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    drain(fd, buf, 0, 300); /* an answered keep-alive connection stays open: do not wait for it */
    close(fd);
    check_alive();
    return 0;
}
