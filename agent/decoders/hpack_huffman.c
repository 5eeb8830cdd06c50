// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Huffman code of HPACK (RFC 7541 Appendix B) and its decoder. The code is canonical: the
 * codes of one length are consecutive, in the order of their symbols, and each length starts
 * where the shorter ones end. So the decoder needs no tree: reading the next 32 bits as a number
 * w, the code's length is the first L whose codes all lie below huff_limit[L], and the symbol is
 * found by its rank among the codes of that length. The decoder's tables were generated from the
 * RFC's by a script, and the unit tests decode every symbol's code of hpack_huffman_codes.
 */
#include "decoders/hpack.h"

/* Appendix B: code (right-aligned) and length in bits, by symbol. */
const struct hpack_huffman_code hpack_huffman_codes[HPACK_HUFFMAN_SYMBOLS] = {
	{ 0x1ff8, 13 }, /* 0 */
	{ 0x7fffd8, 23 }, /* 1 */
	{ 0xfffffe2, 28 }, /* 2 */
	{ 0xfffffe3, 28 }, /* 3 */
	{ 0xfffffe4, 28 }, /* 4 */
	{ 0xfffffe5, 28 }, /* 5 */
	{ 0xfffffe6, 28 }, /* 6 */
	{ 0xfffffe7, 28 }, /* 7 */
	{ 0xfffffe8, 28 }, /* 8 */
	{ 0xffffea, 24 }, /* 9 */
	{ 0x3ffffffc, 30 }, /* 10 */
	{ 0xfffffe9, 28 }, /* 11 */
	{ 0xfffffea, 28 }, /* 12 */
	{ 0x3ffffffd, 30 }, /* 13 */
	{ 0xfffffeb, 28 }, /* 14 */
	{ 0xfffffec, 28 }, /* 15 */
	{ 0xfffffed, 28 }, /* 16 */
	{ 0xfffffee, 28 }, /* 17 */
	{ 0xfffffef, 28 }, /* 18 */
	{ 0xffffff0, 28 }, /* 19 */
	{ 0xffffff1, 28 }, /* 20 */
	{ 0xffffff2, 28 }, /* 21 */
	{ 0x3ffffffe, 30 }, /* 22 */
	{ 0xffffff3, 28 }, /* 23 */
	{ 0xffffff4, 28 }, /* 24 */
	{ 0xffffff5, 28 }, /* 25 */
	{ 0xffffff6, 28 }, /* 26 */
	{ 0xffffff7, 28 }, /* 27 */
	{ 0xffffff8, 28 }, /* 28 */
	{ 0xffffff9, 28 }, /* 29 */
	{ 0xffffffa, 28 }, /* 30 */
	{ 0xffffffb, 28 }, /* 31 */
	{ 0x14, 6 }, /* 32 */
	{ 0x3f8, 10 }, /* '!' */
	{ 0x3f9, 10 }, /* '"' */
	{ 0xffa, 12 }, /* '#' */
	{ 0x1ff9, 13 }, /* '$' */
	{ 0x15, 6 }, /* '%' */
	{ 0xf8, 8 }, /* '&' */
	{ 0x7fa, 11 }, /* 39 */
	{ 0x3fa, 10 }, /* '(' */
	{ 0x3fb, 10 }, /* ')' */
	{ 0xf9, 8 }, /* '*' */
	{ 0x7fb, 11 }, /* '+' */
	{ 0xfa, 8 }, /* ',' */
	{ 0x16, 6 }, /* '-' */
	{ 0x17, 6 }, /* '.' */
	{ 0x18, 6 }, /* '/' */
	{ 0x0, 5 }, /* '0' */
	{ 0x1, 5 }, /* '1' */
	{ 0x2, 5 }, /* '2' */
	{ 0x19, 6 }, /* '3' */
	{ 0x1a, 6 }, /* '4' */
	{ 0x1b, 6 }, /* '5' */
	{ 0x1c, 6 }, /* '6' */
	{ 0x1d, 6 }, /* '7' */
	{ 0x1e, 6 }, /* '8' */
	{ 0x1f, 6 }, /* '9' */
	{ 0x5c, 7 }, /* ':' */
	{ 0xfb, 8 }, /* ';' */
	{ 0x7ffc, 15 }, /* '<' */
	{ 0x20, 6 }, /* '=' */
	{ 0xffb, 12 }, /* '>' */
	{ 0x3fc, 10 }, /* '?' */
	{ 0x1ffa, 13 }, /* '@' */
	{ 0x21, 6 }, /* 'A' */
	{ 0x5d, 7 }, /* 'B' */
	{ 0x5e, 7 }, /* 'C' */
	{ 0x5f, 7 }, /* 'D' */
	{ 0x60, 7 }, /* 'E' */
	{ 0x61, 7 }, /* 'F' */
	{ 0x62, 7 }, /* 'G' */
	{ 0x63, 7 }, /* 'H' */
	{ 0x64, 7 }, /* 'I' */
	{ 0x65, 7 }, /* 'J' */
	{ 0x66, 7 }, /* 'K' */
	{ 0x67, 7 }, /* 'L' */
	{ 0x68, 7 }, /* 'M' */
	{ 0x69, 7 }, /* 'N' */
	{ 0x6a, 7 }, /* 'O' */
	{ 0x6b, 7 }, /* 'P' */
	{ 0x6c, 7 }, /* 'Q' */
	{ 0x6d, 7 }, /* 'R' */
	{ 0x6e, 7 }, /* 'S' */
	{ 0x6f, 7 }, /* 'T' */
	{ 0x70, 7 }, /* 'U' */
	{ 0x71, 7 }, /* 'V' */
	{ 0x72, 7 }, /* 'W' */
	{ 0xfc, 8 }, /* 'X' */
	{ 0x73, 7 }, /* 'Y' */
	{ 0xfd, 8 }, /* 'Z' */
	{ 0x1ffb, 13 }, /* '[' */
	{ 0x7fff0, 19 }, /* 92 */
	{ 0x1ffc, 13 }, /* ']' */
	{ 0x3ffc, 14 }, /* '^' */
	{ 0x22, 6 }, /* '_' */
	{ 0x7ffd, 15 }, /* '`' */
	{ 0x3, 5 }, /* 'a' */
	{ 0x23, 6 }, /* 'b' */
	{ 0x4, 5 }, /* 'c' */
	{ 0x24, 6 }, /* 'd' */
	{ 0x5, 5 }, /* 'e' */
	{ 0x25, 6 }, /* 'f' */
	{ 0x26, 6 }, /* 'g' */
	{ 0x27, 6 }, /* 'h' */
	{ 0x6, 5 }, /* 'i' */
	{ 0x74, 7 }, /* 'j' */
	{ 0x75, 7 }, /* 'k' */
	{ 0x28, 6 }, /* 'l' */
	{ 0x29, 6 }, /* 'm' */
	{ 0x2a, 6 }, /* 'n' */
	{ 0x7, 5 }, /* 'o' */
	{ 0x2b, 6 }, /* 'p' */
	{ 0x76, 7 }, /* 'q' */
	{ 0x2c, 6 }, /* 'r' */
	{ 0x8, 5 }, /* 's' */
	{ 0x9, 5 }, /* 't' */
	{ 0x2d, 6 }, /* 'u' */
	{ 0x77, 7 }, /* 'v' */
	{ 0x78, 7 }, /* 'w' */
	{ 0x79, 7 }, /* 'x' */
	{ 0x7a, 7 }, /* 'y' */
	{ 0x7b, 7 }, /* 'z' */
	{ 0x7ffe, 15 }, /* '{' */
	{ 0x7fc, 11 }, /* '|' */
	{ 0x3ffd, 14 }, /* '}' */
	{ 0x1ffd, 13 }, /* '~' */
	{ 0xffffffc, 28 }, /* 127 */
	{ 0xfffe6, 20 }, /* 128 */
	{ 0x3fffd2, 22 }, /* 129 */
	{ 0xfffe7, 20 }, /* 130 */
	{ 0xfffe8, 20 }, /* 131 */
	{ 0x3fffd3, 22 }, /* 132 */
	{ 0x3fffd4, 22 }, /* 133 */
	{ 0x3fffd5, 22 }, /* 134 */
	{ 0x7fffd9, 23 }, /* 135 */
	{ 0x3fffd6, 22 }, /* 136 */
	{ 0x7fffda, 23 }, /* 137 */
	{ 0x7fffdb, 23 }, /* 138 */
	{ 0x7fffdc, 23 }, /* 139 */
	{ 0x7fffdd, 23 }, /* 140 */
	{ 0x7fffde, 23 }, /* 141 */
	{ 0xffffeb, 24 }, /* 142 */
	{ 0x7fffdf, 23 }, /* 143 */
	{ 0xffffec, 24 }, /* 144 */
	{ 0xffffed, 24 }, /* 145 */
	{ 0x3fffd7, 22 }, /* 146 */
	{ 0x7fffe0, 23 }, /* 147 */
	{ 0xffffee, 24 }, /* 148 */
	{ 0x7fffe1, 23 }, /* 149 */
	{ 0x7fffe2, 23 }, /* 150 */
	{ 0x7fffe3, 23 }, /* 151 */
	{ 0x7fffe4, 23 }, /* 152 */
	{ 0x1fffdc, 21 }, /* 153 */
	{ 0x3fffd8, 22 }, /* 154 */
	{ 0x7fffe5, 23 }, /* 155 */
	{ 0x3fffd9, 22 }, /* 156 */
	{ 0x7fffe6, 23 }, /* 157 */
	{ 0x7fffe7, 23 }, /* 158 */
	{ 0xffffef, 24 }, /* 159 */
	{ 0x3fffda, 22 }, /* 160 */
	{ 0x1fffdd, 21 }, /* 161 */
	{ 0xfffe9, 20 }, /* 162 */
	{ 0x3fffdb, 22 }, /* 163 */
	{ 0x3fffdc, 22 }, /* 164 */
	{ 0x7fffe8, 23 }, /* 165 */
	{ 0x7fffe9, 23 }, /* 166 */
	{ 0x1fffde, 21 }, /* 167 */
	{ 0x7fffea, 23 }, /* 168 */
	{ 0x3fffdd, 22 }, /* 169 */
	{ 0x3fffde, 22 }, /* 170 */
	{ 0xfffff0, 24 }, /* 171 */
	{ 0x1fffdf, 21 }, /* 172 */
	{ 0x3fffdf, 22 }, /* 173 */
	{ 0x7fffeb, 23 }, /* 174 */
	{ 0x7fffec, 23 }, /* 175 */
	{ 0x1fffe0, 21 }, /* 176 */
	{ 0x1fffe1, 21 }, /* 177 */
	{ 0x3fffe0, 22 }, /* 178 */
	{ 0x1fffe2, 21 }, /* 179 */
	{ 0x7fffed, 23 }, /* 180 */
	{ 0x3fffe1, 22 }, /* 181 */
	{ 0x7fffee, 23 }, /* 182 */
	{ 0x7fffef, 23 }, /* 183 */
	{ 0xfffea, 20 }, /* 184 */
	{ 0x3fffe2, 22 }, /* 185 */
	{ 0x3fffe3, 22 }, /* 186 */
	{ 0x3fffe4, 22 }, /* 187 */
	{ 0x7ffff0, 23 }, /* 188 */
	{ 0x3fffe5, 22 }, /* 189 */
	{ 0x3fffe6, 22 }, /* 190 */
	{ 0x7ffff1, 23 }, /* 191 */
	{ 0x3ffffe0, 26 }, /* 192 */
	{ 0x3ffffe1, 26 }, /* 193 */
	{ 0xfffeb, 20 }, /* 194 */
	{ 0x7fff1, 19 }, /* 195 */
	{ 0x3fffe7, 22 }, /* 196 */
	{ 0x7ffff2, 23 }, /* 197 */
	{ 0x3fffe8, 22 }, /* 198 */
	{ 0x1ffffec, 25 }, /* 199 */
	{ 0x3ffffe2, 26 }, /* 200 */
	{ 0x3ffffe3, 26 }, /* 201 */
	{ 0x3ffffe4, 26 }, /* 202 */
	{ 0x7ffffde, 27 }, /* 203 */
	{ 0x7ffffdf, 27 }, /* 204 */
	{ 0x3ffffe5, 26 }, /* 205 */
	{ 0xfffff1, 24 }, /* 206 */
	{ 0x1ffffed, 25 }, /* 207 */
	{ 0x7fff2, 19 }, /* 208 */
	{ 0x1fffe3, 21 }, /* 209 */
	{ 0x3ffffe6, 26 }, /* 210 */
	{ 0x7ffffe0, 27 }, /* 211 */
	{ 0x7ffffe1, 27 }, /* 212 */
	{ 0x3ffffe7, 26 }, /* 213 */
	{ 0x7ffffe2, 27 }, /* 214 */
	{ 0xfffff2, 24 }, /* 215 */
	{ 0x1fffe4, 21 }, /* 216 */
	{ 0x1fffe5, 21 }, /* 217 */
	{ 0x3ffffe8, 26 }, /* 218 */
	{ 0x3ffffe9, 26 }, /* 219 */
	{ 0xffffffd, 28 }, /* 220 */
	{ 0x7ffffe3, 27 }, /* 221 */
	{ 0x7ffffe4, 27 }, /* 222 */
	{ 0x7ffffe5, 27 }, /* 223 */
	{ 0xfffec, 20 }, /* 224 */
	{ 0xfffff3, 24 }, /* 225 */
	{ 0xfffed, 20 }, /* 226 */
	{ 0x1fffe6, 21 }, /* 227 */
	{ 0x3fffe9, 22 }, /* 228 */
	{ 0x1fffe7, 21 }, /* 229 */
	{ 0x1fffe8, 21 }, /* 230 */
	{ 0x7ffff3, 23 }, /* 231 */
	{ 0x3fffea, 22 }, /* 232 */
	{ 0x3fffeb, 22 }, /* 233 */
	{ 0x1ffffee, 25 }, /* 234 */
	{ 0x1ffffef, 25 }, /* 235 */
	{ 0xfffff4, 24 }, /* 236 */
	{ 0xfffff5, 24 }, /* 237 */
	{ 0x3ffffea, 26 }, /* 238 */
	{ 0x7ffff4, 23 }, /* 239 */
	{ 0x3ffffeb, 26 }, /* 240 */
	{ 0x7ffffe6, 27 }, /* 241 */
	{ 0x3ffffec, 26 }, /* 242 */
	{ 0x3ffffed, 26 }, /* 243 */
	{ 0x7ffffe7, 27 }, /* 244 */
	{ 0x7ffffe8, 27 }, /* 245 */
	{ 0x7ffffe9, 27 }, /* 246 */
	{ 0x7ffffea, 27 }, /* 247 */
	{ 0x7ffffeb, 27 }, /* 248 */
	{ 0xffffffe, 28 }, /* 249 */
	{ 0x7ffffec, 27 }, /* 250 */
	{ 0x7ffffed, 27 }, /* 251 */
	{ 0x7ffffee, 27 }, /* 252 */
	{ 0x7ffffef, 27 }, /* 253 */
	{ 0x7fffff0, 27 }, /* 254 */
	{ 0x3ffffee, 26 }, /* 255 */
	{ 0x3fffffff, 30 }, /* EOS */
};

