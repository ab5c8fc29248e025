/*
 * websockify-preload: the LD_PRELOAD library of websockify-ts (our own code, written from the
 * documented behaviour of websockify's rebind.so and kohlschutter/unsock; see docs/wrap.md).
 *
 * It has two independent modes, each switched on by its environment variables:
 *
 * Rebind mode (websockify's rebind.so, same variable names as the reference *library* reads):
 *   REBIND_OLD_PORT=P REBIND_NEW_PORT=N
 *   A bind() of TCP/UDP port P, IPv4 or IPv6, on any address, is moved to loopback port N:
 *   IPv4 -> 127.0.0.1:N; IPv6 -> [::1]:N for an IPV6_V6ONLY socket, otherwise
 *   [::ffff:127.0.0.1]:N so a dual-stack socket still answers 127.0.0.1 (where the proxy dials).
 *   The reference ignores IPv6 binds, which left such programs listening publicly.
 *   N=0 (our extension) means "any free loopback port"; the chosen port is reported (see below),
 *   which is how wrap mode avoids the reference's free-port race.
 *
 * Unsock mode (kohlschutter/unsock's variables):
 *   UNSOCK_DIR   absolute directory holding the sockets (required to enable the mode)
 *   UNSOCK_ADDR  a.b.c.d[/bits]: IPv4 addresses covered (default 127.175.0.0/32); the address
 *                is also what getsockname/getpeername/accept report back
 *   UNSOCK_PORT  the one port covered (default: any; -1 also means any)
 *   UNSOCK_MODE  octal mode applied to each socket file after bind
 *   UNSOCK_BLOCK_INET6=1        socket(AF_INET6, ...) fails with EAFNOSUPPORT
 *   UNSOCK_BLOCK_INET=1         IPv4 bind/connect to an address not covered fails with EACCES
 *   UNSOCK_ACCEPT_CONVERT_ALL=1 every non-IPv4 address returned by accept/getsockname/
 *                               getpeername is shown as UNSOCK_ADDR:UNSOCK_PORT
 *   A stream socket bound or connected to a covered a.b.c.d:P really uses UNSOCK_DIR/P.sock.
 *   The file descriptor keeps its number: a new AF_UNIX socket is dup3()ed over it.
 *   Differences from unsock (on purpose): bad configuration prints a message naming the
 *   variable and exits with status 1 *before main()*; port 0 only picks a random N.sock when
 *   the port is covered (unsock converted first and then failed with EINVAL); only stream
 *   sockets are converted (UDP is out of scope); no control files.
 *
 * Extensions used by websockify-ts wrap mode:
 *   WSFY_PRELOAD_REPORT=FILE  after every moved bind, append one line to FILE:
 *                             "unix PATH" or "inet 127.0.0.1 PORT" or "inet6 ::1 PORT".
 *   WSFY_PRELOAD_PARENT=PID   if our parent is PID, ask the kernel to SIGTERM us when it dies
 *                             (PR_SET_PDEATHSIG), so a killed proxy leaves no orphan.
 *
 * Built with -Wall -Wextra -Werror -fPIC -shared -ldl by scripts/build-native.sh.
 */

/* Not _GNU_SOURCE: with it glibc declares accept/getsockname with a transparent union, and our
 * definitions must match the prototypes exactly. We declare the two GNU calls we need. */
#define _DEFAULT_SOURCE 1
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef RTLD_NEXT
#define RTLD_NEXT ((void *)-1l)
#endif
int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int dup3(int oldfd, int newfd, int flags);

#define LIB "websockify-preload"
/* Longest "/65535.sock" suffix plus the NUL must fit in sun_path (108 bytes on Linux). */
#define SUFFIX_MAX 11

/* ---- real libc functions, found behind us in the lookup order ---------------------------- */

typedef int (*socket_fn)(int, int, int);
typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*name_fn)(int, struct sockaddr *, socklen_t *);

static socket_fn real_socket;
static bind_fn real_bind;
static connect_fn real_connect;
static accept_fn real_accept;
static accept4_fn real_accept4;
static name_fn real_getsockname;
static name_fn real_getpeername;

