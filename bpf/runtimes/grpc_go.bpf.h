/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * grpc-go. A server reads every stream's frames on the transport's reader goroutine and runs
 * each handler on a goroutine of its own; a client's call is written by the transport's writer
 * goroutine (loopyWriter). So the goroutine the kernel sees at a stream's I/O is never the one
 * that runs its code, and the calls a handler makes would not find the request it serves. Six
 * entry probes, one hit each per stream or connection, say who is whose (SONDE_EV_GO_STREAM;
 * the first three also say when a goroutine began to read a connection, since a g is reused):
 *
 *   (*Server).handleRawConn(s, addr, conn)    the goroutine that accepts conn (and reads
 *                                             its preface: maybe its first requests too)
 *   (*Server).serveStreams(s, ctx, t, conn)   ... is the one of server transport t
 *   (*http2Server).HandleStreams(t, ...)      reader goroutine of server transport t
 *   (*Server).handleStream(s, t, stream)      handler goroutine of stream: a SERVE record
 *   (*http2Client).NewStream's call of        the goroutine that queued a new client
 *     (*controlBuffer).executeAndPut(c, f, it)  stream's headers, it
 *   (*loopyWriter).clientHeaderHandler(l, h)  the writer opens client stream h.streamID for
 *     (headerHandler in older releases)     the goroutine that queued h: an OPEN record
 *
 * Stream ids sit in structures whose layout changes between grpc-go releases: the agent reads
 * their offsets from the program's DWARF and passes them as each probe's cookie
 * (agent/loader/go_dwarf.c). handleStream's cookie: bits 0-15 the offset of the id, or of a
 * pointer to the structure that holds it when bit 16 is set, then at the offset in bits 32-47.
 */
#ifndef SONDE_RUNTIMES_GRPC_GO_BPF_H
#define SONDE_RUNTIMES_GRPC_GO_BPF_H

#define GRPC_COOKIE_DEREF (1ULL << 16)

/* A SERVE or OPEN record; r gives a SERVE's readers. */
static __always_inline void grpc_stream_record(__u64 g, __u64 io_g, __u32 stream, __u16 role,
					       const struct sonde_grpc_readers *r, __u64 ts)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct sonde_go_stream_event *ev;
	void *ring;

	/*
	 * Not for a process sonde does not trace; but a ROLE goes in any case: an accepting
	 * goroutine takes its role before the connection's first read, and that read may be the
	 * first I/O of the process sonde sees (which makes it traced).
	 */
	if (role != SONDE_GO_STREAM_ROLE && !bpf_map_lookup_elem(&procs_seen, &tgid))
		return;
	ev = ring_reserve(&ring, sizeof(*ev));
	if (!ev)
		return;
	fill_head(&ev->head, 0, ts, tgid, (__u32)pid_tgid, SONDE_EV_GO_STREAM, SONDE_DIR_NONE);
	ev->g = g;
	ev->io_g = r ? r->reader : io_g;
	ev->first_g = r ? r->first : 0;
	ev->io_since = r ? r->reader_since : 0;
	ev->first_since = r ? r->first_since : 0;
	ev->stream = stream;
	ev->role = role;
	ev->pad0 = 0;
	ring_submit(ring, ev);
}

/* Goroutine g reads a server connection from ts on (SONDE_GO_STREAM_ROLE). */
static __always_inline void grpc_role_record(__u64 g, __u64 ts)
{
	grpc_stream_record(g, 0, 0, SONDE_GO_STREAM_ROLE, NULL, ts);
}

/* handleRawConn(s, lisAddr string, rawConn net.Conn): rawConn's data word. */
SEC("uprobe")
int sonde_grpc_accept(struct pt_regs *ctx)
{
	struct sonde_grpc_acceptor a = { .g = GO_UPROBE_G(ctx), .since = bpf_ktime_get_ns() };
	__u64 conn = GO_UPROBE_ARG4(ctx);

	if (!conn || !a.g)
		return 0;
	bpf_map_update_elem(&grpc_conns, &conn, &a, BPF_ANY);
	grpc_role_record(a.g, a.since);
	return 0;
}

