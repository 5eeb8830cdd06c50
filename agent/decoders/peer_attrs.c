// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The attributes of a span's peer that every protocol's build_span shares (decoder.h): which
 * server a request went to, and which client it came from, by the semantic conventions.
 */
#include "decoders/decoder.h"

void span__add_server_attrs(struct span *sp, const struct conn_info *info, const char *host,
			    size_t host_len, int host_port)
{
	bool server = info->role == SONDE_ROLE_SERVER;

	if (host_len)
		span__add_str(sp, "server.address", host, host_len);
	else if (!server && info->peer_len)
		span__add_str(sp, "server.address", info->peer, info->peer_len);
	if (host_port || info->have_tuple)
		span__add_int(sp, "server.port",
			      host_port ? host_port : server ? info->sport : info->dport);
	if (server && info->peer_len)
		span__add_str(sp, "client.address", info->peer, info->peer_len);
}