/* dlsym returns the same pointer every time, so a benign race between threads is harmless;
 * resolving lazily covers calls made by other libraries' constructors before ours ran. */
static void resolve(void) {
    if (real_bind) return;
    real_socket = (socket_fn)dlsym(RTLD_NEXT, "socket");
    real_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
    real_accept = (accept_fn)dlsym(RTLD_NEXT, "accept");
    real_accept4 = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
    real_getsockname = (name_fn)dlsym(RTLD_NEXT, "getsockname");
    real_getpeername = (name_fn)dlsym(RTLD_NEXT, "getpeername");
    real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
}

/* ---- configuration: parsed once in the constructor, read-only afterwards ------------------ */

static struct {
    int rebind;             /* rebind mode on */
    int old_port, new_port; /* REBIND_OLD_PORT / REBIND_NEW_PORT */

    int unsock;             /* unsock mode on */
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    uint32_t addr, mask;    /* host byte order */
    int port;               /* -1 = any */
    int mode;               /* -1 = leave the file mode alone */
    int block_inet6, block_inet, convert_all;

    const char *report;     /* WSFY_PRELOAD_REPORT or NULL */
} cfg = { .port = -1, .mode = -1 };

static void die(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One write so the line is not interleaved with the program's own output. */
    char line[600];
    int n = snprintf(line, sizeof line, LIB ": %s\n", msg);
    if (n > 0) {
        ssize_t ignored = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)ignored;
    }
    _exit(1);
}

/* Strict base-10 integer: all digits, in [min, max]. Returns 0 on success. */
static int parse_int(const char *text, long min, long max, long *out) {
    if (!text || !*text) return -1;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v || strcmp(v, "0") == 0) return 0;
    if (strcmp(v, "1") == 0) return 1;
    die("%s must be 1 or 0 (got \"%s\")", name, v);
    return 0;
}

static void parse_rebind(void) {
    const char *old_text = getenv("REBIND_OLD_PORT");
    const char *new_text = getenv("REBIND_NEW_PORT");
    if (!old_text && !new_text) return;
    long o, n;
    if (parse_int(old_text, 1, 65535, &o) != 0)
        die("REBIND_OLD_PORT must be a port number 1-65535 (got \"%s\")", old_text ? old_text : "");
    if (parse_int(new_text, 0, 65535, &n) != 0)
        die("REBIND_NEW_PORT must be a port number 0-65535 (got \"%s\")", new_text ? new_text : "");
    cfg.rebind = 1;
    cfg.old_port = (int)o;
    cfg.new_port = (int)n;
}

