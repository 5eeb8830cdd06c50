#!/usr/bin/env bash
# Builds sonde's container image without a Docker daemon and without a registry.
#
#   packaging/build-image.sh            rootfs, proved by chroot; then an image with buildah, if present
#   packaging/build-image.sh rootfs     only the root filesystem (build/image/rootfs), proved by chroot
#   packaging/build-image.sh dockerfile buildah bud packaging/Dockerfile, with its bookworm base
#                                       images made from the same debootstrap (no registry needed)
#
# Why not just `docker build packaging/Dockerfile`: where Docker and Docker Hub are reachable, that is
# the way (the Dockerfile is the reference). Here no container registry is reachable (FROM
# debian:bookworm cannot be pulled) and no daemon runs, so the same image is assembled from Debian's
# own packages:
#
#   1. `debootstrap --variant=minbase bookworm` into a directory, once: cached as a tarball in
#      $SONDE_CACHE/image/ (default ~/.cache/sonde/image/), keyed by the mirror.
#   2. the runtime libraries (libbpf1 libdw1 libelf1 zlib1g libprotobuf-c1 libcurl4 ca-certificates) are
#      installed into a copy with apt-get in a chroot; build/sonde (from `make`) goes to
#      /usr/local/bin/sonde with file capabilities (setcap), owned by uid 65532.
#   3. `chroot ROOTFS /usr/local/bin/sonde --version` and `--check` prove that the image's own
#      libraries run the agent on this kernel.
#   4. if buildah works (root, vfs storage, chroot isolation: no user namespace or overlay needed),
#      the root filesystem becomes the image localhost/sonde:VERSION, also written as a
#      docker-archive, build/image/sonde-VERSION.docker.tar, which `microk8s images import`,
#      `ctr -n k8s.io images import` or `docker load` take.
#
# Environment: SONDE_CACHE (cache root), DEBIAN_MIRROR (default: the mirror apt uses here, else
# http://deb.debian.org/debian), SONDE_IMAGE (default localhost/sonde:VERSION), SONDE_IMAGE_DIR
# (default build/image), BUILDAH=0 (skip step 4).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
MODE=${1:-all}
VERSION=$(cat "$ROOT/VERSION")
CACHE=${SONDE_CACHE:-${HOME:-/root}/.cache/sonde}/image
OUT=${SONDE_IMAGE_DIR:-$ROOT/build/image}
ROOTFS=$OUT/rootfs
IMAGE=${SONDE_IMAGE:-localhost/sonde:$VERSION}
RUNTIME_PKGS=(libbpf1 libdw1 libelf1 zlib1g libprotobuf-c1 libcurl4 ca-certificates)
SONDE_UID=65532
# The capabilities the binary carries (see packaging/Dockerfile): effective + permitted, so a
# non-root user gets them at exec, if the container's bounding set has them.
FILECAPS=cap_bpf,cap_perfmon,cap_net_admin,cap_sys_ptrace+ep

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (debootstrap, chroot and setcap need it)"

mirror() {
	if [[ -n ${DEBIAN_MIRROR:-} ]]; then
		echo "$DEBIAN_MIRROR"
		return
	fi
	local m
	m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/debian.sources | awk '{print $2}' | grep -v security | head -n1)
	[[ -n $m ]] || m=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1)
	echo "${m:-http://deb.debian.org/debian}"
}

need() { # TOOL PACKAGE
	command -v "$1" >/dev/null 2>&1 && return
	log "installing $2 (for $1)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null ||
		die "apt-get install $2 failed"
}

