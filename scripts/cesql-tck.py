#!/usr/bin/env python3
"""cesql-tck.py TCK_DIR [EG_CESQL]: runs CloudEvents SQL's own test suite
(the cesql/cesql_tck folder of github.com/cloudevents/spec, not part of this
repository) against core/eg_cesql through tests/tools/eg-cesql (default:
build/tests/eg-cesql), and prints each case that differs and the totals.

A case passes when the result and the error kind are the ones the TCK
expects. Where the gateway decides at compile time what CESQL leaves to
evaluation (an unknown function or a wrong number of arguments: the filter
is refused when the subscription is written), a "missingFunction" case is
counted as passed when the expression does not compile. Needs PyYAML."""
import glob
import json
import os
import subprocess
import sys

import yaml

BASE_EVENT = {"specversion": "1.0", "id": "myId", "source": "http://localhost/source",
              "type": "myType"}


def main():
    tck = sys.argv[1]
    tool = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(__file__), "..", "build", "tests", "eg-cesql")
    cases = []
    for path in sorted(glob.glob(os.path.join(tck, "*.yaml"))):
        suite = yaml.safe_load(open(path))
        for t in suite.get("tests", []):
            event = t.get("event") or dict(BASE_EVENT)
            event = dict(event, **(t.get("eventOverrides") or {}))
            event = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in event.items()}
            cases.append((os.path.basename(path), t, event))
    lines = "".join(json.dumps({"expression": str(t["expression"]), "event": e}) + "\n"
                    for _, t, e in cases)
    out = subprocess.run([tool], input=lines, capture_output=True, text=True, timeout=60,
                         check=True).stdout.splitlines()
    failed = 0
    for (f, t, _), line in zip(cases, out):
        got = json.loads(line)
        want_err = t.get("error")
        ok_err = got["error"] == want_err or (want_err == "missingFunction" and got["error"] == "parse")
        want = t.get("result")
        if hasattr(want, "isoformat"):  # YAML reads a timestamp as a datetime
            want = want.isoformat()
        ok_res = "result" not in t or got["result"] == want or got["error"] == "parse"
        if isinstance(want, bool) or isinstance(got["result"], bool):
            ok_res = "result" not in t or got["error"] == "parse" or (
                type(want) is type(got["result"]) and want == got["result"])
        if not (ok_err and ok_res):
            failed += 1
            print("%s: %s: %r: want %r%s, got %r%s" % (
                f, t["name"], t["expression"], want, " (%s)" % want_err if want_err else "",
                got["result"], " (%s%s)" % (got["error"], ": " + got["message"] if got.get("message") else "")
                if got["error"] else ""))
    print("CESQL TCK: %d of %d cases pass" % (len(cases) - failed, len(cases)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
