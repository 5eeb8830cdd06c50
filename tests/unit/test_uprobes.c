// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The uprobe table's decisions (agent/loader/uprobes.c), without BPF: /proc is a tree the test
 * builds (exe links, maps, stat, map_files, root), and attaching is a fake that records what it
 * was asked. Each file is attached once (by inode), a failure is remembered, a library is found
 * in the maps and attached through the mapped file, and a sweep detaches a file once the
 * processes known to use it are gone. Also the maps-line parser and the name matcher.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/uprobes.h"
#include "sonde_event.h"
#include "unit.h"

_Static_assert(sizeof(struct sonde_exec_event) == 48, "the EXEC record's size is ABI");
_Static_assert(offsetof(struct sonde_exec_event, comm) == 32, "the EXEC record's comm is ABI");

static char root[256]; /* the test's directory: its files, and proc/ */
static char proc[300];

/* What the fake attach was asked, and what it holds. */
static struct {
	int attaches, optional_tries, detaches, is_go_calls, symbol_calls, live_links;
	char last_path[600];
} fake;

/* The file's first bytes hold text. */
static bool file_says(const char *path, const char *text)
{
	char buf[256] = {0};
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && strstr(buf, text);
}

static int fake_attach(void *ctx, const struct uprobe_target *t, const char *path, void **links,
		       int *n)
{
	char target[600];
	ssize_t len;
	int i;

	if (t->optional)
		fake.optional_tries++; /* kept apart: the other tests count the others */
	else
		fake.attaches++;
	snprintf(fake.last_path, sizeof(fake.last_path), "%s", path);
	*n = 0;
	len = readlink(path, target, sizeof(target) - 1);
	target[len > 0 ? len : 0] = 0;
	if (strstr(path, "stripped") || strstr(target, "stripped"))
		return -ENOENT; /* as libbpf says for a missing symbol */
	if (t->optional && !file_says(path, "crypto/tls"))
		return -ENOENT; /* a Go program without the package */
	for (i = 0; i < UPROBE_MAX_SYMS && t->syms[i].symbol; i++) {
		if (t->syms[i].entry)
			links[(*n)++] = malloc(1);
		if (t->syms[i].ret)
			links[(*n)++] = malloc(1);
	}
	fake.live_links += *n;
	return 0;
}

static void fake_detach(void *ctx, void *link)
{
	fake.detaches++;
	fake.live_links--;
	free(link);
}

/* A Go executable, for the test: its first bytes say "GO". */
static bool fake_is_go(void *ctx, const char *path)
{
	char buf[2] = {0};
	int fd = open(path, O_RDONLY);

	fake.is_go_calls++;
	if (fd < 0)
		return false;
	if (read(fd, buf, 2) != 2)
		buf[0] = 0;
	close(fd);
	return buf[0] == 'G' && buf[1] == 'O';
}

/* An executable that links the library in, for the test: its text names the symbol. */
static bool fake_has_symbol(void *ctx, const char *path, const char *symbol)
{
	fake.symbol_calls++;
	return file_says(path, symbol);
}

static const struct uprobe_ops fake_ops = {fake_attach, fake_detach, fake_is_go,
					   fake_has_symbol};

static const struct uprobe_target table[] = {
	{.name = "go-test", .in = UPROBE_GO_EXE, .lost = "go", .hint = "h",
	 .syms = {{"main.a", "prog_a", NULL, true}, {"main.b", "prog_b", NULL, true}}},
	{.name = "tls-test", .in = UPROBE_LIBRARY, .pattern = "libssl.so*", .lost = "tls",
	 .syms = {{"SSL_read", "prog_r", "prog_rr", true}}},
	{.name = "tls-static-test", .in = UPROBE_EXE_SYMBOL, .lost = "tls",
	 .syms = {{"SSL_read", "prog_r", "prog_rr", true}, {"SSL_free", "prog_f", NULL, false}}},
	{.name = "go-tls-test", .in = UPROBE_GO_EXE, .lost = "go tls", .optional = true,
	 .ret_insns = true, .syms = {{"crypto/tls.(*Conn).Read", "prog_gr", "prog_grr", true}}},
};
#define N_ROWS (sizeof(table) / sizeof(table[0]))

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

