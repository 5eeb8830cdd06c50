/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Go. A handler's http.Client call does not write its request itself: persistConn.roundTrip,
 * on the handler's goroutine, hands it to the connection's writeLoop goroutine, which writes it
 * with Request.write. Two uprobes, one hit each per request, tie the write back to the handler:
 * roundTrip's entry notes which goroutine asked for the *Request (maps/go_requests.bpf.h),
 * Request.write's entry tells the writing goroutine whose it is (maps/go_writers.bpf.h); the send
 * path then reports the handler's goroutine. The agent attaches them by symbol to the
 * executables of Go programs (the uprobe table's go-net/http row, agent/loader/uprobes.c), and
 * sets go_uprobes once they are attached anywhere. Entry probes only: a uretprobe breaks Go's
 * moving stacks.
 */
#ifndef SONDE_RUNTIMES_GO_BPF_H
#define SONDE_RUNTIMES_GO_BPF_H

/*
 * The goroutine whose request goroutine g writes now: a writeLoop goroutine writes the request
 * of the goroutine that asked for it (the send path calls this for a send's record), else g.
 */
static __always_inline __u64 go_request_owner(__u64 g, __u64 ts)
{
	struct sonde_go_owner *w = bpf_map_lookup_elem(&go_writers, &g);

	return w && w->ts_ns <= ts ? w->g : g;
}

/* net/http.(*persistConn).roundTrip(pc, req *transportRequest): req's first field is the
 * *Request (an embedded pointer) that writeLoop will write. */
SEC("uprobe")
int sonde_go_round_trip(struct pt_regs *ctx)
{
	struct sonde_go_owner o = { .g = GO_UPROBE_G(ctx), .ts_ns = bpf_ktime_get_ns() };
	__u64 treq = GO_UPROBE_ARG1(ctx), req = 0;

	if (!o.g || !treq || bpf_probe_read_user(&req, sizeof(req), (void *)treq) || !req)
		return 0;
	bpf_map_update_elem(&go_requests, &req, &o, BPF_ANY);
	return 0;
}

/* net/http.(*Request).write(r, ...), on the writing goroutine. */
SEC("uprobe")
int sonde_go_request_write(struct pt_regs *ctx)
{
	__u64 g = GO_UPROBE_G(ctx), r = GO_UPROBE_ARG0(ctx);
	struct sonde_go_owner *o;

	if (!g || !r)
		return 0;
	o = bpf_map_lookup_elem(&go_requests, &r);
	if (o)
		bpf_map_update_elem(&go_writers, &g, o, BPF_ANY);
	else
		bpf_map_delete_elem(&go_writers, &g); /* a request of nobody we know */
	return 0;
}

#endif /* SONDE_RUNTIMES_GO_BPF_H */
