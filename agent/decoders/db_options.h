/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The database decoders' settings, apart so that config.h needs nothing else of theirs. */
#ifndef SONDE_DB_OPTIONS_H
#define SONDE_DB_OPTIONS_H

/* What to do with query text (--db-query). */
enum db_query_mode {
	DB_QUERY_SANITIZED = 0, /* literals replaced by '?' (the default: literals hold secrets) */
	DB_QUERY_RAW = 1,	/* as sent */
	DB_QUERY_OFF = 2,	/* no db.query.text at all */
};

struct db_options {
	enum db_query_mode query_mode;
};

#endif /* SONDE_DB_OPTIONS_H */