/* A file of the test's tree: "GO..." makes it a Go executable. */
static const char *test_file(const char *name, const char *text)
{
	static char path[8][400];
	static int next;
	char *p = path[next++ % 8];

	snprintf(p, 400, "%s/%s", root, name);
	write_file(p, text);
	return p;
}

/* /proc/PID of the test: its exe, stat (start time), maps and map_files, root. */
static void make_proc(unsigned int pid, const char *exe, unsigned long long start,
		      const char *const *libs, int n_libs)
{
	char dir[400], path[500], line[1200], maps[8192] = "";
	int i;

	snprintf(dir, sizeof(dir), "%s/%u", proc, pid);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/exe", dir);
	unlink(path);
	if (symlink(exe, path))
		perror(path);
	snprintf(path, sizeof(path), "%s/stat", dir);
	/* field 21 (itrealvalue) is 777 so that a parser one field off fails */
	snprintf(line, sizeof(line),
		 "%u (a b) c)) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 777 %llu 100 200\n", pid,
		 start);
	write_file(path, line);
	snprintf(path, sizeof(path), "%s/root", dir);
	unlink(path);
	if (symlink("/", path))
		perror(path);
	snprintf(path, sizeof(path), "%s/map_files", dir);
	mkdir(path, 0755);
	strcat(maps, "55d0c0000000-55d0c0001000 r--p 00000000 fd:01 42 /usr/bin/x\n"
		     "55d0c1000000-55d0c1021000 rw-p 00000000 00:00 0          [heap]\n");
	for (i = 0; i < n_libs; i++) {
		struct stat st;
		unsigned long long a = 0x7f0000000000ULL + i * 0x10000ULL;

		stat(libs[i], &st);
		/* two lines per library, as its segments are */
		snprintf(line, sizeof(line),
			 "%llx-%llx r--p 00000000 fd:01 %llu %s\n"
			 "%llx-%llx r-xp 00001000 fd:01 %llu %s\n",
			 a, a + 0x1000, (unsigned long long)st.st_ino, libs[i], a + 0x1000,
			 a + 0x2000, (unsigned long long)st.st_ino, libs[i]);
		strcat(maps, line);
		snprintf(path, sizeof(path), "%s/map_files/%llx-%llx", dir, a, a + 0x1000);
		unlink(path);
		if (symlink(libs[i], path))
			perror(path);
	}
	snprintf(path, sizeof(path), "%s/maps", dir);
	write_file(path, maps);
}

static void remove_proc(unsigned int pid)
{
	char cmd[500];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/%u'", proc, pid);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s/%u\n", proc, pid);
}

static struct uprobes *fresh(void)
{
	memset(&fake, 0, sizeof(fake));
	return uprobes__new(table, N_ROWS, proc, &fake_ops, NULL);
}

TEST(maps_lines_parse)
{
	char l1[] = "7f1c2a000000-7f1c2a022000 r--p 00000000 fd:01 1234567                    "
		    "/usr/lib/x86_64-linux-gnu/libssl.so.3\n";
	char l2[] = "7f1c2b000000-7f1c2b001000 r-xp 00002000 103:02 99 /opt/my app/lib ssl.so "
		    "(deleted)\n";
	char l3[] = "7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0                          "
		    "[stack]\n";
	char l4[] = "55d0c1000000-55d0c1021000 rw-p 00000000 00:00 0 \n";
	char l5[] = "garbage line\n";
	struct maps_line m;

	CHECK_EQ_INT(uprobes_parse_maps_line(l1, &m), 0);
	CHECK(m.start == 0x7f1c2a000000ULL && m.end == 0x7f1c2a022000ULL);
	CHECK_STR(m.perms, "r--p");
	CHECK(m.dev_major == 0xfd && m.dev_minor == 1 && m.inode == 1234567);
	CHECK(m.path && !strcmp(m.path, "/usr/lib/x86_64-linux-gnu/libssl.so.3"));
	CHECK_EQ_INT(uprobes_parse_maps_line(l2, &m), 0);
	CHECK(m.offset == 0x2000 && m.dev_major == 0x103 && m.dev_minor == 2 && m.inode == 99);
	CHECK(m.path && !strcmp(m.path, "/opt/my app/lib ssl.so")); /* spaces kept, mark cut */
	CHECK_EQ_INT(uprobes_parse_maps_line(l3, &m), 0);
	CHECK(m.path == NULL && m.inode == 0);
	CHECK_EQ_INT(uprobes_parse_maps_line(l4, &m), 0);
	CHECK(m.path == NULL);
	CHECK_EQ_INT(uprobes_parse_maps_line(l5, &m), -EINVAL);
}

