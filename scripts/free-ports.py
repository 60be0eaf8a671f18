#!/usr/bin/env python3
"""free-ports.py N: prints N distinct free TCP ports of 127.0.0.1, on one line.
free-ports.py --consecutive N: prints the first of N consecutive free ports
(scripts/kafka.sh gives its nodes ports that follow one another).

Chosen at random below the ephemeral range (32768+), where the many client
connections of a benchmark or a smoke run cannot take them meanwhile (ports
the kernel hands out for port 0 can be reused that way); each is checked free
by binding it. Used by bench/run.sh, bench/sync.sh, scripts/image-check.sh
and scripts/test-kafka.sh.
"""
import random
import socket
import sys


def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


if len(sys.argv) > 2 and sys.argv[1] == "--consecutive":
    n = int(sys.argv[2])
    while True:
        base = random.randrange(20000, 32000 - n, 2)
        if all(free(p) for p in range(base, base + n)):
            print(base)
            break
    sys.exit(0)

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
ports = []
while len(ports) < n:
    p = random.randint(20000, 32000)
    if p not in ports and free(p):
        ports.append(p)
print(*ports)
