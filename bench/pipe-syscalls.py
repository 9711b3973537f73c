#!/usr/bin/env python3
"""Where a relayed message's CPU goes: one server, the Node `ws` pipe load, per-message costs.

    python3 bench/pipe-syscalls.py <Relay.Gateway.dll | @localfirst/relay dist/start.js> [NAME=VALUE ...]
    (env: MESSAGES=16384 per direction and pair, SIZE=1024 bytes per message, PAIRS=16, WARMUP=8 seconds,
    PERF=1 to count syscalls with `perf stat`)

Starts the server on a free loopback port (Relay as the bench starts it; the reference with PORT and
bench/bind-loopback.mjs), drives PAIRS pairs x SIZE bytes with bench/pipe-driver.mjs, and over the measured phase only
prints the server's CPU per message (user part too), context switches per message (all threads, from /proc)
and, with PERF=1, its recvfrom/sendto/read/writev/epoll calls per message (perf's syscall tracepoints). The
bench's numbers are the measurement; this is the profile that says why.
"""
import glob, json, os, socket, subprocess, sys, time

here = os.path.dirname(os.path.abspath(__file__))
server = os.path.abspath(sys.argv[1])
env = dict(os.environ, Logging__LogLevel__Default="Warning")
for pair in sys.argv[2:]:
    name, value = pair.split("=", 1)
    env[name] = value
probe = socket.socket(); probe.bind(("127.0.0.1", 0)); port = probe.getsockname()[1]; probe.close()
if server.endswith(".js"):
    proc = subprocess.Popen(["node", "--import", os.path.join(here, "bind-loopback.mjs"), server], env=dict(env, PORT=str(port)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
else:
    proc = subprocess.Popen(["dotnet", server, f"--urls=http://127.0.0.1:{port}", "--Relay:KeepAliveInterval=00:00:00",
                             "--Relay:Introduction:IdleTimeout=00:00:00"], env=env, cwd=os.path.dirname(server),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)

def sample():
    with open(f"/proc/{proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    switches = 0
    for status in glob.glob(f"/proc/{proc.pid}/task/*/status"):
        try:
            switches += sum(int(line.split()[1]) for line in open(status) if "ctxt_switches" in line)
        except FileNotFoundError:
            pass
    return (int(fields[11]) + int(fields[12])) / tick, int(fields[11]) / tick, switches

messages = int(os.environ.get("MESSAGES", "16384"))
pairs, size = int(os.environ.get("PAIRS", "16")), int(os.environ.get("SIZE", "1024"))
driver = subprocess.Popen(["node", os.path.join(here, "pipe-driver.mjs"), "--url", f"ws://127.0.0.1:{port}", "--pairs", str(pairs),
                           "--size", str(size), "--messages", str(messages), "--window", "256",
                           "--warmup-seconds", os.environ.get("WARMUP", "8")],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
calls = ["recvfrom", "sendto", "recvmsg", "sendmsg", "read", "writev", "epoll_wait", "epoll_pwait"]
perf = None
for line in driver.stdout:
    event = json.loads(line)
    if event["event"] == "warmed":
        if os.environ.get("PERF") == "1":
            perf = subprocess.Popen(["perf", "stat", "-x,", "-o", "/tmp/pipe-syscalls.perf", "-e",
                                     ",".join(f"syscalls:sys_enter_{c}" for c in calls), "-p", str(proc.pid)])
            time.sleep(0.5)
        before = sample()
        driver.stdin.write("measure\n"); driver.stdin.flush()
    elif event["event"] == "measured":
        after = sample()
        seconds = event["seconds"]
        if perf:
            perf.send_signal(2); perf.wait()
        driver.stdin.write("close\n"); driver.stdin.flush()
        break
    elif event["event"] == "error":
        sys.exit(f"driver: {event['message']}")
driver.wait()
proc.kill()
total = messages * pairs * 2
line = (f"{1e6 * (after[0] - before[0]) / total:.2f} us CPU per message (user {1e6 * (after[1] - before[1]) / total:.2f}), "
        f"{(after[2] - before[2]) / total:.2f} context switches per message, {total * size / seconds / 1e6:.0f} MB/s, {(after[0] - before[0]) / (total * size / 1e9):.2f} s CPU per GB")
if perf:
    counts = {}
    for row in open("/tmp/pipe-syscalls.perf"):
        parts = row.strip().split(",")
        if len(parts) > 2 and parts[2].startswith("syscalls:sys_enter_") and parts[0].isdigit():
            counts[parts[2].removeprefix("syscalls:sys_enter_")] = int(parts[0]) / total
    line += "; per message: " + ", ".join(f"{name} {value:.2f}" for name, value in counts.items() if value > 0)
print(line)