static void parse_unsock(void) {
    const char *dir = getenv("UNSOCK_DIR");
    if (!dir) {
        /* The other variables alone would silently do nothing: say so. */
        const char *others[] = { "UNSOCK_ADDR", "UNSOCK_PORT", "UNSOCK_MODE" };
        for (size_t i = 0; i < sizeof others / sizeof *others; i++)
            if (getenv(others[i])) die("%s is set but UNSOCK_DIR is not; set UNSOCK_DIR to an absolute directory", others[i]);
        return;
    }
    if (dir[0] != '/') die("UNSOCK_DIR must be an absolute path (got \"%s\")", dir);
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--; /* "/tmp/unsockets/" as in the unsock docs */
    if (len + SUFFIX_MAX > sizeof cfg.dir - 1)
        die("UNSOCK_DIR is too long for a unix socket path (%zu bytes, at most %zu)", len, sizeof cfg.dir - 1 - SUFFIX_MAX);
    memcpy(cfg.dir, dir, len);
    cfg.dir[len] = '\0';
    struct stat st;
    if (stat(cfg.dir, &st) != 0) {
        /* unsock creates a missing directory (0755); so do we, but only one level. */
        /* Another process of the same program may create it at the same moment: EEXIST is fine. */
        if (errno != ENOENT || (mkdir(cfg.dir, 0755) != 0 && errno != EEXIST))
            die("UNSOCK_DIR %s cannot be used: %s", cfg.dir, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        die("UNSOCK_DIR %s is not a directory", cfg.dir);
    }

    const char *addr = getenv("UNSOCK_ADDR");
    if (!addr || !*addr) addr = "127.175.0.0/32";
    char ip[INET_ADDRSTRLEN + 1];
    const char *slash = strchr(addr, '/');
    size_t iplen = slash ? (size_t)(slash - addr) : strlen(addr);
    struct in_addr in;
    long bits = 32;
    if (iplen >= sizeof ip) die("UNSOCK_ADDR must be a.b.c.d or a.b.c.d/bits (got \"%s\")", addr);
    memcpy(ip, addr, iplen);
    ip[iplen] = '\0';
    if (inet_pton(AF_INET, ip, &in) != 1 || (slash && parse_int(slash + 1, 0, 32, &bits) != 0))
        die("UNSOCK_ADDR must be a.b.c.d or a.b.c.d/bits (got \"%s\")", addr);
    cfg.addr = ntohl(in.s_addr);
    cfg.mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);

    const char *port = getenv("UNSOCK_PORT");
    long p = -1;
    if (port && *port && parse_int(port, -1, 65535, &p) != 0)
        die("UNSOCK_PORT must be a port number 1-65535 or -1 for any (got \"%s\")", port);
    if (p == 0) die("UNSOCK_PORT must be a port number 1-65535 or -1 for any (got \"0\")");
    cfg.port = (int)p;

    const char *mode = getenv("UNSOCK_MODE");
    if (mode && *mode) {
        char *end;
        errno = 0;
        long m = strtol(mode, &end, 8);
        if (errno || *end || m < 0 || m > 07777) die("UNSOCK_MODE must be an octal file mode such as 600 (got \"%s\")", mode);
        cfg.mode = (int)m;
    }
    cfg.block_inet6 = parse_bool("UNSOCK_BLOCK_INET6");
    cfg.block_inet = parse_bool("UNSOCK_BLOCK_INET");
    cfg.convert_all = parse_bool("UNSOCK_ACCEPT_CONVERT_ALL");
    cfg.unsock = 1;
}

/* PR_SET_PDEATHSIG only for the direct child of the proxy: a grandchild's parent is not PID. */
static void parse_parent(void) {
    const char *text = getenv("WSFY_PRELOAD_PARENT");
    long pid;
    if (!text || parse_int(text, 1, INT_MAX, &pid) != 0) return;
    if (getppid() != (pid_t)pid) return;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* The proxy may have died between fork and prctl: then we are already reparented. */
    if (getppid() != (pid_t)pid) _exit(1);
}

__attribute__((constructor)) static void init(void) {
    resolve();
    parse_rebind();
    parse_unsock();
    parse_parent();
    const char *report = getenv("WSFY_PRELOAD_REPORT");
    cfg.report = report && report[0] == '/' ? report : NULL;
}

/* ---- helpers --------------------------------------------------------------------------------- */

static int sock_int_opt(int fd, int level, int name) {
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, name, &v, &len) != 0) return -1;
    return v;
}

/* One O_APPEND write per line keeps concurrent reporters (forked children) from interleaving. */
static void report(const char *line) {
    if (!cfg.report) return;
    int saved = errno;
    int fd = open(cfg.report, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ssize_t ignored = write(fd, line, strlen(line));
        (void)ignored;
        close(fd);
    }
    errno = saved;
}

static int covered(const struct sockaddr_in *sin) {
    if ((ntohl(sin->sin_addr.s_addr) & cfg.mask) != (cfg.addr & cfg.mask)) return 0;
    return cfg.port == -1 || ntohs(sin->sin_port) == cfg.port;
}

static void unix_path(struct sockaddr_un *sun, int port) {
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    /* cfg.dir was checked at start to leave room for the longest suffix. */
    char suffix[16];
    int n = snprintf(suffix, sizeof suffix, "/%d.sock", port & 0xffff);
    size_t dl = strlen(cfg.dir);
    memcpy(sun->sun_path, cfg.dir, dl);
    memcpy(sun->sun_path + dl, suffix, (size_t)n + 1);
}

