#!/usr/bin/env python3
"""Creates many Config API resources at once (bench/scale.sh: the fan-out's
functions and subscriptions, the 10,000 subscriptions of the configuration
scale), over keep-alive connections: curl in a loop takes a new connection
and process per resource, far too slow for 10,000.

    python3 bench/config_bulk.py PORT SPACE RESOURCE TEMPLATE FIRST COUNT [CONNECTIONS]

POSTs /v1/spaces/SPACE/RESOURCE on 127.0.0.1:PORT COUNT times, the JSON
TEMPLATE with every "@I@" replaced by the resource's number, FIRST to
FIRST+COUNT-1, over CONNECTIONS (8) connections at once (each write waits for
the Config API to read its record back from Kafka, so they overlap). Prints
"N created in S s (R/s)" on standard error; exits 1 at the first answer that
is not 201 (printed with its body) or when a request fails or times out (60 s).
"""
import http.client
import sys
import threading
import time


def main():
    if len(sys.argv) not in (7, 8):
        sys.exit(__doc__.strip().split("\n\n")[1])
    port, space, resource, template = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    first, count = int(sys.argv[5]), int(sys.argv[6])
    conns = int(sys.argv[7]) if len(sys.argv) == 8 else 8
    path = "/v1/spaces/%s/%s" % (space, resource)
    failed = []

    def worker(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for i in range(first + k, first + count, conns):
                if failed:
                    return
                c.request("POST", path, body=template.replace("@I@", str(i)),
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                body = r.read()
                if r.status != 201:
                    failed.append("POST %s #%d answered %d: %s" % (path, i, r.status, body[:300]))
                    return
        except (OSError, http.client.HTTPException) as e:
            failed.append("POST %s: %s" % (path, e))
        finally:
            c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        sys.exit("config_bulk: " + failed[0])
    dt = time.monotonic() - t0
    sys.stderr.write("config_bulk: %d %s created in %.1f s (%.0f/s)\n"
                     % (count, resource, dt, count / dt if dt > 0 else 0))


if __name__ == "__main__":
    main()