TEST(names_match_by_file_name)
{
	CHECK(uprobes_name_matches("libssl.so*", "/usr/lib/x86_64-linux-gnu/libssl.so.3"));
	CHECK(uprobes_name_matches("libssl.so*", "/lib/libssl.so"));
	CHECK(uprobes_name_matches("libssl.so*", "libssl.so.1.1"));
	CHECK(!uprobes_name_matches("libssl.so*", "/usr/lib/libssl3.so"));
	CHECK(!uprobes_name_matches("libssl.so*", "/usr/lib/libcrypto.so.3"));
	CHECK(!uprobes_name_matches("libssl.so*", "/libssl.so.3/libfoo.so")); /* the name only */
	CHECK(!uprobes_name_matches(NULL, "/lib/libssl.so"));
}

TEST(the_openssl_row_finds_system_and_bundled_copies)
{
	const char *pattern = NULL;
	size_t i;

	for (i = 0; i < uprobe_table_len; i++)
		if (!strcmp(uprobe_table[i].name, "openssl"))
			pattern = uprobe_table[i].pattern;
	CHECK(pattern != NULL);
	CHECK(uprobes_name_matches(pattern, "/usr/lib/x86_64-linux-gnu/libssl.so.3"));
	CHECK(uprobes_name_matches(pattern, "/usr/lib/libssl.so.1.1"));
	CHECK(uprobes_name_matches(pattern, "/usr/lib/libssl.so"));
	/* a wheel's copy (auditwheel renames it): psycopg-binary's libpq uses it */
	CHECK(uprobes_name_matches(pattern, "/site-packages/psycopg_binary.libs/libssl-6a9b88ec.so.3"));
	CHECK(!uprobes_name_matches(pattern, "/usr/lib/libssl3.so")); /* NSS */
	CHECK(!uprobes_name_matches(pattern, "/usr/lib/libssl.a"));
	CHECK(!uprobes_name_matches(pattern, "/usr/lib/libcrypto.so.3"));
}

TEST(an_executable_is_attached_once_for_all_its_processes)
{
	struct uprobes *u = fresh();
	const char *go = test_file("server", "GO program");
	struct uprobe_outcome out[4];
	struct uprobe_stats st;
	int n;

	make_proc(100, go, 5000, NULL, 0);
	make_proc(101, go, 5001, NULL, 0);
	n = uprobes__process(u, 100, out, 4);
	CHECK_EQ_INT(n, 1);
	CHECK(out[0].target == &table[0] && out[0].err == 0);
	CHECK_STR(out[0].file, "server");
	CHECK_EQ_INT(uprobes__process(u, 101, out, 4), 1);
	CHECK_EQ_INT(uprobes__process(u, 100, out, 4), 1); /* asked again: nothing new */
	CHECK_EQ_INT(fake.attaches, 1);
	CHECK_EQ_INT(fake.is_go_calls, 1);
	CHECK_EQ_INT(fake.live_links, 2);
	uprobes__stats(u, 0, &st);
	CHECK(st.attached == 1 && st.active == 1 && st.failed == 0);
	/* a hard link is the same inode: the same file */
	{
		char other[400];

		snprintf(other, sizeof(other), "%s/server-link", root);
		unlink(other);
		CHECK_EQ_INT(link(go, other), 0);
		make_proc(102, other, 5002, NULL, 0);
		CHECK_EQ_INT(uprobes__process(u, 102, out, 4), 1);
		CHECK_EQ_INT(fake.attaches, 1);
	}
	uprobes__free(u);
	CHECK_EQ_INT(fake.live_links, 0); /* detached when sonde stops */
	remove_proc(100);
	remove_proc(101);
	remove_proc(102);
}

