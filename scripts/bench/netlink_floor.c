// Benchmark floor (not part of Hopscope): the same rtnetlink dumps Hopscope's inventory makes
// (links, addresses, routes of every table, rules, neighbours, bridge FDB, namespace ids), in
// every namespace named on the command line, with libmnl, in C, on one thread. Each message's
// attributes are parsed and validated with mnl_attr_parse, so the floor does real decoding work.
//
// usage: netlink_floor NS...    prints: floor_ms=<ms> floor_cpu_ms=<ms> namespaces=<n> messages=<n> attributes=<n>
#define _GNU_SOURCE
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <linux/fib_rules.h>
#include <sched.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long messages, attributes;

static double cpu_ms(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int attr_cb(const struct nlattr *attr, void *data) {
    (void)data;
    if (mnl_attr_type_valid(attr, 0xFFFF) < 0) return MNL_CB_ERROR;
    attributes++;
    return MNL_CB_OK;
}

static int msg_cb(const struct nlmsghdr *nlh, void *data) {
    size_t header = *(size_t *)data;
    messages++;
    return mnl_attr_parse(nlh, header, attr_cb, NULL) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int dump(struct mnl_socket *nl, char *buf, size_t bufsize, int type, int family, size_t header) {
    static unsigned seq = 1;
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = ++seq;
    unsigned char *h = mnl_nlmsg_put_extra_header(nlh, header);
    h[0] = family;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) return -1;
    unsigned portid = mnl_socket_get_portid(nl);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, bufsize);
        if (n < 0) return -1;
        int r = mnl_cb_run(buf, n, seq, portid, msg_cb, &header);
        if (r == MNL_CB_STOP) return 0;
        if (r < 0) return -1;
    }
}

int main(int argc, char **argv) {
    size_t bufsize = 1 << 16;
    char *buf = malloc(bufsize);
    struct timespec t0, t1;
    double cpu0 = cpu_ms();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 1; i < argc; i++) {
        char path[512];
        snprintf(path, sizeof path, "/run/netns/%s", argv[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) { perror(path); return 2; }
        close(fd);
        struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
        if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) { perror("mnl_socket"); return 2; }
        if (dump(nl, buf, bufsize, RTM_GETLINK, AF_UNSPEC, sizeof(struct ifinfomsg)) < 0 ||
            dump(nl, buf, bufsize, RTM_GETADDR, AF_UNSPEC, sizeof(struct ifaddrmsg)) < 0 ||
            dump(nl, buf, bufsize, RTM_GETROUTE, AF_UNSPEC, sizeof(struct rtmsg)) < 0 ||
            dump(nl, buf, bufsize, RTM_GETRULE, AF_UNSPEC, sizeof(struct fib_rule_hdr)) < 0 ||
            dump(nl, buf, bufsize, RTM_GETNEIGH, AF_UNSPEC, sizeof(struct ndmsg)) < 0 ||
            dump(nl, buf, bufsize, RTM_GETNEIGH, AF_BRIDGE, sizeof(struct ndmsg)) < 0 ||
            dump(nl, buf, bufsize, RTM_GETNSID, AF_UNSPEC, sizeof(struct rtgenmsg)) < 0) {
            perror(argv[i]);
            return 2;
        }
        mnl_socket_close(nl);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double cpu = cpu_ms() - cpu0;
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("floor_ms=%.1f floor_cpu_ms=%.1f namespaces=%d messages=%ld attributes=%ld\n", ms, cpu, argc - 1, messages, attributes);
    return 0;
}
