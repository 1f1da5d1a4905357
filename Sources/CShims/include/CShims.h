#ifndef HOPSCOPE_CSHIMS_H
#define HOPSCOPE_CSHIMS_H
#include <sys/types.h>

/// setns(2) needs _GNU_SOURCE, which Swift's Glibc import does not define.
int hs_setns(int fd, int nstype);
/// unshare(2) needs _GNU_SOURCE, which Swift's Glibc import does not define.
int hs_unshare(int flags);
/// CLONE_NEWNET is only declared under _GNU_SOURCE.
int hs_clone_newnet(void);
/// CLONE_NEWNS is only declared under _GNU_SOURCE.
int hs_clone_newns(void);
/// CLONE_FS is only declared under _GNU_SOURCE.
int hs_clone_fs(void);
/// gettid(2) is only declared under _GNU_SOURCE.
pid_t hs_gettid(void);
/// prctl(2) is variadic, which Swift cannot call: makes this process a child subreaper.
int hs_set_child_subreaper(void);
/// POSIX_SPAWN_SETSID is only declared under _GNU_SOURCE.
int hs_posix_spawn_setsid(void);
/// ioctl(2) is variadic and struct ifreq a union, which Swift cannot use: attaches `fd` (an open
/// /dev/net/tun) to the tap device `name` (IFF_TAP | IFF_NO_PI), creating it if it does not exist.
int hs_tun_attach(int fd, const char *name);
#endif