/* Turn fd into an AF_UNIX stream socket under the same number, keeping its blocking mode,
 * close-on-exec flag and timeouts. Only a not-yet-bound, not-yet-connected socket is replaced. */
static int make_unix(int fd) {
    int domain = sock_int_opt(fd, SOL_SOCKET, SO_DOMAIN);
    if (domain == AF_UNIX) return 0;
    int fl = fcntl(fd, F_GETFL);
    int fdfl = fcntl(fd, F_GETFD);
    if (fl < 0 || fdfl < 0) return -1;
    int flags = (fl & O_NONBLOCK ? SOCK_NONBLOCK : 0);
    int repl = real_socket(AF_UNIX, SOCK_STREAM | flags | SOCK_CLOEXEC, 0);
    if (repl < 0) return -1;
    struct timeval tv;
    socklen_t len = sizeof tv;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0) setsockopt(repl, SOL_SOCKET, SO_RCVTIMEO, &tv, len);
    len = sizeof tv;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0) setsockopt(repl, SOL_SOCKET, SO_SNDTIMEO, &tv, len);
    int rc = dup3(repl, fd, fdfl & FD_CLOEXEC ? O_CLOEXEC : 0);
    int saved = errno;
    close(repl);
    errno = saved;
    return rc < 0 ? -1 : 0;
}

/* Should this fd be converted? Only IPv4 stream sockets. */
static int convertible(int fd) {
    return sock_int_opt(fd, SOL_SOCKET, SO_DOMAIN) == AF_INET && sock_int_opt(fd, SOL_SOCKET, SO_TYPE) == SOCK_STREAM;
}

/* A socket file nobody accepts on is left over from a dead process: a probe connect is refused.
 * Anything that is not a socket is never removed. Returns 1 if the path was removed. */
static int remove_if_stale(const struct sockaddr_un *sun) {
    struct stat st;
    if (lstat(sun->sun_path, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
    int probe = real_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return 0;
    int rc = real_connect(probe, (const struct sockaddr *)sun, sizeof *sun);
    int stale = rc != 0 && errno == ECONNREFUSED;
    close(probe);
    return stale && unlink(sun->sun_path) == 0;
}

static int bind_unix_port(int fd, int port) {
    struct sockaddr_un sun;
    unix_path(&sun, port);
    int rc = real_bind(fd, (struct sockaddr *)&sun, sizeof sun);
    if (rc != 0 && errno == EADDRINUSE && remove_if_stale(&sun))
        rc = real_bind(fd, (struct sockaddr *)&sun, sizeof sun);
    if (rc != 0) return rc;
    if (cfg.mode >= 0) chmod(sun.sun_path, (mode_t)cfg.mode);
    char line[sizeof sun.sun_path + 8];
    snprintf(line, sizeof line, "unix %s\n", sun.sun_path);
    report(line);
    return 0;
}

static unsigned next_random(void) {
    static unsigned state;
    if (!state) state = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&state;
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

/* ---- rebind mode ------------------------------------------------------------------------------ */

static int rebind_bind(int fd, const struct sockaddr *addr, socklen_t len) {
    char line[64];
    if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in sin;
        memcpy(&sin, addr, sizeof sin);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin.sin_port = htons((uint16_t)cfg.new_port);
        int rc = real_bind(fd, (struct sockaddr *)&sin, sizeof sin);
        socklen_t sl = sizeof sin;
        if (rc == 0 && real_getsockname(fd, (struct sockaddr *)&sin, &sl) == 0) {
            snprintf(line, sizeof line, "inet 127.0.0.1 %d\n", ntohs(sin.sin_port));
            report(line);
        }
        return rc;
    }
    /* AF_INET6: loopback, in the form that still reaches the proxy's 127.0.0.1 when dual-stack. */
    struct sockaddr_in6 sin6;
    memcpy(&sin6, addr, sizeof sin6);
    int v6only = sock_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY) == 1;
    if (v6only) {
        sin6.sin6_addr = in6addr_loopback;
    } else {
        memset(&sin6.sin6_addr, 0, sizeof sin6.sin6_addr);
        sin6.sin6_addr.s6_addr[10] = 0xff;
        sin6.sin6_addr.s6_addr[11] = 0xff;
        sin6.sin6_addr.s6_addr[12] = 127;
        sin6.sin6_addr.s6_addr[15] = 1;
    }
    sin6.sin6_port = htons((uint16_t)cfg.new_port);
    sin6.sin6_scope_id = 0;
    int rc = real_bind(fd, (struct sockaddr *)&sin6, sizeof sin6);
    socklen_t sl = sizeof sin6;
    if (rc == 0 && real_getsockname(fd, (struct sockaddr *)&sin6, &sl) == 0) {
        snprintf(line, sizeof line, v6only ? "inet6 ::1 %d\n" : "inet 127.0.0.1 %d\n", ntohs(sin6.sin6_port));
        report(line);
    }
    return rc;
}

static int rebind_applies(const struct sockaddr *addr, socklen_t len) {
    if (!cfg.rebind || !addr) return 0;
    if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
        return ntohs(((const struct sockaddr_in *)addr)->sin_port) == cfg.old_port;
    if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
        return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port) == cfg.old_port;
    return 0;
}

