/*
 * The guest's PID 1 for --isolation=vm (corral/runtime/vm/): built static by setup.sh, loaded as the
 * only file of an initramfs.
 *
 * It mounts the container's root filesystem, which the host shares over 9p (the same overlay the
 * process backend mounts, mounted by the host in QEMU's own mount namespace), makes it the guest's
 * root, and runs the container's command in a PID namespace of its own (so the command is PID 1, as
 * in a process container: a signal it has no handler for is ignored, as docker users expect).
 *
 * Three virtio-serial ports connect it to the host's runtime (numbers fixed by the QEMU command line):
 *   /dev/vport0p1  control, both ways: framed messages, a little-endian u32 length, then the payload.
 *                  host -> guest: 'P' the process (NUL-separated entries, see read_process), 'S<n>' a signal.
 *                  guest -> host: 'W' the init waits for its process (a template is saved here: vm/template.py),
 *                  'R' the command runs, 'E<code> <message>' it could not be started,
 *                  'X<wait status>' it exited.
 *   /dev/vport0p2  the command's stdout      /dev/vport0p3  its stderr
 *   /dev/vport0p4  exec, both ways, framed the same, each message a type letter and the exec's 8-character id:
 *                  host -> guest: 'x' id, NUL, the process's entries (as 'P'); 'k' id and a signal number.
 *                  guest -> host: 'r' id (it runs), 'f' id "<code> <message>" (it could not start), 'o' id and
 *                  stdout bytes, 'e' id and stderr bytes, 'w' id and its wait status (once its output ended).
 *                  One exec at a time: a request while one runs kills the old one (the host serializes them).
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
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
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
    char *cwd, *hostname;
    uid_t uid;
    gid_t gid;
    gid_t groups[256];
    int ngroups;
    int caps[64];
    int ncaps, keep_caps;
    struct { int resource; rlim_t soft, hard; } limits[32];
    int nlimits;
    int no_new_privs;
    char *clock, *seed; /* the host's time and fresh entropy: a guest restored from a template has neither */
};

/* Entries, each NUL-terminated, each a tag and its value: a arg, e env, c cwd, h hostname, u uid, g gid,
 * G supplementary gid, C capability number to keep (B alone: keep none), L "resource soft hard",
 * N no_new_privs, T "seconds.nanoseconds" the host's clock, r hex bytes of entropy from the host. */
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
        case 'h': p->hostname = v; break;
        case 'u': p->uid = (uid_t)strtoul(v, NULL, 10); break;
        case 'g': p->gid = (gid_t)strtoul(v, NULL, 10); break;
        case 'G': if (p->ngroups < 256) p->groups[p->ngroups++] = (gid_t)strtoul(v, NULL, 10); break;
        case 'B': p->keep_caps = 1; break;
        case 'C': if (p->ncaps < 64) p->caps[p->ncaps++] = atoi(v); break;
        case 'N': p->no_new_privs = 1; break;
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