# 1. debootstrap, cached as a tarball.
base_tarball() {
	local m key tar
	m=$(mirror)
	key=$(printf '%s' "$m" | sha256sum | cut -c1-12)
	tar=$CACHE/bookworm-minbase-$(dpkg --print-architecture)-$key.tar.gz
	if [[ -s $tar ]]; then
		echo "$tar"
		return
	fi
	need debootstrap debootstrap
	mkdir -p "$CACHE"
	exec 8>"$CACHE/.lock"
	flock 8
	if [[ ! -s $tar ]]; then
		local dir=$CACHE/debootstrap.tmp start=$SECONDS
		rm -rf "$dir"
		log "debootstrap --variant=minbase bookworm from $m (once; cached in $tar)"
		debootstrap --variant=minbase bookworm "$dir" "$m" >"$CACHE/debootstrap.log" 2>&1 ||
			{ tail -n 20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
		rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
		tar -C "$dir" --numeric-owner -czf "$tar.tmp" .
		mv -f "$tar.tmp" "$tar"
		rm -rf "$dir"
		log "debootstrap done in $((SECONDS - start)) s ($(du -h "$tar" | cut -f1))"
	fi
	echo "$tar"
}

# Mounts for apt-get in the chroot; undone on exit.
MOUNTED=()
chroot_mounts() {
	local r=$1
	mount -t proc proc "$r/proc" && MOUNTED+=("$r/proc")
	mount --bind /dev "$r/dev" && MOUNTED+=("$r/dev")
	mount --bind /sys "$r/sys" && MOUNTED+=("$r/sys")
	cp -L /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
}
chroot_umounts() {
	local i
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
		umount -l "${MOUNTED[i]}" 2>/dev/null || true
	done
	MOUNTED=()
}
trap chroot_umounts EXIT

# 2. the runtime root filesystem: base + runtime libraries (cached as a tarball too) + the binary.
build_rootfs() {
	[[ -x $ROOT/build/sonde ]] || die "build/sonde is missing: run make first"
	local base rt key
	base=$(base_tarball)
	key=$(printf '%s %s' "$base" "${RUNTIME_PKGS[*]}" | sha256sum | cut -c1-12)
	rt=$CACHE/runtime-$key.tar.gz
	if [[ ! -s $rt ]]; then
		local dir=$CACHE/runtime.tmp start=$SECONDS
		rm -rf "$dir" && mkdir -p "$dir"
		tar -C "$dir" -xzf "$base"
		chroot_mounts "$dir"
		log "installing ${RUNTIME_PKGS[*]} into the image (once; cached in $rt)"
		printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
		chmod +x "$dir/usr/sbin/policy-rc.d"
		chroot "$dir" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -c \
			"apt-get update -qq && apt-get install -y -qq --no-install-recommends ${RUNTIME_PKGS[*]} >/dev/null" ||
			die "apt-get install in the image failed"
		chroot "$dir" apt-get clean
		chroot_umounts
		rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir/usr/sbin/policy-rc.d"
		# Files a minimal image does not need.
		rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/*
		tar -C "$dir" --numeric-owner -czf "$rt.tmp" .
		mv -f "$rt.tmp" "$rt"
		rm -rf "$dir"
		log "runtime layer done in $((SECONDS - start)) s ($(du -h "$rt" | cut -f1))"
	fi
	need setcap libcap2-bin
	rm -rf "$ROOTFS" && mkdir -p "$ROOTFS"
	tar -C "$ROOTFS" -xzf "$rt"
	grep -q "^sonde:" "$ROOTFS/etc/passwd" ||
		echo "sonde:x:$SONDE_UID:$SONDE_UID:sonde:/nonexistent:/usr/sbin/nologin" >>"$ROOTFS/etc/passwd"
	grep -q "^sonde:" "$ROOTFS/etc/group" || echo "sonde:x:$SONDE_UID:" >>"$ROOTFS/etc/group"
	install -D -m 0755 "$ROOT/build/sonde" "$ROOTFS/usr/local/bin/sonde"
	install -D -m 0644 "$HERE/sonde.conf" "$ROOTFS/etc/sonde/sonde.conf"
	setcap "$FILECAPS" "$ROOTFS/usr/local/bin/sonde"
	log "rootfs: $ROOTFS ($(du -sh "$ROOTFS" | cut -f1)); sonde caps: $(getcap "$ROOTFS/usr/local/bin/sonde" | cut -d' ' -f2-)"
}

# 3. the image's own libraries run the agent.
prove_rootfs() {
	local v
	v=$(chroot "$ROOTFS" /usr/local/bin/sonde --version) || die "chroot $ROOTFS sonde --version failed"
	log "chroot: $v"
	[[ $v == "sonde $VERSION"* ]] || die "unexpected version: $v"
	# --check needs /proc and /sys (kernel BTF, capabilities) as a container would have them.
	chroot_mounts "$ROOTFS"
	if ! chroot "$ROOTFS" /usr/local/bin/sonde --check >"$OUT/check.txt" 2>&1; then
		cat "$OUT/check.txt" >&2
		die "chroot $ROOTFS sonde --check failed"
	fi
	chroot_umounts
	log "chroot: $(grep verdict "$OUT/check.txt")"
}

buildah_ok() {
	[[ ${BUILDAH:-1} != 0 ]] && command -v buildah >/dev/null 2>&1
}

B() { buildah --storage-driver vfs "$@"; }

# 4. the rootfs as an OCI image, and a docker-archive of it.
commit_image() {
	local c start=$SECONDS
	c=$(B from scratch)
	B copy "$c" "$ROOTFS/" / >/dev/null
	B config --user "$SONDE_UID:$SONDE_UID" --entrypoint '["/usr/local/bin/sonde"]' \
		--cmd '["--config", "/etc/sonde/sonde.conf"]' --port 9464 \
		--label org.opencontainers.image.title=sonde --label "org.opencontainers.image.version=$VERSION" \
		"$c"
	B commit --rm -q "$c" "$IMAGE" >/dev/null
	rm -f "$OUT/sonde-$VERSION.docker.tar"
	B push -q "$IMAGE" "docker-archive:$OUT/sonde-$VERSION.docker.tar:${IMAGE#localhost/}" >/dev/null
	log "image $IMAGE in $((SECONDS - start)) s; archive $OUT/sonde-$VERSION.docker.tar ($(du -h "$OUT/sonde-$VERSION.docker.tar" | cut -f1))"
	# The image runs the agent, as its own user 65532, in buildah's chroot isolation (no user
	# namespace needed). The capabilities must be in the bounding set: the binary's file
	# capabilities carry the effective bit, so exec fails with EPERM where the container cannot
	# grant them all (a container needs them anyway).
	c=$(B from "$IMAGE")
	B run --isolation chroot --cap-add CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN,CAP_SYS_PTRACE "$c" -- \
		/usr/local/bin/sonde --version >&2 || die "buildah run sonde --version failed"
	B rm "$c" >/dev/null
	B rmi --prune >/dev/null 2>&1 || true # the previous build's image, now untagged
}

# packaging/Dockerfile, built with base images made from the cached debootstrap (no registry).
build_dockerfile() {
	buildah_ok || die "buildah is not installed (apt-get install buildah)"
	local base
	base=$(base_tarball)
	B rmi -f localhost/debian:bookworm >/dev/null 2>&1 || true
	local c
	c=$(B from scratch)
	B add "$c" "$base" / >/dev/null # a local tarball is extracted
	B commit --rm -q "$c" localhost/debian:bookworm >/dev/null
	B bud --isolation chroot --layers=false -f "$HERE/Dockerfile" \
		--build-arg BUILD_BASE=localhost/debian:bookworm --build-arg RUNTIME_BASE=localhost/debian:bookworm \
		-t "$IMAGE" "$ROOT"
	rm -f "$OUT/sonde-$VERSION.docker.tar"
	B push -q "$IMAGE" "docker-archive:$OUT/sonde-$VERSION.docker.tar:${IMAGE#localhost/}" >/dev/null
	log "image $IMAGE from packaging/Dockerfile; archive $OUT/sonde-$VERSION.docker.tar"
	c=$(B from "$IMAGE")
	B run --isolation chroot --cap-add CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN,CAP_SYS_PTRACE "$c" -- \
		/usr/local/bin/sonde --version >&2 || die "buildah run sonde --version failed"
	B rm "$c" >/dev/null
	B rmi --prune >/dev/null 2>&1 || true
}

mkdir -p "$OUT"
case $MODE in
rootfs)
	build_rootfs
	prove_rootfs
	;;
all)
	build_rootfs
	prove_rootfs
	if buildah_ok; then commit_image; else log "buildah not installed: rootfs only"; fi
	;;
dockerfile) build_dockerfile ;;
*) die "usage: $0 [all|rootfs|dockerfile]" ;;
esac
log "done ($MODE)"
