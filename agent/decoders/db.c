// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What the database and cache decoders share: the names of the systems they speak for, and the
 * span of the operation they report (build_span of their registry rows), by the semantic
 * conventions for databases.
 */
#include <stddef.h>
#include <string.h>

#include "decoders/db.h"

const char *db_system_name(enum db_system sys)
{
	switch (sys) {
	case DB_POSTGRESQL:
		return "postgresql";
	case DB_MYSQL:
		return "mysql";
	case DB_MARIADB:
		return "mariadb";
	case DB_REDIS:
		return "redis";
	default:
		return "other_sql";
	}
}

/*
 * The core set the ids, times, kind and resource, and adds the peer's network attributes, the
 * thread and the incomplete status after this.
 */
void db_build_span(const struct op_head *head, struct span *sp, const struct conn_info *info,
		   const struct sonde_config *cfg)
{
	const struct db_op *op = (const struct db_op *)head; /* head is its first member */
	const char *sys = db_system_name(op->system);
	const char *name = op->summary[0] ? op->summary : op->operation[0] ? op->operation : sys;
	size_t n = strlen(name);

	if (n >= sizeof(sp->name))
		n = sizeof(sp->name) - 1;
	memcpy(sp->name, name, n);
	sp->name[n] = '\0';
	/* Each key is set once on a span that has none of them yet: added without a search. */
	span__add_cstr(sp, "db.system.name", sys);
	if (op->namespace_[0])
		span__add_cstr(sp, "db.namespace", op->namespace_);
	if (op->operation[0])
		span__add_cstr(sp, "db.operation.name", op->operation);
	if (op->collection[0])
		span__add_cstr(sp, "db.collection.name", op->collection);
	if (op->summary[0])
		span__add_cstr(sp, "db.query.summary", op->summary);
	/* no text in that mode, whatever a decoder kept */
	if (op->query[0] && (!cfg || cfg->db.query_mode != DB_QUERY_OFF))
		span__add_cstr(sp, "db.query.text", op->query);
	if (op->batch_size > 1)
		span__add_int(sp, "db.operation.batch.size", op->batch_size);
	if (op->returned_rows >= 0)
		span__add_int(sp, "db.response.returned_rows", op->returned_rows);
	if (op->status_code[0])
		span__add_cstr(sp, "db.response.status_code", op->status_code);
	if (op->error) {
		sp->status = SPAN_STATUS_ERROR;
		span__add_cstr(sp, "error.type", op->error_type[0]    ? op->error_type
						 : op->status_code[0] ? op->status_code
								      : "error");
	}
	span__add_server_attrs(sp, info, NULL, 0, 0);
}

void db_op__report(const struct decoder_sink *out, struct db_op *op)
{
	struct op_head *h = &op->head;

	h->has_ctx = false;
	memset(&h->ctx, 0, sizeof(h->ctx));
	h->begun = false;
	h->awaiting_peer = false;
	memset(h->trace_id, 0, sizeof(h->trace_id));
	memset(h->span_id, 0, sizeof(h->span_id));
	memset(h->parent_id, 0, sizeof(h->parent_id));
	if (out && out->done)
		out->done(out->ctx, h);
}