static void make_dev(void)
{
    static const struct { const char *name; unsigned major, minor; } nodes[] = {
        {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
    };
    mount_or_fail("tmpfs", "/newroot/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k");
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/newroot/dev/%s", nodes[i].name);
        if (mknod(path, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0)
            fail(125, "cannot make %s: %s", path, strerror(errno));
        chmod(path, 0666);
    }
    mount_or_fail("devpts", "/newroot/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
    symlink("pts/ptmx", "/newroot/dev/ptmx");
    mount_or_fail("shm", "/newroot/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
    symlink("/proc/self/fd", "/newroot/dev/fd");
    symlink("/proc/self/fd/0", "/newroot/dev/stdin");
    symlink("/proc/self/fd/1", "/newroot/dev/stdout");
    symlink("/proc/self/fd/2", "/newroot/dev/stderr");
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

/* In a fork: become the process p describes and exec it; why not, on `report` ("<code> <message>"). */
static void exec_process(struct process *p, int out, int err, int report)
{
    setsid();
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
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
    execvp(p->args[0], p->args);
    int code = errno == ENOENT ? 127 : 126;
    dprintf(report, "%d exec: \"%s\": %s", code, p->args[0],
            errno == ENOENT ? "executable file not found in $PATH" : strerror(errno));
    _exit(code);
}

static void exec_command(struct process *p, int out, int err, int report)
{
    /* PID 1 of its own PID namespace: /proc is mounted here, where that namespace is this one's */
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        dprintf(report, "125 cannot mount /proc: %s", strerror(errno)), _exit(125);
    exec_process(p, out, err, report);
}

/* Fork and exec p (fork lands in the container's PID namespace: this process unshared it before the
 * command's fork); 0 and the child's pid, or why it could not start in `why`. */
static pid_t spawn(struct process *p, int out, int err, int container, char *why, size_t whylen)
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
            exec_command(p, out, err, report[1]);
        exec_process(p, out, err, report[1]);
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

/* The exec running now (one at a time): its id, pid, output pipes, and status once reaped. */
static struct {
    char id[9];
    pid_t pid;
    int out, err, status, reaped;
    struct process p;
    char *msg;
} ex = {.out = -1, .err = -1};

static void end_exec_output(int *fd)
{
    close(*fd);
    *fd = -1;
}

static void finish_exec_if_done(int port)
{
    if (ex.pid > 0 && ex.reaped && ex.out < 0 && ex.err < 0) {
        char status[16];
        int n = snprintf(status, sizeof status, "%d", ex.status);
        send_frame(port, 'w', ex.id, status, (size_t)n);
        ex.pid = 0;
        free(ex.msg);
        ex.msg = NULL;
    }
}

static void start_exec(int port, char *msg, uint32_t len)
{
    if (ex.pid > 0) { /* the host gave up on it: it goes, and so does its output */
        kill(ex.pid, SIGKILL);
        if (ex.out >= 0)
            end_exec_output(&ex.out);
        if (ex.err >= 0)
            end_exec_output(&ex.err);
        if (!ex.reaped)
            waitpid(ex.pid, NULL, 0);
        ex.pid = 0;
        free(ex.msg);
    }
    ex.msg = msg;
    memcpy(ex.id, msg + 1, 8);
    ex.id[8] = 0;
    parse_process(msg + 10, msg + len, &ex.p);
    int out[2], err[2];
    char why[2048];
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        snprintf(why, sizeof why, "125 cannot make pipes: %s", strerror(errno));
        send_frame(port, 'f', ex.id, why, strlen(why));
        return;
    }
    pid_t child = ex.p.nargs ? spawn(&ex.p, out[1], err[1], 0, why, sizeof why) : -1;
    close(out[1]);
    close(err[1]);
    if (child < 0) {
        close(out[0]);
        close(err[0]);
        if (!why[0])
            snprintf(why, sizeof why, "125 no command to run");
        send_frame(port, 'f', ex.id, why, strlen(why));
        return;
    }
    ex.pid = child;
    ex.out = out[0];
    ex.err = err[0];
    ex.reaped = 0;
    send_frame(port, 'r', ex.id, "", 0);
}

static void relay_exec_output(int port, int *fd, char type)
{
    char buf[65536];
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n > 0)
        send_frame(port, type, ex.id, buf, (size_t)n);
    else if (n == 0 || errno != EINTR)
        end_exec_output(fd);
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
    int xp = open_port("/dev/vport0p4", O_RDWR);
    if (out < 0 || err < 0 || xp < 0)
        fail(125, "no output or exec ports: %s", strerror(errno));
    send_msg("W");
    read_process(&p);
    take_host_state(&p);

    mount_or_fail("corral-root", "/newroot", "9p", 0, "trans=virtio,version=9p2000.L,msize=262144,cache=mmap");
    mount_or_fail("sysfs", "/newroot/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mkdir("/newroot/proc", 0555);
    make_dev();
    if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
        fail(125, "cannot switch to the container's root: %s", strerror(errno));
    if (p.hostname && sethostname(p.hostname, strlen(p.hostname)) < 0)
        fail(125, "cannot set the hostname: %s", strerror(errno));

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0 || unshare(CLONE_NEWPID) < 0)
        fail(125, "cannot prepare the command: %s", strerror(errno));
    char why[2048];
    pid_t child = spawn(&p, out, err, 1, why, sizeof why);
    close(out);
    close(err);
    if (child < 0) { /* the command never ran: its code and why */
        send_msg("E%s", why);
        power_off();
    }
    send_msg("R");

    for (;;) {
        struct pollfd fds[5] = {{.fd = ctl, .events = POLLIN}, {.fd = sfd, .events = POLLIN},
                                {.fd = xp, .events = POLLIN}, {.fd = ex.out, .events = POLLIN},
                                {.fd = ex.err, .events = POLLIN}};
        if (poll(fds, 5, -1) < 0) {
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
        if (fds[2].revents & (POLLIN | POLLHUP)) {
            uint32_t len;
            char *msg = read_msg(xp, &len);
            if (!msg)
                break;
            if (len >= 9 && msg[0] == 'x') {
                start_exec(xp, msg, len);
            } else {
                if (len > 9 && msg[0] == 'k' && ex.pid > 0 && !ex.reaped && memcmp(msg + 1, ex.id, 8) == 0)
                    kill(ex.pid, atoi(msg + 9));
                free(msg);
            }
        }
        if (fds[3].revents && ex.out >= 0)
            relay_exec_output(xp, &ex.out, 'o');
        if (fds[4].revents && ex.err >= 0)
            relay_exec_output(xp, &ex.err, 'e');
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == sizeof si)
                ;
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                if (pid == child) {
                    send_msg("X%d", status);
                    power_off();
                }
                if (pid == ex.pid) {
                    ex.status = status;
                    ex.reaped = 1;
                }
            }
        }
        finish_exec_if_done(xp);
    }
    power_off();
    return 0;
}
