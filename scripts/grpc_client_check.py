#!/usr/bin/python3
"""Calls a priortune server with a client the project did not write: Debian's
python3-grpcio, with stubs that python3-grpc-tools generates from proto/priortune.proto
and from the health and reflection protos of Debian's grpc-proto package.

Checks that the health service answers SERVING, that reflection lists the services, and
that a submit / watch / lookup round trip works. Prints one line per check; exit 0 when
all pass, 1 when one fails, 2 for bad usage.

Usage: /usr/bin/python3 scripts/grpc_client_check.py --server HOST:PORT [--work DIR]
       [--token-file F] [--op matmul --dims M=16,N=16,K=16 --trials 8]
"""
import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRPC_PROTO = "/usr/share/grpc-proto/grpc"


def generate(work):
    """Stubs into `work`: priortune_pb2(_grpc), health_pb2(_grpc), reflection_pb2(_grpc)."""
    cmd = [sys.executable, "-m", "grpc_tools.protoc",
           "-I" + os.path.join(ROOT, "proto"),
           "-I" + os.path.join(GRPC_PROTO, "health", "v1"),
           "-I" + os.path.join(GRPC_PROTO, "reflection", "v1alpha"),
           "--python_out=" + work, "--grpc_python_out=" + work,
           "priortune.proto", "health.proto", "reflection.proto"]
    subprocess.run(cmd, check=True, timeout=120)
    sys.path.insert(0, work)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--work", help="where the generated stubs go (default: a temporary directory)")
    ap.add_argument("--token-file")
    ap.add_argument("--op", default="matmul")
    ap.add_argument("--dims", default="M=16,N=24,K=16")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=300, help="seconds for the whole round trip")
    args = ap.parse_args()

    work = args.work or tempfile.mkdtemp(prefix="priortune-py-")
    os.makedirs(work, exist_ok=True)
    generate(work)
    import grpc  # noqa: E402  (Debian's python3-grpcio)
    import health_pb2
    import health_pb2_grpc
    import priortune_pb2 as pb
    import priortune_pb2_grpc as pbg
    import reflection_pb2
    import reflection_pb2_grpc

    metadata = []
    if args.token_file:
        with open(args.token_file) as f:
            metadata = [("authorization", "Bearer " + f.readline().strip())]
    channel = grpc.insecure_channel(args.server)
    grpc.channel_ready_future(channel).result(timeout=60)
    failed = []

    def check(name, ok, detail=""):
        print(("ok   " if ok else "FAIL ") + name + (": " + detail if detail else ""), flush=True)
        if not ok:
            failed.append(name)

    health = health_pb2_grpc.HealthStub(channel)
    for service in ["", "priortune.v1.TuningService"]:
        r = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=30)
        check("health %s" % (service or "(server)"), r.status == health_pb2.HealthCheckResponse.SERVING,
              health_pb2.HealthCheckResponse.ServingStatus.Name(r.status))

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                              timeout=30)
    services = sorted(s.name for a in answers for s in a.list_services_response.service)
    want = ["grpc.health.v1.Health", "priortune.v1.TuningService", "priortune.v1.WorkerService"]
    check("reflection lists " + ", ".join(want), all(w in services for w in want), ", ".join(services))

    stub = pbg.TuningServiceStub(channel)
    workload = pb.Workload(op=args.op, dtype="float32",
                           dims={k: int(v) for k, v in (d.split("=") for d in args.dims.split(","))})
    req = pb.SubmitJobRequest(workloads=[workload], target=pb.TargetSelector(spec="host", threads=1),
                              trials=args.trials, batch_size=8, name="python-client")
    job = stub.SubmitJob(req, metadata=metadata, timeout=30).job_id
    check("submit", job > 0, "job %d" % job)
    last = None
    kinds = []
    for event in stub.WatchJob(pb.JobRef(job_id=job), metadata=metadata, timeout=args.timeout):
        kinds.append(pb.JobEvent.Kind.Name(event.kind))
        last = event
    check("watch: a snapshot first, the job's end last", kinds[:1] == ["SNAPSHOT"] and kinds[-1:] in (["JOB_DONE"], ["SNAPSHOT"]),
          " ".join(kinds[:3]) + " ... " + kinds[-1])
    task = last.job.tasks[0]
    check("job done", last.job.state == "done", "%s, %d records, best %.6f ms" % (last.job.state, task.stored,
                                                                                   task.best_seconds * 1e3))
    found = stub.Lookup(pb.LookupRequest(workload=workload, target=pb.TargetSelector(spec="host", threads=1)),
                        metadata=metadata, timeout=30)
    check("lookup returns the job's best", found.level == "exact target" and found.cost_seconds == task.best_seconds
          and dict(found.config.knobs) == dict(task.best_config.knobs),
          "%s, %s" % (found.level, dict(found.config.knobs)))
    # A bad request is a status naming the field.
    bad = pb.SubmitJobRequest(workloads=[workload], trials=-1)
    try:
        stub.SubmitJob(bad, metadata=metadata, timeout=30)
        check("a bad trial budget is refused", False, "accepted")
    except grpc.RpcError as e:
        check("a bad trial budget is refused", e.code() == grpc.StatusCode.INVALID_ARGUMENT and "trials" in e.details(),
              "%s: %s" % (e.code().name, e.details()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
