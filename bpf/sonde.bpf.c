// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sonde's one BPF object: every program the agent may load, so that one skeleton (sonde.skel.h)
 * carries them all and the agent's probe table picks which ones load on this kernel. The code
 * lives in headers, one per role; this file only puts them together, in the order their calls
 * need:
 *
 *   settings.bpf.h       every const volatile setting, and the words shared with the agent
 *   maps/                one map per header: key → value, who writes, who deletes
 *   common.bpf.h         constants, counters, ring reserve/submit, the record head
 *   core_fixes.bpf.h     kernel drift, each workaround naming the change it covers
 *   runtimes/go.bpf.h    Go: the net/http client hand-off uprobes
 *   runtimes/grpc_go.bpf.h  ... and grpc-go's stream hand-offs
 *   inject.bpf.h         header propagation: server ids, sk_msg injection, its sockops
 *   tcp_option.bpf.h     TCP-option propagation: the sockops side and the I/O path's part
 *   capture.bpf.h        the socket I/O path: run state, data records, response summaries
 *   h2_frames.bpf.h      ... and HTTP/2's: every I/O walked frame by frame (capture.bpf.h's)
 *   tls.bpf.h            ... and TLS: plaintext from the library's uprobes (capture.bpf.h's)
 *   fallback.bpf.h       the same I/O path from the syscalls, for kernels before 6.3
 *   lifecycle.bpf.h      TCP state changes, thread creation, process start (exec)
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sonde_event.h"
#include "settings.bpf.h"

#include "maps/conn_policy.bpf.h"
#include "maps/conns.bpf.h"
#include "maps/counters.bpf.h"
#include "maps/find_scratch.bpf.h"
#include "maps/go_requests.bpf.h"
#include "maps/go_tls_calls.bpf.h"
#include "maps/go_writers.bpf.h"
#include "maps/grpc_items.bpf.h"
#include "maps/grpc_readers.bpf.h"
#include "maps/head_scratch.bpf.h"
#include "maps/out_socks.bpf.h"
#include "maps/pid_filter.bpf.h"
#include "maps/port_filter.bpf.h"
#include "maps/procs_seen.bpf.h"
#include "maps/resp_notes.bpf.h"
#include "maps/resp_notes_task.bpf.h"
#include "maps/rings.bpf.h"
#include "maps/sending.bpf.h"
#include "maps/serving.bpf.h"
#include "maps/syscall_io.bpf.h"
#include "maps/tcp_rx.bpf.h"
#include "maps/tcp_tx.bpf.h"
#include "maps/tcpopt_dests.bpf.h"
#include "maps/tcpopt_paths.bpf.h"
#include "maps/tcpopt_peers.bpf.h"
#include "maps/prop_skip.bpf.h"
#include "maps/tls_socks.bpf.h"
#include "maps/tls_threads.bpf.h"
#include "maps/walk_scratch.bpf.h"

#include "common.bpf.h"
#include "core_fixes.bpf.h"
#include "syscall_args.bpf.h"
#include "http_head.bpf.h"

#include "runtimes/go.bpf.h"
#include "runtimes/grpc_go.bpf.h"
#include "inject.bpf.h"
#include "tcp_option.bpf.h"
#include "capture.bpf.h"
#include "fallback.bpf.h"
#include "lifecycle.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
