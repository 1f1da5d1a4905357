#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <spawn.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "CShims.h"

int hs_setns(int fd, int nstype) { return setns(fd, nstype); }
int hs_unshare(int flags) { return unshare(flags); }
int hs_clone_newnet(void) { return CLONE_NEWNET; }
int hs_clone_newns(void) { return CLONE_NEWNS; }
int hs_clone_fs(void) { return CLONE_FS; }
pid_t hs_gettid(void) { return gettid(); }
int hs_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
int hs_posix_spawn_setsid(void) { return POSIX_SPAWN_SETSID; }
int hs_tun_attach(int fd, const char *name) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    return ioctl(fd, TUNSETIFF, &ifr);
}
