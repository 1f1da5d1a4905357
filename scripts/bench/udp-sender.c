/* udp-sender: sends fixed-size UDP datagrams at a paced rate for a bounded time, for the
 * live-capture benchmark (scripts/bench/capture.sh). Runs only inside the benchmark's own
 * namespaces; stops after DURATION seconds or COUNT packets, whichever comes first.
 *
 * usage: udp-sender DST_IP FRAME_BYTES RATE_PPS DURATION_S
 * prints: sent=N seconds=S rate=R
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s DST_IP FRAME_BYTES RATE_PPS DURATION_S\n", argv[0]); return 2; }
    const char *dst = argv[1];
    int frame = atoi(argv[2]);
    double rate = atof(argv[3]);
    double duration = atof(argv[4]);
    /* Ethernet 14 + IPv4 20 + UDP 8 around the payload. */
    int payload = frame - 42;
    if (payload < 1 || payload > 8950 || rate <= 0 || duration <= 0 || duration > 60) { fprintf(stderr, "bad arguments\n"); return 2; }
    long limit = (long)(rate * duration);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) { perror("socket"); return 1; }
    int sndbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(9) };
    if (inet_pton(AF_INET, dst, &sa.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", dst); return 2; }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }

    enum { BATCH = 16 };
    static char buf[BATCH][9000];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        memset(buf[i], 'h', payload);
        iov[i].iov_base = buf[i];
        iov[i].iov_len = payload;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0;
    double start = now(), end = start + duration;
    while (sent < limit) {
        double t = now();
        if (t >= end) break;
        /* Packets due by now, sent in batches; a sequence number makes every payload distinct. */
        long due = (long)((t - start) * rate) + 1;
        if (due > limit) due = limit;
        if (sent >= due) {
            /* Ahead of schedule: sleep until the next batch is due rather than spin, leaving the
             * CPU to the captures being measured. */
            double wait = (sent + BATCH) / rate - (t - start);
            if (wait > 20e-6) {
                struct timespec ts = { 0, (long)(wait * 1e9) };
                nanosleep(&ts, NULL);
            }
            continue;
        }
        int n = due - sent > BATCH ? BATCH : (int)(due - sent);
        for (int i = 0; i < n; i++) memcpy(buf[i], &(long){sent + i}, sizeof(long));
        int r = sendmmsg(fd, msgs, n, 0);
        if (r > 0) sent += r;
    }
    double elapsed = now() - start;
    printf("sent=%ld seconds=%.3f rate=%.0f\n", sent, elapsed, sent / elapsed);
    return 0;
}