/* ---- intercepted calls ------------------------------------------------------------------------ */

int socket(int domain, int type, int protocol) {
    resolve();
    if (cfg.unsock && cfg.block_inet6 && domain == AF_INET6) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    return real_socket(domain, type, protocol);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    resolve();
    if (rebind_applies(addr, len)) return rebind_bind(fd, addr, len);
    if (!cfg.unsock || !addr || addr->sa_family != AF_INET || len < sizeof(struct sockaddr_in) || !convertible(fd))
        return real_bind(fd, addr, len);
    struct sockaddr_in sin;
    memcpy(&sin, addr, sizeof sin);
    int port = ntohs(sin.sin_port);
    /* Port 0 is covered only when every port is; then pick a free N.sock at random. */
    int is_covered = port == 0 ? (cfg.port == -1 && covered(&sin)) : covered(&sin);
    if (!is_covered) {
        if (cfg.block_inet) {
            errno = EACCES;
            return -1;
        }
        return real_bind(fd, addr, len);
    }
    if (make_unix(fd) != 0) return -1;
    if (port != 0) return bind_unix_port(fd, port);
    for (int attempt = 0; attempt < 200; attempt++) {
        int candidate = 1024 + (int)(next_random() % (65536 - 1024));
        if (bind_unix_port(fd, candidate) == 0) return 0;
        if (errno != EADDRINUSE) return -1;
    }
    errno = EADDRINUSE;
    return -1;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    resolve();
    if (!cfg.unsock || !addr || addr->sa_family != AF_INET || len < sizeof(struct sockaddr_in) || !convertible(fd))
        return real_connect(fd, addr, len);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
    if (!covered(sin) || sin->sin_port == 0) {
        if (cfg.block_inet) {
            errno = EACCES;
            return -1;
        }
        return real_connect(fd, addr, len);
    }
    if (make_unix(fd) != 0) return -1;
    struct sockaddr_un sun;
    unix_path(&sun, ntohs(sin->sin_port));
    int rc = real_connect(fd, (struct sockaddr *)&sun, sizeof sun);
    /* A TCP program expects "nobody listening" as ECONNREFUSED, not "no such file". */
    if (rc != 0 && errno == ENOENT) errno = ECONNREFUSED;
    return rc;
}

/* Port N if path is UNSOCK_DIR/N.sock, else -1. */
static int port_of_path(const struct sockaddr_un *sun, socklen_t len) {
    size_t dl = strlen(cfg.dir);
    if (len <= offsetof(struct sockaddr_un, sun_path) || strncmp(sun->sun_path, cfg.dir, dl) != 0 || sun->sun_path[dl] != '/')
        return -1;
    const char *name = sun->sun_path + dl + 1;
    char *end;
    long p = strtol(name, &end, 10);
    if (end == name || strcmp(end, ".sock") != 0 || p < 0 || p > 65535) return -1;
    return (int)p;
}

