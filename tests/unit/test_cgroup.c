// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Container ids and pod uids from real cgroup layouts of each runtime, v1 and v2. */
#include <string.h>

#include "cgroup.h"
#include "unit.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID "1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
#define UID_ "1d2c3b4a_5e6f_4a7b_8c9d_0e1f2a3b4c5d"

static struct container_ref ref;

static bool parse(const char *s)
{
	return cgroup_parse_container(s, strlen(s), &ref);
}

TEST(containerd_systemd_v2)
{
	CHECK(parse("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
		    ".slice/cri-containerd-" ID ".scope\n"));
	CHECK_STR(ref.id, ID);
	CHECK_STR(ref.pod_uid, UID);
	CHECK_STR(ref.runtime, "containerd");
}

TEST(microk8s_cgroupfs)
{
	CHECK(parse("0::/kubepods/besteffort/pod" UID "/" ID "\n"));
	CHECK_STR(ref.id, ID);
	CHECK_STR(ref.pod_uid, UID);
	CHECK_STR(ref.runtime, "");
}

TEST(crio_v2)
{
	CHECK(parse("0::/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" ID ".scope"));
	CHECK_STR(ref.runtime, "cri-o");
	CHECK_STR(ref.pod_uid, UID);
}

TEST(docker_v1_and_systemd)
{
	CHECK(parse("12:pids:/docker/" ID "\n11:memory:/docker/" ID "\n0::/\n"));
	CHECK_STR(ref.id, ID);
	CHECK_STR(ref.runtime, "docker");
	CHECK_STR(ref.pod_uid, "");
	CHECK(parse("0::/system.slice/docker-" ID ".scope\n"));
	CHECK_STR(ref.runtime, "docker");
}

TEST(podman)
{
	CHECK(parse("0::/machine.slice/libpod-" ID ".scope/container\n"));
	CHECK_STR(ref.id, ID);
	CHECK_STR(ref.runtime, "podman");
}

TEST(host_processes_and_garbage)
{
	CHECK(!parse("0::/user.slice/user-0.slice/session-3.scope\n"));
	CHECK(!parse("0::/system.slice/nginx.service\n"));
	CHECK(!parse(""));
	CHECK(!parse("garbage without colons"));
	CHECK(!parse("0::/docker/" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
	CHECK(!parse("0::/docker/0123"));
	CHECK_STR(ref.id, "");
}

int main(void)
{
	RUN(containerd_systemd_v2);
	RUN(microk8s_cgroupfs);
	RUN(crio_v2);
	RUN(docker_v1_and_systemd);
	RUN(podman);
	RUN(host_processes_and_garbage);
	UNIT_DONE();
}
