#ifndef HOPSCOPE_CMNL_SHIM_H
#define HOPSCOPE_CMNL_SHIM_H
/* glibc's socket headers first: linux/libc-compat.h then leaves in6_addr and sockaddr_in6 to
   glibc, so this module and SwiftGlibc do not define them twice (Swift rejects the clash). */
#include <sys/socket.h>
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/fib_rules.h>
#include <linux/if_bridge.h>
#include <linux/net_namespace.h>
#include <linux/veth.h>
#include <linux/if_tunnel.h>

/// MNL_SOCKET_BUFFER_SIZE is a function-like macro (it calls getpagesize), which Swift cannot import.
static inline size_t hs_mnl_socket_buffer_size(void) { return MNL_SOCKET_BUFFER_SIZE; }
#endif