static int unnamed(const struct sockaddr_un *sun, socklen_t len) {
    return len <= offsetof(struct sockaddr_un, sun_path) || sun->sun_path[0] == '\0';
}

/* Is this an AF_UNIX socket of ours, i.e. is its own or its peer's name UNSOCK_DIR/N.sock? */
static int ours(int fd) {
    struct sockaddr_un sun;
    socklen_t len = sizeof sun;
    if (real_getsockname(fd, (struct sockaddr *)&sun, &len) == 0 && sun.sun_family == AF_UNIX && port_of_path(&sun, len) >= 0) return 1;
    len = sizeof sun;
    return real_getpeername(fd, (struct sockaddr *)&sun, &len) == 0 && sun.sun_family == AF_UNIX && port_of_path(&sun, len) >= 0;
}

/* Copy `src` into the caller's buffer with the kernel's truncation rule: copy at most *len
 * bytes, then report the full size in *len. */
static void give(struct sockaddr *dst, socklen_t *len, const void *src, socklen_t srclen) {
    if (!dst || !len) return;
    memcpy(dst, src, *len < srclen ? *len : srclen);
    *len = srclen;
}

/* Rewrite an address the kernel returned for `fd` (from socket `owner_fd`) the way unsock does:
 * UNSOCK_DIR/N.sock -> UNSOCK_ADDR:N; an unnamed peer of one of our sockets -> UNSOCK_ADDR:0;
 * with UNSOCK_ACCEPT_CONVERT_ALL, anything not IPv4 -> UNSOCK_ADDR:UNSOCK_PORT. */
static void unfix(int owner_fd, const struct sockaddr_storage *got, socklen_t gotlen, struct sockaddr *dst, socklen_t *len) {
    int port = -2;
    if (got->ss_family == AF_UNIX) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)got;
        int p = port_of_path(sun, gotlen);
        if (p >= 0) port = p;
        else if (unnamed(sun, gotlen) && ours(owner_fd)) port = 0;
    }
    if (port == -2 && cfg.convert_all && got->ss_family != AF_INET) port = cfg.port < 0 ? 0 : cfg.port;
    if (port == -2) {
        give(dst, len, got, gotlen);
        return;
    }
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(cfg.addr);
    sin.sin_port = htons((uint16_t)port);
    give(dst, len, &sin, sizeof sin);
}

static int name_call(name_fn fn, int fd, struct sockaddr *addr, socklen_t *len) {
    if (!cfg.unsock || !addr || !len) return fn(fd, addr, len);
    struct sockaddr_storage got;
    socklen_t gotlen = sizeof got;
    if (fn(fd, (struct sockaddr *)&got, &gotlen) != 0) return -1;
    unfix(fd, &got, gotlen, addr, len);
    return 0;
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len) {
    resolve();
    return name_call(real_getsockname, fd, addr, len);
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len) {
    resolve();
    return name_call(real_getpeername, fd, addr, len);
}

static int accept_call(int fd, struct sockaddr *addr, socklen_t *len, int flags, int use4) {
    if (!cfg.unsock || !addr || !len)
        return use4 ? real_accept4(fd, addr, len, flags) : real_accept(fd, addr, len);
    struct sockaddr_storage got;
    socklen_t gotlen = sizeof got;
    int conn = use4 ? real_accept4(fd, (struct sockaddr *)&got, &gotlen, flags) : real_accept(fd, (struct sockaddr *)&got, &gotlen);
    if (conn < 0) return conn;
    /* The peer of an accepted unix connection is unnamed; `fd` (the listener) says if it is ours. */
    unfix(fd, &got, gotlen, addr, len);
    return conn;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
    resolve();
    return accept_call(fd, addr, len, 0, 0);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    resolve();
    return accept_call(fd, addr, len, flags, 1);
}
