/*
 * The guest's PID 1 for --isolation=vm (corral/runtime/vm/): built static by setup.sh, loaded as the
 * only file of an initramfs.
 *
 * It mounts the container's root filesystem, which the host shares over 9p (the same overlay the
 * process backend mounts, mounted by the host in QEMU's own mount namespace), makes it the guest's
 * root, and runs the container's command in a PID namespace of its own (so the command is PID 1, as
 * in a process container: a signal it has no handler for is ignored, as docker users expect).
 *
 * Eight virtio-serial ports connect it to the host's runtime (numbers fixed by the QEMU command line):
 *   /dev/vport0p1  control, both ways: framed messages, a little-endian u32 length, then the payload.
 *                  host -> guest: 'P' the process (NUL-separated entries, see read_process), 'S<n>' a signal.
 *                  guest -> host: 'W' the init waits for its process (a template is saved here: vm/template.py),
 *                  'R' the command runs, 'E<code> <message>' it could not be started,
 *                  'X<wait status>' it exited.
 *   /dev/vport0p2  the command's stdout      /dev/vport0p3  its stderr
 *   /dev/vport0p4  exec, both ways, framed the same, each message a type letter and the exec's 8-character id:
 *                  host -> guest: 'x' id, NUL, the process's entries (as 'P'); 'k' id and a signal number;
 *                  'i' id and stdin bytes, 'I' id (stdin ended), 'z' id "<rows> <cols>" (its terminal's size).
 *                  guest -> host: 'r' id (it runs), 'f' id "<code> <message>" (it could not start), 'o' id and
 *                  stdout bytes, 'e' id and stderr bytes, 'w' id and its wait status (once its output ended).
 *                  One exec at a time per port: a request while one runs kills the old one (the host's relays
 *                  take a free port each).
 *   /dev/vport0p5  the command's input, host -> guest, framed: 'i' stdin bytes, 'I' (stdin ended; with a
 *                  terminal: the session hung up), 'z' "<rows> <cols>".
 *   /dev/vport0p6, p7, p8  three more exec ports, as /dev/vport0p4: four execs may run at once.
 * With a terminal ('t'), the command (or an exec) gets the slave of a pty of the guest's devpts as its stdin,
 * stdout and stderr, and this process relays the master: its output to the stdout port (or 'o' messages), the
 * input to it; a resize is TIOCSWINSZ on the master, so the guest's kernel sends SIGWINCH and Ctrl-C is
 * the guest's line discipline's SIGINT. With stdin open ('i') and no terminal, stdin is a pipe fed from 'i'.
 * Then the guest reboots, which ends QEMU (-no-reboot; the kernel's reboot=t is a triple fault, which
 * needs no firmware, ACPI or port I/O).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ENTRIES 4096

static int ctl = -1;

static void power_off(void)
{
    sync();
    reboot(RB_AUTOBOOT); /* QEMU exits here */
    for (;;)
        pause();
}