TEST(other_executables_are_read_once_and_never_attached)
{
	struct uprobes *u = fresh();
	const char *sh = test_file("sh", "ELF but not Go");
	struct uprobe_outcome out[4];

	make_proc(110, sh, 1, NULL, 0);
	make_proc(111, sh, 2, NULL, 0);
	CHECK_EQ_INT(uprobes__process(u, 110, out, 4), 0);
	CHECK_EQ_INT(uprobes__process(u, 111, out, 4), 0);
	CHECK_EQ_INT(fake.is_go_calls, 1); /* the second exec of it is a look-up */
	CHECK_EQ_INT(fake.attaches, 0);
	CHECK_EQ_INT(uprobes__process(u, 119, out, 4), -ESRCH); /* no such process */
	uprobes__free(u);
	remove_proc(110);
	remove_proc(111);
}

TEST(a_failure_is_remembered_until_the_file_changes)
{
	struct uprobes *u = fresh();
	const char *bin = test_file("stripped", "GO without symbols");
	struct uprobe_outcome out[4];
	struct uprobe_stats st;

	make_proc(120, bin, 1, NULL, 0);
	make_proc(121, bin, 2, NULL, 0);
	CHECK_EQ_INT(uprobes__process(u, 120, out, 4), 1);
	CHECK_EQ_INT(out[0].err, -ENOENT);
	CHECK_EQ_INT(uprobes__process(u, 121, out, 4), 1);
	CHECK_EQ_INT(out[0].err, -ENOENT); /* the same verdict, not tried again */
	CHECK_EQ_INT(fake.attaches, 1);
	uprobes__stats(u, 0, &st);
	CHECK(st.failed == 1 && st.attached == 0 && st.active == 0);
	/* rewritten in place (its ctime moves): tried again */
	usleep(20000);
	CHECK_EQ_INT(chmod(bin, 0700), 0);
	CHECK_EQ_INT(uprobes__process(u, 121, out, 4), 1);
	CHECK_EQ_INT(fake.attaches, 2);
	uprobes__free(u);
	remove_proc(120);
	remove_proc(121);
}

TEST(a_library_is_found_in_the_maps_and_attached_through_the_mapped_file)
{
	struct uprobes *u = fresh();
	const char *exe = test_file("curl", "not Go");
	const char *ssl3 = test_file("libssl.so.3", "lib");
	const char *ssl11 = test_file("libssl.so.1.1", "lib");
	const char *crypto = test_file("libcrypto.so.3", "lib");
	const char *libs_a[] = {crypto, ssl3};
	const char *libs_b[] = {ssl3, ssl11};
	struct uprobe_outcome out[4];
	struct uprobe_stats st;
	int n;

	make_proc(130, exe, 1, libs_a, 2);
	n = uprobes__process(u, 130, out, 4);
	CHECK_EQ_INT(n, 1); /* libssl, once for its two segments; not libcrypto */
	CHECK(out[0].target == &table[1] && out[0].err == 0);
	CHECK_STR(out[0].file, "libssl.so.3");
	CHECK(strstr(fake.last_path, "/130/map_files/") != NULL);
	CHECK_EQ_INT(fake.live_links, 2); /* SSL_read's entry and return */
	make_proc(131, exe, 2, libs_b, 2);
	n = uprobes__process(u, 131, out, 4);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(fake.attaches, 2); /* libssl.so.3 was attached already: only 1.1 is new */
	uprobes__stats(u, 1, &st);
	CHECK(st.attached == 2 && st.active == 2);
	uprobes__free(u);
	remove_proc(130);
	remove_proc(131);
}

