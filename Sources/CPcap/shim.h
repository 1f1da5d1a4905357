#ifndef HOPSCOPE_CPCAP_SHIM_H
#define HOPSCOPE_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif
