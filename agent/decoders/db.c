// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The registry of database and cache decoders, and the names of the systems they speak for.
 */
#include <stddef.h>

#include "db.h"

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

/* Each decoder adds itself here, in the order detection tries them. */
const struct db_decoder *const db_decoders[] = {
	&mysql_decoder,
	&postgres_decoder,
	&redis_decoder,
	NULL,
};