/* All of len bytes read into or written from buf; -1 on an error or an early end. */
static int transfer(int fd, char *buf, size_t len, int writing)
{
    while (len > 0) {
        ssize_t n = writing ? write(fd, buf, len) : read(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void send_frame(int fd, char type, const char *id, const char *data, size_t n)
{
    static char buf[4 + 1 + 8 + 65536];
    size_t idlen = id ? 8 : 0;
    if (n > 65536)
        n = 65536;
    uint32_t len = (uint32_t)(1 + idlen + n);
    memcpy(buf, &len, 4); /* x86: little-endian */
    buf[4] = type;
    memcpy(buf + 5, id, idlen);
    memcpy(buf + 5 + idlen, data, n);
    transfer(fd, buf, 4 + len, 1);
}

static void send_msg(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + 4, sizeof buf - 4, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 5)
        n = sizeof buf - 5;
    uint32_t len = (uint32_t)n;
    memcpy(buf, &len, 4); /* x86: little-endian */
    transfer(ctl, buf, 4 + (size_t)n, 1);
}

/* Before the command runs: tell the host why it cannot, and stop the guest. */
static void fail(int code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctl >= 0)
        send_msg("E%d %s", code, msg);
    else
        fprintf(stderr, "corral guest init: %s\n", msg);
    power_off();
}

static char *read_msg(int fd, uint32_t *len_out)
{
    uint32_t len;
    if (transfer(fd, (char *)&len, 4, 0) < 0 || len > (64u << 20))
        return NULL;
    char *buf = malloc(len + 1);
    if (!buf || transfer(fd, buf, len, 0) < 0)
        return NULL;
    buf[len] = 0;
    *len_out = len;
    return buf;
}

static int open_port(const char *path, int flags)
{
    /* The ports appear once the kernel has processed the device's control messages, which may be
     * after this process starts: wait for them (5 s at most). */
    for (int i = 0; i < 500; i++) {
        int fd = open(path, flags | O_CLOEXEC);
        if (fd >= 0 || errno != ENOENT)
            return fd;
        usleep(10000);
    }
    return -1;
}

struct process {
    char *args[MAX_ENTRIES + 1];
    char *env[MAX_ENTRIES + 1];
    int nargs, nenv;
    char *cwd, *hostname, *exe; /* exe: the file to exec, when the host found args[0] in the PATH */
    uid_t uid;
    gid_t gid;
    gid_t groups[256];
    int ngroups;
    int caps[64];
    int ncaps, keep_caps;
    struct { int resource; rlim_t soft, hard; } limits[32];
    int nlimits;
    int no_new_privs;
    char *nics[8];
    int nnics;
    int tty, open_stdin;
    int exec; /* an exec's: its working directory must exist (the command's is made, as runc makes it) */
    unsigned short rows, cols;
    char *clock, *seed; /* the host's time and fresh entropy: a guest restored from a template has neither */
};

/* Input for a command's stdin (a pipe) or terminal (a pty's master), queued while it does not read:
 * writes never block this loop, and the port it comes from is not read while much is queued. */
struct sink {
    int fd, eof, tty;
    char *buf;
    size_t len, cap;
};

#define SINK_FULL (256u << 10)

static void sink_flush(struct sink *s)
{
    while (s->fd >= 0 && s->len > 0) {
        ssize_t n = write(s->fd, s->buf, s->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) { /* the reader is gone: what is queued can never be read */
            s->len = 0;
            break;
        }
        memmove(s->buf, s->buf + n, s->len - (size_t)n);
        s->len -= (size_t)n;
    }
    if (s->fd >= 0 && s->eof && s->len == 0 && !s->tty) {
        close(s->fd);
        s->fd = -1;
    }
}

static void sink_add(struct sink *s, const char *data, size_t n)
{
    if (s->fd < 0 || s->eof)
        return;
    if (s->len + n > s->cap) {
        size_t cap = s->cap * 2 > s->len + n ? s->cap * 2 : s->len + n;
        char *buf = realloc(s->buf, cap);
        if (!buf)
            return;
        s->buf = buf;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    sink_flush(s);
}

static void sink_reset(struct sink *s)
{
    if (s->fd >= 0 && !s->tty)
        close(s->fd);
    free(s->buf);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

static void set_window(int master, const char *rows_cols)
{
    unsigned rows, cols;
    if (master >= 0 && sscanf(rows_cols, "%u %u", &rows, &cols) == 2 && rows > 0 && cols > 0) {
        struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        ioctl(master, TIOCSWINSZ, &ws);
    }
}

/* A pty of the guest's devpts for p: the master (non-blocking, for this loop), its slave in *slave. */
static int open_pty(struct process *p, int *slave)
{
    int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    int unlock = 0;
    if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0)
        return -1;
    *slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave < 0) {
        close(master);
        return -1;
    }
    if (p->rows > 0 && p->cols > 0) {
        struct winsize ws = {.ws_row = p->rows, .ws_col = p->cols};
        ioctl(master, TIOCSWINSZ, &ws);
    }
    return master;
}

/* The child's ends for p: a pty's slave (its master in *master), a pipe's read end for stdin (its write end
 * in *input), or /dev/null; -1 when none could be made (errno says why). */
static int child_input(struct process *p, int *master, int *input)
{
    *master = *input = -1;
    if (p->tty) {
        int slave = -1;
        *master = open_pty(p, &slave);
        return *master < 0 ? -1 : slave;
    }
    if (p->open_stdin) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
            return -1;
        fcntl(fds[1], F_SETFL, O_NONBLOCK);
        *input = fds[1];
        return fds[0];
    }
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Entries, each NUL-terminated, each a tag and its value: a arg, e env, c cwd, h hostname, u uid, g gid,
 * G supplementary gid, C capability number to keep (B alone: keep none), L "resource soft hard",
 * N no_new_privs, t a terminal, i stdin open, W "rows cols" (the terminal's first size),
 * n a NIC ("<ifname> <mac> <address> <prefix> <gateway or ->": configure_network), p the file to exec (the
 * host looked args[0] up in the PATH: a walk over 9p costs a round trip per name, on the host it is a stat),
 * T "seconds.nanoseconds" the host's clock, r hex bytes of entropy from the host. */
static void parse_process(char *s, char *end, struct process *p)
{
    memset(p, 0, sizeof *p);
    p->cwd = "/";
    for (; s < end; s += strlen(s) + 1) {
        char *v = s + 1;
        switch (s[0]) {
        case 'a': if (p->nargs < MAX_ENTRIES) p->args[p->nargs++] = v; break;
        case 'e': if (p->nenv < MAX_ENTRIES) p->env[p->nenv++] = v; break;
        case 'c': p->cwd = v; break;
        case 'p': p->exe = v; break;
        case 'h': p->hostname = v; break;
        case 'u': p->uid = (uid_t)strtoul(v, NULL, 10); break;
        case 'g': p->gid = (gid_t)strtoul(v, NULL, 10); break;
        case 'G': if (p->ngroups < 256) p->groups[p->ngroups++] = (gid_t)strtoul(v, NULL, 10); break;
        case 'B': p->keep_caps = 1; break;
        case 'C': if (p->ncaps < 64) p->caps[p->ncaps++] = atoi(v); break;
        case 'N': p->no_new_privs = 1; break;
        case 'n': if (p->nnics < 8) p->nics[p->nnics++] = v; break;
        case 't': p->tty = 1; break;
        case 'i': p->open_stdin = 1; break;
        case 'W': {
            unsigned rows, cols;
            if (sscanf(v, "%u %u", &rows, &cols) == 2) {
                p->rows = (unsigned short)rows;
                p->cols = (unsigned short)cols;
            }
            break;
        }
        case 'T': p->clock = v; break;
        case 'r': p->seed = v; break;
        case 'L':
            if (p->nlimits < 32) {
                unsigned long long soft, hard;
                int res;
                if (sscanf(v, "%d %llu %llu", &res, &soft, &hard) == 3) {
                    p->limits[p->nlimits].resource = res;
                    p->limits[p->nlimits].soft = (rlim_t)soft;
                    p->limits[p->nlimits].hard = (rlim_t)hard;
                    p->nlimits++;
                }
            }
            break;
        }
    }
    p->env[p->nenv] = NULL;
    p->args[p->nargs] = NULL;
}

static void read_process(struct process *p)
{
    uint32_t len;
    char *msg = read_msg(ctl, &len);
    if (!msg || len < 1 || msg[0] != 'P')
        fail(125, "no process description from the host");
    parse_process(msg + 1, msg + len, p);
    if (p->nargs == 0)
        fail(125, "no command to run");
}

/* --- the guest's network (runtime/vm/network.py): each NIC QEMU made on one of the container's taps is
 * found by its MAC (the container's interface's), renamed as that interface (eth0...), given its address
 * and prefix, brought up; the first NIC with a gateway gets the default route; lo is up, as in a process
 * container (main brings it up before a template is saved). Plain ioctls: no netlink, no tools in the image. */
static void ifreq_of(struct ifreq *ifr, const char *name)
{
    memset(ifr, 0, sizeof *ifr);
    snprintf(ifr->ifr_name, IFNAMSIZ, "%s", name);
}

static void set_up(int s, const char *name)
{
    struct ifreq ifr;
    ifreq_of(&ifr, name);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        fail(125, "cannot read the flags of %s: %s", name, strerror(errno));
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        fail(125, "cannot bring %s up: %s", name, strerror(errno));
}

static void set_inet(int s, const char *name, unsigned long request, in_addr_t addr, const char *what)
{
    struct ifreq ifr;
    ifreq_of(&ifr, name);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = addr;
    if (ioctl(s, request, &ifr) < 0)
        fail(125, "cannot set the %s of %s: %s", what, name, strerror(errno));
}

/* Rename the interface whose hardware address is `mac` to `to` (it is down: nothing has used it yet). */
static void rename_nic(int s, struct ifreq *ifr, const char *to, const char *mac_text)
{
    if (strcmp(ifr->ifr_name, to) == 0)
        return;
    snprintf(ifr->ifr_newname, IFNAMSIZ, "%s", to);
    if (ioctl(s, SIOCSIFNAME, ifr) < 0)
        fail(125, "cannot name the NIC %s %s: %s", mac_text, to, strerror(errno));
}

/* The NIC whose MAC is `mac` renamed `to`; or, when there is none and `template` >= 0, the NIC a template guest
 * had as its NIC `template` (runtime/vm/network.py, TEMPLATE_MAC), given `mac` first (it is down: a restored
 * guest's NICs were never up). */
static void rename_by_mac(int s, const unsigned char *mac, const char *to, const char *mac_text, int template)
{
    const unsigned char placeholder[6] = {0x02, 0x63, 0x72, 0x00, 0x00, (unsigned char)template};
    for (int pass = 0; pass < (template >= 0 ? 2 : 1); pass++) {
        for (int index = 1; index < 256; index++) {
            struct ifreq ifr;
            memset(&ifr, 0, sizeof ifr);
            ifr.ifr_ifindex = index;
            if (ioctl(s, SIOCGIFNAME, &ifr) < 0 || ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
                continue;
            if (memcmp(ifr.ifr_hwaddr.sa_data, pass ? placeholder : mac, 6) != 0)
                continue;
            if (pass) {
                memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
                if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0)
                    fail(125, "cannot give the NIC the MAC %s: %s", mac_text, strerror(errno));
            }
            rename_nic(s, &ifr, to, mac_text);
            return;
        }
    }
    fail(125, "no NIC with the MAC %s in the VM", mac_text);
}

static void configure_network(struct process *p)
{
    if (p->nnics == 0)
        return;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        fail(125, "cannot open a socket to configure the network: %s", strerror(errno));
    struct { char ifname[IFNAMSIZ], mac_text[18], address[16], gateway[16]; unsigned char mac[6]; int prefix; } n[8];
    for (int i = 0; i < p->nnics; i++) {
        if (sscanf(p->nics[i], "%15s %17s %15s %d %15s", n[i].ifname, n[i].mac_text, n[i].address, &n[i].prefix,
                   n[i].gateway) != 5 || n[i].prefix < 0 || n[i].prefix > 32 ||
            sscanf(n[i].mac_text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &n[i].mac[0], &n[i].mac[1], &n[i].mac[2],
                   &n[i].mac[3], &n[i].mac[4], &n[i].mac[5]) != 6)
            fail(125, "a NIC the host described badly: %s", p->nics[i]);
    }
    /* two passes: the kernel's names (eth0, eth1...) may be the wanted ones in another order */
    for (int i = 0; i < p->nnics; i++) {
        char temporary[IFNAMSIZ];
        snprintf(temporary, sizeof temporary, "cnic%d", i & 7);
        rename_by_mac(s, n[i].mac, temporary, n[i].mac_text, i);
    }
    for (int i = 0; i < p->nnics; i++) {
        struct in_addr addr;
        if (inet_pton(AF_INET, n[i].address, &addr) != 1)
            fail(125, "a NIC the host described badly: %s", p->nics[i]);
        rename_by_mac(s, n[i].mac, n[i].ifname, n[i].mac_text, -1);
        set_inet(s, n[i].ifname, SIOCSIFADDR, addr.s_addr, "address");
        set_inet(s, n[i].ifname, SIOCSIFNETMASK, n[i].prefix ? htonl(~0u << (32 - n[i].prefix)) : 0, "netmask");
        set_up(s, n[i].ifname);
        if (strcmp(n[i].gateway, "-") == 0)
            continue;
        struct rtentry rt;
        memset(&rt, 0, sizeof rt);
        struct sockaddr_in *gw = (struct sockaddr_in *)&rt.rt_gateway;
        gw->sin_family = AF_INET;
        if (inet_pton(AF_INET, n[i].gateway, &gw->sin_addr) != 1)
            fail(125, "a NIC the host described badly: %s", p->nics[i]);
        ((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
        ((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
        rt.rt_flags = RTF_UP | RTF_GATEWAY;
        rt.rt_dev = n[i].ifname;
        if (ioctl(s, SIOCADDRT, &rt) < 0)
            fail(125, "cannot add the default route via %s: %s", n[i].gateway, strerror(errno));
    }
    close(s);
}

/* The guest's clock set to the host's, and its random pool reseeded: a guest restored from a template would
 * otherwise keep the template's time and generate the same random numbers as every other guest restored from it. */
static void take_host_state(struct process *p)
{
    if (p->clock) {
        struct timespec ts = {0, 0};
        char *dot;
        ts.tv_sec = (time_t)strtoll(p->clock, &dot, 10);
        if (*dot == '.')
            ts.tv_nsec = strtol(dot + 1, NULL, 10);
        if (clock_settime(CLOCK_REALTIME, &ts) < 0)
            fail(125, "cannot set the clock: %s", strerror(errno));
    }
    if (p->seed) {
        static struct { struct rand_pool_info info; unsigned char buf[256]; } e;
        size_t n = 0;
        for (const char *h = p->seed; h[0] && h[1] && n < sizeof e.buf; h += 2) {
            unsigned int byte;
            if (sscanf(h, "%2x", &byte) != 1)
                break;
            e.buf[n++] = (unsigned char)byte;
        }
        e.info.entropy_count = (int)(n * 8);
        e.info.buf_size = (int)n;
        int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
        if (fd < 0 || ioctl(fd, RNDADDENTROPY, &e.info) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0)
            fail(125, "cannot seed the random pool: %s", strerror(errno));
        close(fd);
    }
}

static void mount_or_fail(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
    mkdir(dst, 0755);
    if (mount(src, dst, type, flags, data) < 0)
        fail(125, "cannot mount %s on %s: %s", type, dst, strerror(errno));
}

/* The container's /dev in `dev` (a tmpfs with the usual nodes, devpts, shm), made before the template is saved. */
static void make_dev(const char *dev)
{
    static const struct { const char *name; unsigned major, minor; } nodes[] = {
        {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
    };
    char path[64];
    mount_or_fail("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k");
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dev, nodes[i].name);
        if (mknod(path, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0)
            fail(125, "cannot make %s: %s", path, strerror(errno));
        chmod(path, 0666);
    }
    static const char *const links[][2] = {
        {"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
        {"/proc/self/fd/2", "stderr"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dev, links[i][1]);
        symlink(links[i][0], path);
    }
    snprintf(path, sizeof path, "%s/pts", dev);
    mount_or_fail("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
    snprintf(path, sizeof path, "%s/shm", dev);
    mount_or_fail("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
}

/* A mount made before the template was saved, moved to where the container's root needs it. */
static void move_or_fail(const char *from, const char *to)
{
    mkdir(to, 0755);
    if (mount(from, to, NULL, MS_MOVE, NULL) < 0)
        fail(125, "cannot move %s to %s: %s", from, to, strerror(errno));
}

/* The working directory, made when missing (as runc makes it), by root, before the user changes. */
static void make_cwd(const char *cwd)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", cwd);
    for (char *s = path + 1; *s; s++) {
        if (*s == '/') {
            *s = 0;
            mkdir(path, 0755);
            *s = '/';
        }
    }
    mkdir(path, 0755);
}

/* In a fork: become the process p describes and exec it; why not, on `report` ("<code> <message>"). With a
 * terminal, `in` is its slave, which becomes the controlling terminal of the process's new session. */
static void exec_process(struct process *p, int in, int out, int err, int report)
{
    setsid();
    if (p->tty && ioctl(in, TIOCSCTTY, 0) < 0)
        dprintf(report, "125 cannot take the terminal: %s", strerror(errno)), _exit(125);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        dprintf(report, "125 cannot set up stdio: %s", strerror(errno)), _exit(125);
    for (int i = 0; i < p->nlimits; i++) {
        struct rlimit rl = {p->limits[i].soft, p->limits[i].hard};
        if (setrlimit(p->limits[i].resource, &rl) < 0)
            dprintf(report, "125 cannot set rlimit %d: %s", p->limits[i].resource, strerror(errno)), _exit(125);
    }
    if (p->keep_caps) {
        for (int cap = 0; cap < 64; cap++) {
            int keep = 0;
            for (int i = 0; i < p->ncaps; i++)
                keep |= p->caps[i] == cap;
            if (!keep && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                dprintf(report, "125 cannot drop capability %d: %s", cap, strerror(errno)), _exit(125);
        }
    }
    if (!p->exec)
        make_cwd(p->cwd);
    if (setgroups((size_t)p->ngroups, p->groups) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0)
        dprintf(report, "125 cannot become %u:%u: %s", p->uid, p->gid, strerror(errno)), _exit(125);
    if (chdir(p->cwd) < 0)
        dprintf(report, "126 cannot change to the working directory %s: %s", p->cwd, strerror(errno)), _exit(126);
    if (p->no_new_privs)
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    environ = p->env;
    if (p->exe)
        execv(p->exe, p->args);
    else
        execvp(p->args[0], p->args);
    int code = errno == ENOENT ? 127 : 126;
    dprintf(report, "%d exec: \"%s\": %s", code, p->args[0],
            errno == ENOENT ? "executable file not found in $PATH" : strerror(errno));
    _exit(code);
}

static void exec_command(struct process *p, int in, int out, int err, int report)
{
    /* PID 1 of its own PID namespace: /proc is mounted here, where that namespace is this one's */
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        dprintf(report, "125 cannot mount /proc: %s", strerror(errno)), _exit(125);
    exec_process(p, in, out, err, report);
}

/* Fork and exec p (fork lands in the container's PID namespace: this process unshared it before the
 * command's fork); 0 and the child's pid, or why it could not start in `why`. */
static pid_t spawn(struct process *p, int in, int out, int err, int container, char *why, size_t whylen)
{
    int report[2];
    why[0] = 0;
    if (pipe2(report, O_CLOEXEC) < 0) {
        snprintf(why, whylen, "125 cannot prepare the command: %s", strerror(errno));
        return -1;
    }
    pid_t child = fork();
    if (child < 0) {
        snprintf(why, whylen, "125 cannot fork: %s", strerror(errno));
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (child == 0) {
        close(report[0]);
        if (container)
            exec_command(p, in, out, err, report[1]);
        exec_process(p, in, out, err, report[1]);
    }
    close(report[1]);
    ssize_t n = read(report[0], why, whylen - 1);
    close(report[0]);
    if (n > 0) {
        why[n] = 0;
        int status;
        waitpid(child, &status, 0);
        return -1;
    }
    return child;
}

/* The exec ports (runtime/vm/qemu.py, PORTS) and the exec each runs (one at a time per port; the host's relays
 * take a free port each): its id, pid, output pipes, and status once reaped. */
#define EXECS 4
static const char *const exec_ports[EXECS] = {"/dev/vport0p4", "/dev/vport0p6", "/dev/vport0p7", "/dev/vport0p8"};
static struct exec {
    int port;
    char id[9];
    pid_t pid;
    int out, err, status, reaped;
    struct process p;
    char *msg;
    struct sink in; /* its stdin: a pipe's write end, or the pty's master (then out is the master too) */
} ex[EXECS];

static void end_exec_output(struct exec *e, int *fd)
{
    if (*fd == e->in.fd && e->in.tty)
        e->in.fd = -1;
    close(*fd);
    *fd = -1;
}

static void finish_exec_if_done(struct exec *e)
{
    if (e->pid > 0 && e->reaped && e->out < 0 && e->err < 0) {
        char status[16];
        int n = snprintf(status, sizeof status, "%d", e->status);
        send_frame(e->port, 'w', e->id, status, (size_t)n);
        sink_reset(&e->in); /* input the command never read goes with it */
        e->pid = 0;
        free(e->msg);
        e->msg = NULL;
    }
}

static void start_exec(struct exec *e, char *msg, uint32_t len)
{
    if (e->pid > 0) { /* the host gave up on it: it goes, and so does its output */
        kill(e->pid, SIGKILL);
        if (e->out >= 0)
            end_exec_output(e, &e->out);
        if (e->err >= 0)
            end_exec_output(e, &e->err);
        if (!e->reaped)
            waitpid(e->pid, NULL, 0);
        e->pid = 0;
        free(e->msg);
    }
    sink_reset(&e->in);
    e->msg = msg;
    memcpy(e->id, msg + 1, 8);
    e->id[8] = 0;
    parse_process(msg + 10, msg + len, &e->p);
    e->p.exec = 1;
    int out[2] = {-1, -1}, err[2] = {-1, -1}, master, input;
    char why[2048];
    int in = child_input(&e->p, &master, &input);
    if (in < 0 || (!e->p.tty && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0))) {
        snprintf(why, sizeof why, "125 cannot make the exec's stdio: %s", strerror(errno));
        send_frame(e->port, 'f', e->id, why, strlen(why));
        int made[] = {in, master, input, out[0], out[1], err[0], err[1]};
        for (size_t i = 0; i < sizeof made / sizeof made[0]; i++)
            if (made[i] >= 0)
                close(made[i]);
        return;
    }
    if (e->p.tty)
        out[0] = master, out[1] = in, err[1] = in;
    pid_t child = e->p.nargs ? spawn(&e->p, in, out[1], err[1], 0, why, sizeof why) : -1;
    close(in);
    if (!e->p.tty) {
        close(out[1]);
        close(err[1]);
    }
    if (child < 0) {
        close(out[0]);
        if (err[0] >= 0)
            close(err[0]);
        if (input >= 0)
            close(input);
        if (!why[0])
            snprintf(why, sizeof why, "125 no command to run");
        send_frame(e->port, 'f', e->id, why, strlen(why));
        return;
    }
    e->pid = child;
    e->out = out[0];
    e->err = err[0];
    e->reaped = 0;
    e->in.fd = e->p.tty ? master : input;
    e->in.tty = e->p.tty;
    send_frame(e->port, 'r', e->id, "", 0);
}

static void relay_exec_output(struct exec *e, int *fd, char type)
{
    char buf[65536];
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n > 0)
        send_frame(e->port, type, e->id, buf, (size_t)n);
    else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        end_exec_output(e, fd);
}

/* An exec's input message ('i', 'I' or 'z', after its id) for the exec running on its port now. */
static void exec_input(struct exec *e, char *msg, uint32_t len)
{
    if (e->pid <= 0 || e->reaped || len < 9 || memcmp(msg + 1, e->id, 8) != 0)
        return;
    if (msg[0] == 'i') {
        sink_add(&e->in, msg + 9, len - 9);
    } else if (msg[0] == 'I') {
        e->in.eof = 1;
        sink_flush(&e->in);
    } else if (msg[0] == 'z' && e->in.tty) {
        set_window(e->in.fd, msg + 9);
    }
}

/* One message on an exec's port: a request ('x'), its input, or a signal ('k') for it. 0 once the port ended. */
static int exec_message(struct exec *e)
{
    uint32_t len;
    char *msg = read_msg(e->port, &len);
    if (!msg)
        return 0;
    if (len >= 9 && msg[0] == 'x') {
        start_exec(e, msg, len); /* keeps msg: the exec's process points into it */
        return 1;
    }
    if (msg[0] == 'i' || msg[0] == 'I' || msg[0] == 'z')
        exec_input(e, msg, len);
    else if (len > 9 && msg[0] == 'k' && e->pid > 0 && !e->reaped && memcmp(msg + 1, e->id, 8) == 0)
        kill(e->pid, atoi(msg + 9));
    free(msg);
    return 1;
}

/* The container's command's terminal master (or -1), and its input (a pipe or that master). */
static int cmaster = -1;
static struct sink cin = {.fd = -1};

static void end_container_terminal(void)
{
    close(cmaster);
    if (cin.tty)
        cin.fd = -1;
    cmaster = -1;
}

/* The terminal's output on its way to the stdout port, which is non-blocking: while the host does not read
 * (a client that reads slowly), the output waits here and the master is not read, but this loop runs on
 * (signals, execs, input). */
static char tout[65536];
static size_t tout_len;

static void flush_terminal(int out)
{
    size_t done = 0;
    while (done < tout_len) {
        ssize_t n = write(out, tout + done, tout_len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) { /* the host is gone: the output goes nowhere */
            done = tout_len;
            break;
        }
        done += (size_t)n;
    }
    memmove(tout, tout + done, tout_len - done);
    tout_len -= done;
}

/* Read the terminal when its last output has gone; all of it, waiting for the host, when `drain` (the
 * command exited: nothing else is left to do). */
static void relay_terminal(int out, int drain)
{
    do {
        if (drain && tout_len) {
            struct pollfd w = {.fd = out, .events = POLLOUT};
            poll(&w, 1, -1);
        }
        flush_terminal(out);
        if (tout_len)
            continue;
        ssize_t n = read(cmaster, tout, sizeof tout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) { /* EIO: no process holds the slave any more */
            end_container_terminal();
            return;
        }
        tout_len = (size_t)n;
        flush_terminal(out);
    } while (drain || tout_len == 0);
}

/* One message of the input port; 0 once the host's end is gone (as the end of the input). */
static int container_input(int port)
{
    uint32_t len;
    char *msg = read_msg(port, &len);
    if (!msg) {
        cin.eof = 1;
        sink_flush(&cin);
        return 0;
    }
    if (len >= 1 && msg[0] == 'i') {
        sink_add(&cin, msg + 1, len - 1);
    } else if (len >= 1 && msg[0] == 'I') {
        cin.eof = 1;
        if (cmaster >= 0) /* the session hung up: the command's terminal does too */
            end_container_terminal();
        sink_flush(&cin);
    } else if (len > 1 && msg[0] == 'z') {
        set_window(cmaster, msg + 1);
    }
    free(msg);
    return 1;
}

int main(void)
{
    static struct process p;
    mkdir("/dev", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    ctl = open_port("/dev/vport0p1", O_RDWR);
    if (ctl < 0)
        fail(125, "no control port: %s", strerror(errno));
    int out = open_port("/dev/vport0p2", O_WRONLY);
    int err = open_port("/dev/vport0p3", O_WRONLY);
    int ip = open_port("/dev/vport0p5", O_RDONLY);
    int ports_open = out >= 0 && err >= 0 && ip >= 0;
    for (int i = 0; i < EXECS; i++) {
        ex[i] = (struct exec){.port = open_port(exec_ports[i], O_RDWR), .out = -1, .err = -1, .in = {.fd = -1}};
        ports_open &= ex[i].port >= 0;
    }
    if (!ports_open)
        fail(125, "no output or exec ports: %s", strerror(errno));
    /* What every container needs is made before the host may save a template here: under TCG, kernel code a restored
     * guest runs for the first time is translated afresh (after a restore, bringing lo up took 16 ms, /sys and /dev
     * 12 ms), so a template start runs as little as it can. The 9p root cannot be mounted yet (QEMU does not migrate
     * a mounted 9p export). A fork of the command's process here gained nothing: the kernel code it runs is mostly
     * the exec's, which then translated it instead. */
    mkdir("/stage", 0700);
    mount_or_fail("sysfs", "/stage/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    make_dev("/stage/dev");
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        fail(125, "cannot open a socket to bring lo up: %s", strerror(errno));
    set_up(s, "lo");
    close(s);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0 || unshare(CLONE_NEWPID) < 0)
        fail(125, "cannot prepare the command: %s", strerror(errno));
    send_msg("W");
    read_process(&p);
    take_host_state(&p);

    mount_or_fail("corral-root", "/newroot", "9p", 0, "trans=virtio,version=9p2000.L,msize=262144,cache=mmap");
    move_or_fail("/stage/sys", "/newroot/sys");
    move_or_fail("/stage/dev", "/newroot/dev");
    mkdir("/newroot/proc", 0555);
    if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
        fail(125, "cannot switch to the container's root: %s", strerror(errno));
    if (p.hostname && sethostname(p.hostname, strlen(p.hostname)) < 0)
        fail(125, "cannot set the hostname: %s", strerror(errno));
    configure_network(&p);

    char why[2048];
    int input;
    int in = child_input(&p, &cmaster, &input);
    if (in < 0)
        fail(125, "cannot make the command's stdin or terminal: %s", strerror(errno));
    cin.fd = p.tty ? cmaster : input;
    if (p.tty)
        fcntl(out, F_SETFL, O_NONBLOCK);
    cin.tty = p.tty;
    pid_t child = p.tty ? spawn(&p, in, in, in, 1, why, sizeof why) : spawn(&p, in, out, err, 1, why, sizeof why);
    close(in);
    if (!p.tty)
        close(out);
    close(err);
    if (child < 0) { /* the command never ran: its code and why */
        send_msg("E%s", why);
        power_off();
    }
    send_msg("R");

    for (;;) {
        /* a port is not read while its command's input is queued, so that the host's writer waits instead;
         * fds[6 + 4 * i...] are exec i's: its port, its stdout and stderr, its input */
        struct pollfd fds[6 + 4 * EXECS] = {{.fd = ctl, .events = POLLIN}, {.fd = sfd, .events = POLLIN},
                                            {.fd = cin.len < SINK_FULL ? ip : -1, .events = POLLIN},
                                            {.fd = tout_len ? -1 : cmaster, .events = POLLIN},
                                            {.fd = cin.len ? cin.fd : -1, .events = POLLOUT},
                                            {.fd = tout_len ? out : -1, .events = POLLOUT}};
        for (int i = 0; i < EXECS; i++) {
            struct exec *e = &ex[i];
            fds[6 + 4 * i] = (struct pollfd){.fd = e->in.len < SINK_FULL ? e->port : -1, .events = POLLIN};
            fds[7 + 4 * i] = (struct pollfd){.fd = e->out, .events = POLLIN};
            fds[8 + 4 * i] = (struct pollfd){.fd = e->err, .events = POLLIN};
            fds[9 + 4 * i] = (struct pollfd){.fd = e->in.len ? e->in.fd : -1, .events = POLLOUT};
        }
        if (poll(fds, 6 + 4 * EXECS, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            uint32_t len;
            char *msg = read_msg(ctl, &len);
            if (!msg) /* the host is gone: nothing to report to */
                break;
            if (len > 1 && msg[0] == 'S')
                kill(child, atoi(msg + 1));
            free(msg);
        }
        int host_gone = 0;
        for (int i = 0; i < EXECS; i++) {
            struct exec *e = &ex[i];
            if (fds[6 + 4 * i].revents & (POLLIN | POLLHUP) && !exec_message(e))
                host_gone = 1;
            if (fds[7 + 4 * i].revents && e->out >= 0)
                relay_exec_output(e, &e->out, 'o');
            if (fds[8 + 4 * i].revents && e->err >= 0)
                relay_exec_output(e, &e->err, 'e');
            if (fds[9 + 4 * i].revents)
                sink_flush(&e->in);
        }
        if (host_gone)
            break;
        if (fds[2].revents & (POLLIN | POLLHUP) && !container_input(ip)) {
            close(ip);
            ip = -1;
        }
        if (fds[3].revents && cmaster >= 0)
            relay_terminal(out, 0);
        if (fds[4].revents)
            sink_flush(&cin);
        if (fds[5].revents)
            flush_terminal(out); /* then the master is read again */
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == sizeof si)
                ;
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                if (pid == child) {
                    /* blocking, a port's write returns once QEMU passed the bytes on: when the host reads 'X', the
                     * command's output has left the guest (the host ends QEMU then: runtime/vm/start.py) */
                    if (cmaster >= 0 && fcntl(out, F_SETFL, 0) == 0)
                        relay_terminal(out, 1);
                    send_msg("X%d", status);
                    power_off();
                }
                for (int i = 0; i < EXECS; i++) {
                    if (pid == ex[i].pid) {
                        ex[i].status = status;
                        ex[i].reaped = 1;
                    }
                }
            }
        }
        for (int i = 0; i < EXECS; i++)
            finish_exec_if_done(&ex[i]);
    }
    power_off();
    return 0;
}