/* The symbols in the order of their codes (by length, then code). */
static const uint16_t huff_by_code[HPACK_HUFFMAN_SYMBOLS] = {
	48, 49, 50, 97, 99, 101, 105, 111, 115, 116, 32, 37, 45, 46, 47, 51,
	52, 53, 54, 55, 56, 57, 61, 65, 95, 98, 100, 102, 103, 104, 108, 109,
	110, 112, 114, 117, 58, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76,
	77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 89, 106, 107, 113, 118,
	119, 120, 121, 122, 38, 42, 44, 59, 88, 90, 33, 34, 40, 41, 63, 39,
	43, 124, 35, 62, 0, 36, 64, 91, 93, 126, 94, 125, 60, 96, 123, 92,
	195, 208, 128, 130, 131, 162, 184, 194, 224, 226, 153, 161, 167, 172, 176, 177,
	179, 209, 216, 217, 227, 229, 230, 129, 132, 133, 134, 136, 146, 154, 156, 160,
	163, 164, 169, 170, 173, 178, 181, 185, 186, 187, 189, 190, 196, 198, 228, 232,
	233, 1, 135, 137, 138, 139, 140, 141, 143, 147, 149, 150, 151, 152, 155, 157,
	158, 165, 166, 168, 174, 175, 180, 182, 183, 188, 191, 197, 231, 239, 9, 142,
	144, 145, 148, 159, 171, 206, 215, 225, 236, 237, 199, 207, 234, 235, 192, 193,
	200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242, 243, 255, 203, 204, 211,
	212, 214, 221, 222, 223, 241, 244, 245, 246, 247, 248, 250, 251, 252, 253, 254,
	2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20,
	21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127, 220, 249, 10, 13, 22,
	256,
};

