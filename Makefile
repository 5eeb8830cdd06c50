# sonde: one entry point. `make` builds the agent; `make run` runs it; `make test` runs every test;
# `make testing` builds build/sonde-testing, the agent with its tests-only switches;
# `make deps` installs the Debian packages the build and the tests need; `make bench` measures.
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

ARCH ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
VMLINUX_ARCH := $(shell uname -m | sed -e 's/arm64/aarch64/')
VMLINUX := vmlinux/$(VMLINUX_ARCH)/vmlinux.h

BUILD := build
CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
CC ?= cc
PROTOC_C ?= protoc-c

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

# Extra flags for sanitizer builds: make SAN=1 (ASan + UBSan).
ifeq ($(SAN),1)
BUILD := build-san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

CFLAGS ?= -O2 -g
CFLAGS += -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-format-truncation -std=gnu11 \
	  -D_GNU_SOURCE -Iinclude -Iagent -I$(BUILD) -I$(BUILD)/gen \
	  -DSONDE_VERSION='"$(VERSION)"' $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS)
LIBS := -lbpf -ldw -lelf -lz -lprotobuf-c -lcurl -lm

MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

# Debian packages the build needs, with a header or tool that proves each one is there.
# pkg:probe pairs; `make` stops with the missing package's name.
BUILD_DEPS := clang:/usr/bin/clang llvm:/usr/bin/llvm-strip libbpf-dev:/usr/include/bpf/libbpf.h \
	bpftool:$(BPFTOOL) libelf-dev:/usr/include/libelf.h libdw-dev:/usr/include/elfutils/libdw.h zlib1g-dev:/usr/include/zlib.h \
	libprotobuf-c-dev:/usr/include/protobuf-c/protobuf-c.h protobuf-c-compiler:/usr/bin/protoc-c \
	libcurl4-openssl-dev:/usr/include/$(MULTIARCH)/curl/curl.h
MISSING := $(foreach d,$(BUILD_DEPS),$(if $(wildcard $(word 2,$(subst :, ,$(d)))),,$(word 1,$(subst :, ,$(d)))))

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

PROTOS := $(shell find proto -name '*.proto' 2>/dev/null | sort)
PROTO_C := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
PROTO_OBJS := $(PROTO_C:.c=.o)

AGENT_SRCS := $(wildcard agent/*.c agent/decoders/*.c agent/export/*.c agent/loader/*.c)
AGENT_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(AGENT_SRCS))
LIB_OBJS := $(filter-out $(BUILD)/agent/main.o,$(AGENT_OBJS)) $(PROTO_OBJS)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all testing check-deps deps run test unit integration bench soak fuzz clean install

all: check-deps $(BUILD)/sonde

# build/sonde-testing: the same agent, its start-up self-tests and test seams built with
# -DSONDE_TESTING, so that the integration tests can force their verdicts and change a few
# values (SONDE_TEST_* in agent/loader/selftest.c and agent/seams.c). build/sonde reads no such
# switch. Linked before libsonde.a, the testing objects are the ones used.
TESTING_OBJS := $(BUILD)/agent/loader/selftest-testing.o $(BUILD)/agent/seams-testing.o
testing: check-deps $(BUILD)/sonde-testing

check-deps:
ifneq ($(strip $(MISSING)),)
	@echo "sonde: missing Debian packages: $(strip $(MISSING))" >&2
	@echo "       install them with: make deps   (or: apt-get install $(strip $(MISSING)))" >&2
	@exit 1
endif

deps:
	$(Q)./tests/install-deps.sh build

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.bpf.h bpf/maps/*.h bpf/runtimes/*.h) include/sonde_event.h $(VMLINUX) | check-deps
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux/$(VMLINUX_ARCH) -Iinclude -Ibpf \
		-Wall -Werror -Wno-unused-function -c $< -o $@
	$(Q)llvm-strip -g $@ 2>/dev/null || true

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto $(PROTOS) | check-deps
	$(call msg,PROTOC,$@)
	$(Q)mkdir -p $(BUILD)/gen
	$(Q)$(PROTOC_C) -Iproto --c_out=$(BUILD)/gen $<

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c $(PROTO_C)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Wno-unused-parameter -c $< -o $@

# Agent objects depend on every skeleton and generated header: cheap, and never stale.
$(BUILD)/agent/%.o: agent/%.c $(SKELS) $(PROTO_C) | check-deps
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# --version prints the git revision: version.h is rewritten only when it changes, and then
# main.o is rebuilt (a -D flag would not make it stale).
$(BUILD)/gen/version.h: FORCE
	$(Q)mkdir -p $(@D)
	$(Q)echo '#define SONDE_GIT_REV "$(GIT_REV)"' > $@.tmp
	$(Q)cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(BUILD)/agent/main.o: $(BUILD)/gen/version.h
.PHONY: FORCE
FORCE:

$(BUILD)/libsonde.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/sonde: $(BUILD)/agent/main.o $(BUILD)/libsonde.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/agent/%-testing.o: agent/%.c $(SKELS) $(PROTO_C) | check-deps
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -DSONDE_TESTING -MMD -MP -c $< -o $@

$(BUILD)/sonde-testing: $(BUILD)/agent/main.o $(TESTING_OBJS) $(BUILD)/libsonde.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(BUILD)/libsonde.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libsonde.a $(LDFLAGS) $(LIBS)

run: deps all
	$(BUILD)/sonde $(ARGS)

unit: all $(UNIT_BINS)
	$(Q)./tests/run-unit.sh $(UNIT_BINS)

test: deps
	$(Q)./tests/run.sh

bench: deps all
	$(Q)./bench/run.sh

# A long run under load (not a test: it measures): RSS, fds, drops. SOAK_SECONDS (default 600).
SOAK_SECONDS ?= 600
soak: deps all
	$(Q)python3 bench/soak.py --seconds $(SOAK_SECONDS)

fuzz:
	$(Q)./tests/fuzz/run.sh

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary to $(PREFIX)/bin, the systemd unit to
# $(PREFIX)/lib/systemd/system (systemd reads /usr/local/lib/systemd/system for local units; its
# ExecStart follows PREFIX), the default config to /etc/sonde/sonde.conf unless one is there.
# Then: systemctl daemon-reload && systemctl enable --now sonde. `make uninstall` keeps the config.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
install: all
	install -D -m 0755 $(BUILD)/sonde $(DESTDIR)$(PREFIX)/bin/sonde
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/local/bin/sonde|$(PREFIX)/bin/sonde|g' -e 's|/etc/sonde/sonde.conf|$(SYSCONFDIR)/sonde/sonde.conf|g' \
		packaging/sonde.service > $(DESTDIR)$(UNITDIR)/sonde.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/sonde.service
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/sonde
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/sonde/sonde.conf ]; then \
		echo "  keeping $(DESTDIR)$(SYSCONFDIR)/sonde/sonde.conf (the new default is packaging/sonde.conf)"; \
	else \
		install -m 0644 packaging/sonde.conf $(DESTDIR)$(SYSCONFDIR)/sonde/sonde.conf; \
	fi

.PHONY: uninstall
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/sonde $(DESTDIR)$(UNITDIR)/sonde.service
	@echo "  kept $(DESTDIR)$(SYSCONFDIR)/sonde/sonde.conf (remove it by hand)"

clean:
	rm -rf build build-san

-include $(AGENT_OBJS:.o=.d) $(TESTING_OBJS:.o=.d)