/* serveStreams(s, ctx, st ServerTransport, rawConn net.Conn): st's and rawConn's data words. */
SEC("uprobe")
int sonde_grpc_serve_conn(struct pt_regs *ctx)
{
	__u64 t = GO_UPROBE_ARG4(ctx), conn = GO_UPROBE_ARG6(ctx);
	struct sonde_grpc_readers r = { .reader = GO_UPROBE_G(ctx) };
	struct sonde_grpc_acceptor *first;

	if (!t || !conn || !r.reader || !(first = bpf_map_lookup_elem(&grpc_conns, &conn)))
		return 0;
	r.first = first->g;
	r.first_since = first->since;
	r.reader_since = bpf_ktime_get_ns();
	bpf_map_update_elem(&grpc_readers, &t, &r, BPF_ANY);
	bpf_map_delete_elem(&grpc_conns, &conn);
	grpc_role_record(r.reader, r.reader_since);
	return 0;
}

/* (*http2Server).HandleStreams(t, ...), on the goroutine that reads t from now on. */
SEC("uprobe")
int sonde_grpc_reader(struct pt_regs *ctx)
{
	__u64 t = GO_UPROBE_ARG0(ctx), g = GO_UPROBE_G(ctx);
	struct sonde_grpc_readers r = { .reader = g }, *known;

	if (!t || !g)
		return 0;
	known = bpf_map_lookup_elem(&grpc_readers, &t);
	if (known && known->reader == g)
		return 0; /* serveStreams said so, with the accepting goroutine */
	r.reader_since = bpf_ktime_get_ns();
	bpf_map_update_elem(&grpc_readers, &t, &r, BPF_ANY);
	grpc_role_record(g, r.reader_since);
	return 0;
}

/* handleStream(s *Server, t ServerTransport, stream): t's data word is the *http2Server. */
SEC("uprobe")
int sonde_grpc_handle(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), g = GO_UPROBE_G(ctx);
	__u64 t = GO_UPROBE_ARG2(ctx), p = GO_UPROBE_ARG3(ctx);
	struct sonde_grpc_readers none = {}, *r;
	__u32 id = 0;

	if (!g || !p)
		return 0;
	p += cookie & 0xffff;
	if ((cookie & GRPC_COOKIE_DEREF) &&
	    (bpf_probe_read_user(&p, sizeof(p), (void *)p) || !p))
		return 0;
	p += (cookie >> 32) & 0xffff;
	if (bpf_probe_read_user(&id, sizeof(id), (void *)p) || !id)
		return 0;
	r = bpf_map_lookup_elem(&grpc_readers, &t);
	grpc_stream_record(g, 0, id, SONDE_GO_STREAM_SERVE, r ? r : &none, bpf_ktime_get_ns());
	return 0;
}

/* At NewStream's call of executeAndPut(c, f func() bool, it cbItem): its arguments are in
 * place, and it's data word is the headers item. */
SEC("uprobe")
int sonde_grpc_put(struct pt_regs *ctx)
{
	struct sonde_go_owner o = { .g = GO_UPROBE_G(ctx), .ts_ns = bpf_ktime_get_ns() };
	__u64 it = GO_UPROBE_ARG3(ctx);

	if (o.g && it)
		bpf_map_update_elem(&grpc_items, &it, &o, BPF_ANY);
	return 0;
}

/* clientHeaderHandler(l, h) / headerHandler(l, h): on the writer goroutine; the cookie is the
 * offset of h's stream id. */
SEC("uprobe")
int sonde_grpc_open(struct pt_regs *ctx)
{
	__u64 h = GO_UPROBE_ARG1(ctx), g = GO_UPROBE_G(ctx);
	struct sonde_go_owner *o;
	__u32 id = 0;

	if (!h || !g)
		return 0;
	o = bpf_map_lookup_elem(&grpc_items, &h);
	if (!o)
		return 0;
	if (!bpf_probe_read_user(&id, sizeof(id), (void *)(h + (bpf_get_attach_cookie(ctx) & 0xffff))) &&
	    id)
		grpc_stream_record(o->g, g, id, SONDE_GO_STREAM_OPEN, NULL, bpf_ktime_get_ns());
	bpf_map_delete_elem(&grpc_items, &h);
	return 0;
}

#endif /* SONDE_RUNTIMES_GRPC_GO_BPF_H */
