"""Plays conformance/scenarios.json against the emulator at $CONCORD_EMULATOR_URL
through boto3/botocore and prints what it saw as a JSON transcript
(internal/conformance compares it with the Go and JavaScript SDKs').

botocore drops response members its model does not know, so each raw HTTP body
(botocore's after-call event) is also checked member by member against the
operation's output shape, or the error's shape, of botocore's loaded service
model: an unknown member, a value of the wrong JSON type or outside the
shape's enum, or an error code the operation does not declare is reported in
"unknown".

Run it with Debian's python3-boto3 (/usr/bin/python3). Debian bookworm's
botocore (1.29) predates the Agreement API and the Concurrent Agreements
members (LicenseArn), so the service models are loaded from ./models (AWS's
current models, see models/README.md) through AWS_DATA_PATH, botocore's
documented place for extra models.
"""

import datetime
import json
import os
import re
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ["AWS_DATA_PATH"] = os.path.join(HERE, "models")

import boto3  # noqa: E402  (after AWS_DATA_PATH, which the session reads)
import botocore  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

ENDPOINT = os.environ["CONCORD_EMULATOR_URL"]
SERVICES = {
    "metering": "meteringmarketplace",
    "entitlement": "marketplace-entitlement",
    "agreement": "marketplace-agreement",
    "catalog": "marketplace-catalog",
}
REF = re.compile(r"\$\{([^}]+)\}")


def lower_first(s):
    return s[:1].lower() + s[1:]


def norm(v):
    """The normalised answer every runner prints: keys with a lower-case first
    letter, timestamps as ISO 8601 with milliseconds, no None or ""."""
    if v is None or v == "":
        return None
    if isinstance(v, datetime.datetime):
        v = v.astimezone(datetime.timezone.utc)
        return v.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (v.microsecond // 1000)
    if isinstance(v, list):
        return [norm(e) for e in v]
    if isinstance(v, dict):
        out = {}
        for k, e in v.items():
            if k == "ResponseMetadata":
                continue
            n = norm(e)
            if n is not None:
                out[lower_first(k)] = n
        return out
    return v


def lookup(path, seen):
    first, *rest = path.split(".")
    if first not in seen:
        raise KeyError("reference ${%s}: no answer from step %s" % (path, first))
    v = seen[first]
    for p in rest:
        if isinstance(v, list) and p.isdigit() and int(p) < len(v):
            v = v[int(p)]
        elif isinstance(v, dict) and p in v:
            v = v[p]
        else:
            raise KeyError("reference ${%s}: no member %s" % (path, p))
    return v


def resolve(v, seen):
    if isinstance(v, str):
        m = REF.fullmatch(v)
        if m:
            return lookup(m.group(1), seen)
        return REF.sub(lambda m: str(lookup(m.group(1), seen)), v)
    if isinstance(v, list):
        return [resolve(e, seen) for e in v]
    if isinstance(v, dict):
        if list(v) == ["$time"]:
            return datetime.datetime.fromisoformat(v["$time"].replace("Z", "+00:00"))
        return {k: resolve(e, seen) for k, e in v.items()}
    return v


with open(os.path.join(HERE, "newer-than-model.json")) as f:
    NEWER = json.load(f)["members"]


def check(value, shape, path, problems, newer):
    """Walks a decoded JSON body along a botocore shape; reports what it lacks
    (members listed in newer-than-model.json go to newer instead)."""
    if value is None or shape is None:
        return
    t = shape.type_name
    if t == "structure":
        if shape.metadata.get("document"):
            return
        if not isinstance(value, dict):
            problems.append("%s: %s is not a structure" % (path, json.dumps(value)))
            return
        members = {}
        for name, m in shape.members.items():
            loc = m.serialization.get("location")
            if loc in ("header", "headers", "statusCode", "querystring", "uri"):
                continue
            members[m.serialization.get("name", name)] = m
        for k, e in value.items():
            if k in members:
                check(e, members[k], "%s.%s" % (path, k), problems, newer)
            elif k in NEWER.get(shape.name, {}):
                newer.append("%s.%s" % (path, k))
            else:
                problems.append("%s.%s: no such member in %s" % (path, k, shape.name))
    elif t == "list":
        if not isinstance(value, list):
            problems.append("%s: %s is not a list" % (path, json.dumps(value)))
            return
        for i, e in enumerate(value):
            check(e, shape.member, "%s.%d" % (path, i), problems, newer)
    elif t == "map":
        if not isinstance(value, dict):
            problems.append("%s: %s is not a map" % (path, json.dumps(value)))
            return
        for k, e in value.items():
            check(e, shape.value, "%s.%s" % (path, k), problems, newer)
    elif t == "string":
        if not isinstance(value, str):
            problems.append("%s: %s is not a string" % (path, json.dumps(value)))
        elif shape.enum and value not in shape.enum:
            problems.append("%s: %r is not one of %s's values %s" % (path, value, shape.name, shape.enum))
    elif t == "boolean":
        if not isinstance(value, bool):
            problems.append("%s: %s is not a boolean" % (path, json.dumps(value)))
    elif t in ("integer", "long", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append("%s: %s is not a number" % (path, json.dumps(value)))
    elif t == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            problems.append("%s: %s is not a timestamp" % (path, json.dumps(value)))


def control(method, path, body):
    req = urllib.request.Request(ENDPOINT + path, data=json.dumps(body or {}).encode(), method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as res:
        return norm(json.loads(res.read()))


def main():
    with open(sys.argv[1]) as f:
        suite = json.load(f)
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
    cfg = Config(retries={"total_max_attempts": 1})
    last = {}

    def remember(http_response, **_):
        last["body"] = http_response.content

    clients = {}
    for key, name in SERVICES.items():
        c = session.client(name, endpoint_url=ENDPOINT, config=cfg)
        c.meta.events.register("after-call.*.*", remember)
        clients[key] = c

    seen, steps = {}, []
    for st in suite["steps"]:
        r = {"name": st["name"]}
        if "control" in st:
            c = st["control"]
            r["output"] = control(c["method"], c["path"], resolve(c.get("body"), seen))
        else:
            client = clients[st["service"]]
            op = client.meta.service_model.operation_model(st["op"])
            method = getattr(client, botocore.xform_name(st["op"]))
            problems, newer = [], []
            last.clear()
            try:
                out = method(**resolve(st.get("input") or {}, seen))
                r["output"] = norm(out) or {}
                if last.get("body"):
                    check(json.loads(last["body"]), op.output_shape, "output", problems, newer)
            except ClientError as e:
                code = e.response["Error"]["Code"]
                declared = {s.name: s for s in op.error_shapes}
                r["error"] = {"code": code, "message": e.response["Error"].get("Message", ""),
                              "status": e.response["ResponseMetadata"]["HTTPStatusCode"], "modelled": code in declared}
                if last.get("body") and code in declared:
                    body = json.loads(last["body"])
                    body.pop("__type", None)  # the protocol's error discriminator, not a member
                    body.pop("code", None)
                    check(body, declared[code], "error", problems, newer)
            if problems:
                r["unknown"] = problems
            if newer:
                r["newer"] = newer
        if r.get("output") is not None:
            seen[st["name"]] = r["output"]
        steps.append(r)
    sdk = "boto3 %s / botocore %s (python %s)" % (boto3.__version__, botocore.__version__, sys.version.split()[0])
    json.dump({"sdk": sdk, "steps": steps}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