/*
 * huff_limit[L]: one past the last code of length L, left-aligned in 32 bits (0 below 5 bits,
 * the shortest length; 30 bits, the longest, needs no limit). It is also where the codes of
 * length L + 1 start.
 */
static const uint32_t huff_limit[30] = {
	0, 0, 0, 0, 0,
	0x50000000, 0xb8000000, 0xf8000000, 0xfe000000, 0xfe000000, 0xff400000,
	0xffa00000, 0xffc00000, 0xfff00000, 0xfff80000, 0xfffe0000, 0xfffe0000,
	0xfffe0000, 0xfffe0000, 0xfffe6000, 0xfffee000, 0xffff4800, 0xffffb000,
	0xffffea00, 0xfffff600, 0xfffff800, 0xfffffbc0, 0xfffffe20, 0xfffffff0,
	0xfffffff0,
};

/* huff_offset[L]: the rank in huff_by_code of the first code of length L. */
static const uint16_t huff_offset[31] = {
	0, 0, 0, 0, 0,
	0, 10, 36, 68, 74, 74, 79, 82, 84, 90, 92, 95, 95,
	95, 95, 98, 106, 119, 145, 174, 186, 190, 205, 224, 253, 253,
};

int hpack_huffman__decode(const uint8_t *in, size_t len, char *out, size_t cap, size_t *out_len)
{
	uint64_t acc = 0; /* the bits not yet decoded, left-aligned */
	unsigned nbits = 0, l;
	size_t i = 0, n = 0;
	uint32_t w;
	uint16_t sym;

	*out_len = 0;
	for (;;) {
		while (nbits <= 56 && i < len) {
			acc |= (uint64_t)in[i++] << (56 - nbits);
			nbits += 8;
		}
		if (!nbits)
			break;
		/*
		 * The bits past the end read as ones, as padding is: a code they would complete is
		 * longer than what is left, which is then the padding.
		 */
		w = (uint32_t)(acc >> 32);
		if (nbits < 32)
			w |= UINT32_MAX >> nbits;
		for (l = 5; l < 30 && w >= huff_limit[l]; l++)
			;
		if (l > nbits) {
			/* padding: fewer than 8 bits, all ones (RFC 7541 5.2) */
			if (nbits > 7 || (uint32_t)(acc >> (64 - nbits)) != (1u << nbits) - 1)
				return HPACK_ERR_HUFFMAN;
			break;
		}
		/* the codes of length l start where those of length l - 1 end */
		sym = huff_by_code[huff_offset[l] + ((w - huff_limit[l - 1]) >> (32 - l))];
		if (sym == HPACK_HUFFMAN_EOS)
			return HPACK_ERR_HUFFMAN;
		if (n < cap)
			out[n] = (char)sym;
		n++;
		acc <<= l;
		nbits -= l;
	}
	*out_len = n;
	return HPACK_OK;
}
