/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every setting of the BPF side in one place. The read-only ones (const volatile) are written
 * by the agent between open and load, so the verifier sees them as constants and prunes what
 * they switch off; the others are the few words the agent and the programs share while running.
 */
#ifndef SONDE_SETTINGS_BPF_H
#define SONDE_SETTINGS_BPF_H

/* Settings, written by the agent between open and load. */
const volatile __u32 self_tgid = 0;			/* the agent: never traced */
const volatile __u32 capture_bytes = SONDE_PAYLOAD_DEFAULT; /* payload copied per record */
const volatile __u32 run_captures = SONDE_RUN_CAPTURES_DEFAULT; /* records per run at most */
const volatile __u8 filter_pids = 0;			/* trace only tgids in pid_filter */
const volatile __u8 filter_ports = 0;			/* trace only ports in port_filter */
const volatile __u64 wakeup_bytes = SONDE_RING_BYTES / 4; /* wake the agent past this much data */
/* Which directions the syscall fallback captures: the probe table picks per capability. */
const volatile __u8 sys_send = 0;			/* sends through raw_tp/sys_enter+exit */
const volatile __u8 sys_recv = 0;			/* receives through raw_tp/sys_enter+exit */
/* --propagation header: ids decided here, traceparent injected (socket tracepoints only). */
const volatile __u8 header_mode = 0;
/* --propagation tcp: ids decided here, carried in a TCP option (socket tracepoints only). */
const volatile __u8 tcp_mode = 0;
/* --tcp-option-to: only connections to the ranges in tcpopt_dests carry the option. */
const volatile __u8 tcpopt_dest_filter = 0;
/* --tcp-option-hold: how long a destination whose option segments are lost goes without. */
const volatile __u64 tcpopt_hold_ns = 300ULL * 1000000000ULL;
/* --http-responses status: final HTTP/1.x responses summarized, not recorded (sonde_event.h). */
const volatile __u8 http1_summaries = 0;
/* Both directions on the socket tracepoints: a thread's response notes live in its task storage
 * (resp_notes_task), not in the fallback's hash, which both directions must share otherwise. */
const volatile __u8 task_notes = 0;
/* --sample-ratio: a trace is sampled when its id's last 56 bits, big-endian, are at least this;
 * 0 samples all. Only the W3C sampled flag of a trace the kernel starts or joins by TCP option
 * depends on it: the agent drops the spans. */
const volatile __u64 sample_threshold = 0;

/* Connection ids: unique for the life of this BPF object (the agent's life). */
__u64 next_conn_id = 0;
/* The port of the agent's own TCP-option self-test listener while it runs: the one connection of
 * the agent's that carries the option. */
__u16 selftest_port = 0;
/* Bumped by the agent after each write to conn_policy: a connection looks there only when it
 * changed since it last looked (maps/conn_policy.bpf.h), not at every run. */
__u32 conn_policy_gen = 0;
/* Set by the sockops program once some peer sent this host a sonde option (tcpopt_peers): until
 * then a server request cannot be missing one, and its read skips that look. */
__u8 tcpopt_peer_seen = 0;
/* Set by the agent once it attached the Go net/http uprobes to some program (runtimes/go.bpf.h). */
__u8 go_uprobes = 0;
/* Set by the agent once it attached a TLS library's uprobes to some file (tls.bpf.h). */
__u8 tls_uprobes = 0;
/* ... and Go's crypto/tls uprobes to some program (tls.bpf.h). */
__u8 go_tls_uprobes = 0;
/* Set by the agent when its drains found nothing for a while and it polls rarely (agent/main.c):
 * the next record wakes it, and clears this, so traffic after a quiet stretch is not left
 * waiting for the slow poll nor taken in one burst. */
__u32 agent_quiet = 0;

#endif /* SONDE_SETTINGS_BPF_H */
