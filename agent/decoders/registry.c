// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The registry: every protocol sonde decodes, one row each, in the order detection tries them
 * (decoder.h). PROTOCOL_LIST: a new protocol is a decoder file, its tests, its fuzz target and
 * a row here (docs/adding-a-protocol.md).
 */
#include <stddef.h>

#include "decoders/decoder.h"

const struct decoder *const decoders[] = {
	&http2_decoder, /* before HTTP/1.x: its preface is a request line too */
	&http1_decoder,
	&mysql_decoder,
	&postgres_decoder,
	&redis_decoder,
	NULL,
};
