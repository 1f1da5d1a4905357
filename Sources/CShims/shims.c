#include <sched.h>
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