TEST(without_map_files_the_process_root_path_is_used)
{
	struct uprobes *u = fresh();
	const char *exe = test_file("wget", "not Go");
	const char *ssl = test_file("libssl.so.3", "lib");
	const char *libs[] = {ssl};
	struct uprobe_outcome out[4];
	char cmd[600];

	make_proc(140, exe, 1, libs, 1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/140/map_files'", proc);
	CHECK_EQ_INT(system(cmd), 0);
	CHECK_EQ_INT(uprobes__process(u, 140, out, 4), 1);
	CHECK(strstr(fake.last_path, "/140/root/") != NULL);
	uprobes__free(u);
	remove_proc(140);
}

TEST(a_sweep_detaches_a_file_once_its_processes_are_gone)
{
	struct uprobes *u = fresh();
	const char *go = test_file("worker", "GO worker");
	const char *other = test_file("other", "GO other");
	struct uprobe_outcome out[4];
	struct uprobe_stats st;

	make_proc(150, go, 10, NULL, 0);
	make_proc(151, go, 11, NULL, 0);
	make_proc(152, go, 12, NULL, 0);
	uprobes__process(u, 150, out, 4);
	uprobes__process(u, 151, out, 4);
	uprobes__process(u, 152, out, 4);
	CHECK_EQ_INT(uprobes__sweep(u), 0); /* all alive */
	remove_proc(150);
	CHECK_EQ_INT(uprobes__sweep(u), 0); /* two left */
	make_proc(151, go, 99, NULL, 0);    /* 151 is another process now (a reused pid) */
	make_proc(152, other, 12, NULL, 0); /* 152 exec'd another program */
	CHECK_EQ_INT(uprobes__sweep(u), 1);
	CHECK_EQ_INT(fake.detaches, 2);
	uprobes__stats(u, 0, &st);
	CHECK(st.attached == 1 && st.detached == 1 && st.active == 0);
	/* a process of the file later gets it afresh */
	CHECK_EQ_INT(uprobes__process(u, 151, out, 4), 1);
	CHECK_EQ_INT(fake.attaches, 2);
	uprobes__free(u);
	CHECK_EQ_INT(fake.live_links, 0);
	remove_proc(151);
	remove_proc(152);
}

TEST(an_executable_that_links_the_library_in_is_attached_like_one)
{
	struct uprobes *u = fresh();
	const char *node = test_file("node", "ELF with SSL_read and SSL_free in its symbols");
	const char *sh = test_file("sh2", "ELF without them");
	struct uprobe_outcome out[4];
	struct uprobe_stats st;

	make_proc(160, node, 1, NULL, 0);
	make_proc(161, node, 2, NULL, 0);
	make_proc(162, sh, 3, NULL, 0);
	CHECK_EQ_INT(uprobes__process(u, 160, out, 4), 1);
	CHECK(out[0].target == &table[2] && out[0].err == 0);
	CHECK_STR(out[0].file, "node");
	CHECK_EQ_INT(uprobes__process(u, 161, out, 4), 1); /* the same file: no new attach */
	CHECK_EQ_INT(fake.attaches, 1);
	CHECK_EQ_INT(fake.live_links, 3); /* SSL_read entry and return, SSL_free entry */
	CHECK_EQ_INT(uprobes__process(u, 162, out, 4), 0);
	CHECK_EQ_INT(uprobes__process(u, 162, out, 4), 0);
	CHECK_EQ_INT(fake.symbol_calls, 2); /* node once, sh2 once: then the miss cache */
	uprobes__stats(u, 2, &st);
	CHECK(st.attached == 1 && st.failed == 0 && st.active == 1);
	/* its processes gone, it is detached as an executable is */
	remove_proc(160);
	remove_proc(161);
	CHECK_EQ_INT(uprobes__sweep(u), 1);
	CHECK_EQ_INT(fake.live_links, 0);
	uprobes__free(u);
	remove_proc(162);
}

TEST(system_libraries_are_attached_at_start_and_kept)
{
	struct uprobes *u = fresh();
	char dir[400], path[500], lnk[500];
	const char *libs[1];
	struct uprobe_outcome out[4];
	struct uprobe_stats st;

	snprintf(dir, sizeof(dir), "%s/syslib", root);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/libssl.so.3", dir);
	write_file(path, "the library");
	snprintf(lnk, sizeof(lnk), "%s/libssl.so", dir); /* the -dev link: the same file */
	unlink(lnk);
	CHECK_EQ_INT(symlink("libssl.so.3", lnk), 0);
	snprintf(lnk, sizeof(lnk), "%s/libssl3.so", dir); /* NSS's: another library */
	write_file(lnk, "nss");
	snprintf(lnk, sizeof(lnk), "%s/libcrypto.so.3", dir);
	write_file(lnk, "crypto");
	CHECK_EQ_INT(uprobes__library_dir(u, dir), 1);
	CHECK_EQ_INT(fake.attaches, 1);
	CHECK_EQ_INT(uprobes__library_dir(u, dir), 0); /* again: known */
	CHECK_EQ_INT(uprobes__library_dir(u, "/nonexistent-dir"), 0);
	/* a process that maps it later finds it attached */
	libs[0] = path;
	make_proc(170, test_file("app", "ELF app"), 1, libs, 1);
	CHECK_EQ_INT(uprobes__process(u, 170, out, 4), 1);
	CHECK(out[0].target == &table[1] && out[0].err == 0);
	CHECK_EQ_INT(fake.attaches, 1);
	/* no process uses it: it stays, for the next one */
	remove_proc(170);
	CHECK_EQ_INT(uprobes__sweep(u), 0);
	uprobes__stats(u, 1, &st);
	CHECK(st.attached == 1 && st.active == 1 && st.detached == 0);
	CHECK_EQ_INT(fake.live_links, 2);
	uprobes__free(u);
	CHECK_EQ_INT(fake.live_links, 0);
}

TEST(an_optional_row_without_its_symbols_is_no_match)
{
	struct uprobes *u = fresh();
	const char *plain = test_file("goplain", "GO program without TLS");
	const char *tls = test_file("gotls", "GO program with crypto/tls");
	struct uprobe_outcome out[4];
	struct uprobe_stats st;

	make_proc(180, plain, 1, NULL, 0);
	make_proc(181, tls, 2, NULL, 0);
	CHECK_EQ_INT(uprobes__process(u, 180, out, 4), 1); /* go-test only: no note for the other */
	CHECK(out[0].target == &table[0]);
	uprobes__stats(u, 3, &st);
	CHECK(st.attached == 0 && st.failed == 0);
	CHECK_EQ_INT(uprobes__process(u, 181, out, 4), 2);
	CHECK(out[1].target == &table[3] && out[1].err == 0);
	uprobes__stats(u, 3, &st);
	CHECK(st.attached == 1 && st.failed == 0);
	CHECK_EQ_INT(fake.optional_tries, 2); /* once per file, the miss included */
	CHECK_EQ_INT(uprobes__process(u, 180, out, 4), 1);
	CHECK_EQ_INT(fake.optional_tries, 2); /* the miss is remembered */
	uprobes__free(u);
	remove_proc(180);
	remove_proc(181);
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/sonde-uprobes-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(proc, sizeof(proc), "%s/proc", root);
	mkdir(proc, 0755);
	RUN(maps_lines_parse);
	RUN(names_match_by_file_name);
	RUN(the_openssl_row_finds_system_and_bundled_copies);
	RUN(an_executable_is_attached_once_for_all_its_processes);
	RUN(other_executables_are_read_once_and_never_attached);
	RUN(a_failure_is_remembered_until_the_file_changes);
	RUN(a_library_is_found_in_the_maps_and_attached_through_the_mapped_file);
	RUN(without_map_files_the_process_root_path_is_used);
	RUN(a_sweep_detaches_a_file_once_its_processes_are_gone);
	RUN(an_executable_that_links_the_library_in_is_attached_like_one);
	RUN(system_libraries_are_attached_at_start_and_kept);
	RUN(an_optional_row_without_its_symbols_is_no_match);
	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", root);
	}
	UNIT_DONE();
}
