// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The agent's decoding work, without the kernel, the clock or the machine's noise: the records a
 * keep-alive HTTP/1.x workload makes (wrk's requests to nginx, both ends traced on loopback, the
 * responses summarized by the kernel once the agent asks), fed to the assembler as the rings
 * would deliver them. Run under `valgrind --tool=callgrind`, its instruction count per span is
 * the same from run to run whatever else the machine does, so two builds of the assembler can be
 * compared to the instruction (bench/replay.sh builds it against a tree and runs it).
 *
 * It compiles against the record layout of builds before the capture policy got its name
 * (sonde_resp_note, resp_mode) too, so that a change can be compared with the commit before it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assembler.h"
#include "process.h"

#ifdef SONDE_HTTP1_NOTES /* the names since the capture policy */
#define NOTES http1_notes
#define N_NOTES SONDE_HTTP1_NOTES
#define STATUS http1_status
#define NOTE struct sonde_http1_note
#define SUMMARIZE SONDE_CAPTURE_HTTP1_STATUS
#define SET_POLICY assembler__set_capture_policy
#else
#define NOTES notes
#define N_NOTES SONDE_RESP_NOTES
#define STATUS status
#define NOTE struct sonde_resp_note
#define SUMMARIZE SONDE_RESP_SUMMARIZE
#define SET_POLICY assembler__set_resp_mode
#endif

#define CONNS 32
#define REQUEST "GET / HTTP/1.1\r\nHost: 127.0.0.1:28080\r\n\r\n"
#define RESPONSE                                                                               \
	"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 06 Dec 2026 09:00:00 GMT\r\n"  \
	"Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n"   \
	"hello, world\n"

/* One end of a connection as the kernel sees it: its runs. */
struct end {
	uint64_t id, first, last, bytes;
	uint32_t seq, tid;
	uint16_t dir, status;
	bool summarize; /* the agent asked for summarized responses */
};

/* Each thread's summarized response start, for its next record (wrk's, nginx's). */
static NOTE thread_note[2];

static struct assembler *a;
static struct end ends[2 * CONNS];
static uint64_t spans, now = 1000000;

static void count_span(void *ctx, const struct span *s)
{
	spans++;
}

/* The kernel's state of a connection, as the agent reads it for idle answers. */
static int state(void *ctx, uint64_t key, struct sonde_conn_state *out)
{
	struct end *e = &ends[key - 0x1000];

	memset(out, 0, sizeof(*out));
	out->conn_id = e->id;
	out->run_seq = e->seq;
	out->run_dir = e->dir;
	out->run_first_ts = e->first;
	out->run_last_ts = e->last;
	out->run_bytes = e->bytes;
#ifdef SONDE_HTTP1_NOTES
	out->run_http1_status = e->status;
#else
	out->run_status = e->status;
#endif
	return 0;
}

static void policy(void *ctx, uint64_t key, uint8_t p)
{
	ends[key - 0x1000].summarize = p == SUMMARIZE;
}

static void open_end(struct end *e, uint64_t id, uint16_t lport, uint16_t rport, uint16_t role)
{
	struct sonde_open_event ev = {0};

	e->id = id;
	ev.head.conn_id = id;
	ev.head.kind = SONDE_EV_OPEN;
	ev.head.tgid = getpid();
	ev.head.ts_ns = now;
	ev.sock_key = 0x1000 + id;
	ev.family = 2;
	ev.saddr[0] = ev.daddr[0] = 127;
	ev.saddr[3] = ev.daddr[3] = 1;
	ev.sport = lport;
	ev.dport = rport;
	ev.role = role;
	assembler__on_record(a, &ev, sizeof(ev));
}

/* A run of one I/O in direction dir: its record, or with a summary only its status. */
static void run(struct end *e, uint16_t dir, const char *data, bool response)
{
	static struct sonde_data_event ev;
	size_t n = strlen(data);

	now += 2000;
	if (response && e->summarize) {
		e->seq++;
		e->dir = dir;
		e->first = e->last = now;
		e->bytes = n;
		e->status = 200;
		thread_note[e->tid == 22] = (NOTE){.conn_id = e->id, .ts_ns = now,
						   .run_seq = e->seq, .status = 200};
		return;
	}
	memset(&ev, 0, offsetof(struct sonde_data_event, payload));
	ev.head.conn_id = e->id;
	ev.head.kind = SONDE_EV_DATA;
	ev.head.tgid = getpid();
	ev.head.tid = e->tid;
	ev.head.ts_ns = now;
	ev.head.dir = dir;
	ev.prev.first_ts_ns = e->first;
	ev.prev.last_ts_ns = e->last;
	ev.prev.bytes = e->bytes;
	ev.prev.seq = e->seq;
	ev.prev.dir = e->dir;
	ev.prev.STATUS = e->status;
	if (thread_note[e->tid == 22].conn_id) {
		ev.NOTES[0] = thread_note[e->tid == 22];
		memset(&thread_note[e->tid == 22], 0, sizeof(NOTE));
	}
	e->status = 0;
	e->seq++;
	e->dir = dir;
	e->first = e->last = now;
	e->bytes = n;
	ev.run_seq = e->seq;
	ev.io_bytes = ev.cap_len = n;
	memcpy(ev.payload, data, n);
	assembler__on_record(a, &ev, offsetof(struct sonde_data_event, payload) + n);
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 2000, r;
	struct sonde_config cfg;
	struct process_table *procs;
	int i;

	memset(&cfg, 0, sizeof(cfg));
	cfg.idle_close_ms = 500;
	cfg.propagation = PROPAGATION_LINK;
	procs = process_table__new(&cfg);
	a = assembler__new(&cfg, procs, count_span, NULL, state, NULL);
	if (!procs || !a)
		return 1;
	SET_POLICY(a, policy, NULL);
	for (i = 0; i < CONNS; i++) {
		ends[2 * i].tid = 11; /* wrk's thread */
		ends[2 * i + 1].tid = 22; /* nginx's worker */
		open_end(&ends[2 * i], 2 * i, 40000 + i, 28080, SONDE_ROLE_CLIENT);
		open_end(&ends[2 * i + 1], 2 * i + 1, 28080, 40000 + i, SONDE_ROLE_SERVER);
	}
	for (r = 0; r < rounds; r++)
		for (i = 0; i < CONNS; i++) {
			run(&ends[2 * i], SONDE_DIR_EGRESS, REQUEST, false);
			run(&ends[2 * i + 1], SONDE_DIR_INGRESS, REQUEST, false);
			run(&ends[2 * i + 1], SONDE_DIR_EGRESS, RESPONSE, true);
			run(&ends[2 * i], SONDE_DIR_INGRESS, RESPONSE, true);
		}
	assembler__tick(a, now + 1000000000ULL);
	assembler__flush(a);
	printf("replay: %ld requests on %d connections, %llu spans\n", rounds * CONNS, CONNS,
	       (unsigned long long)spans);
	assembler__free(a);
	process_table__free(procs);
	return spans ? 0 : 1;
}
