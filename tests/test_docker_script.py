"""A shell script of docker invocations as people write them runs unchanged with corral as `docker`.

The script is what a docker user would have in a CI job or a Makefile: inspect -f, ps --filter,
logs --since, run -e NAME, cp, commit, prunes with -f... Only the word `docker` is provided by
corral (a shell function); each line checks its own result, so `set -e` stops at the first
difference and the test names the line.
"""
from __future__ import annotations

import subprocess
import sys

from conftest import SRC

SCRIPT = r"""
set -eu
docker() { "$PYTHON" -m corral.cli.main "$@"; }

docker version --format '{{.Server.Version}}' | grep -q .
docker info --format '{{.Images}} images' | grep -qx '1 images'
docker images --format '{{.Repository}}:{{.Tag}}' | grep -qx busybox:latest
docker run --rm busybox echo hello | grep -qx hello
docker run -d --name web -e FROM_CALLER -e BAR=2 --label app=web --env-file env.list busybox sleep 300 >/dev/null
test "$(docker inspect -f '{{.State.Status}}' web)" = running
docker inspect --format '{{range .Config.Env}}{{println .}}{{end}}' web | grep -qx FROM_CALLER=yes
docker inspect --format '{{index .Config.Labels "app"}} {{json .HostConfig.AutoRemove}}' web | grep -qx 'web false'
docker ps --filter label=app=web --format '{{.Names}}' | grep -qx web
test "$(docker ps -q | wc -l)" -eq 1
test "$(docker ps -a --filter status=exited -q | wc -l)" -eq 0
docker exec web sh -c 'echo $BAR $FROM_FILE' | grep -qx '2 file'
docker exec -e X=1 -w /tmp web sh -c 'echo $X $(pwd)' | grep -qx '1 /tmp'
docker exec web sh -c 'echo to the log > /proc/1/fd/1'
docker logs web | grep -qx 'to the log'
docker logs --since 10m --tail 5 -t web | grep -q 'Z to the log'
docker top web | grep -q 'sleep 300'
docker stats --no-stream --format '{{.Name}} {{.PIDs}}' web | grep -qx 'web 1'
docker cp web:/etc/hostname ./hostname.txt && test -s hostname.txt
docker cp ./hostname.txt web:/tmp/copied && docker exec web cat /tmp/copied | grep -q .
docker diff web | grep -qx 'A /tmp/copied'
docker commit -m snapshot web snap:1 | grep -q '^sha256:'
docker history -H=false --format '{{.Comment}}' snap:1 | head -1 | grep -qx snapshot
docker tag snap:1 snap:latest
test "$(docker image ls snap --format '{{.Tag}}' | sort | tr '\n' ' ')" = '1 latest '
docker pause web && docker unpause web
docker restart -t 1 web >/dev/null
docker stop -t 1 web >/dev/null
test "$(docker wait web)" = 137
docker container ls -a --format '{{.Names}} {{.State}}' | grep -qx 'web exited'
docker rm web >/dev/null
docker rmi snap:1 snap:latest >/dev/null
docker run --cidfile cid.txt -d busybox true >/dev/null
test "$(docker wait "$(cat cid.txt)")" = 0
docker container prune -f | grep -q 'Total reclaimed space'
docker network create --subnet 10.210.40.0/24 scriptnet >/dev/null
test "$(docker network ls --filter name=scriptnet -q | wc -l)" -eq 1
docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' scriptnet | grep -qx 10.210.40.0/24
docker run --rm --network scriptnet busybox ip -4 -o addr show eth0 | grep -q 'inet 10.210.40.'
docker network rm scriptnet >/dev/null
docker image prune -f | grep -q 'Total reclaimed space'
docker system df | grep -q '^Images'
docker system prune -f | grep -q 'Total reclaimed space'
echo all done
"""


def test_a_docker_script_runs_unchanged(busybox, tmp_path):
    (tmp_path / "env.list").write_text("# docker's env file\nFROM_FILE=file\n")
    env = dict(busybox.env, PYTHON=sys.executable, PYTHONPATH=SRC, FROM_CALLER="yes")
    r = subprocess.run(["sh", "-x", "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, timeout=300)
    trace = r.stderr.decode()
    assert r.returncode == 0, f"stopped at: {trace.strip().splitlines()[-6:]}"
    assert r.stdout.decode().strip().endswith("all done")
    assert busybox.out("ps", "-aq") == "" and "scriptnet" not in busybox.out("network", "ls")
