"""What the interop checks share: the bootstrap list from ops/interop.sh, the check log, and the
API versions: what Rill advertises (asked at run time) and the log of what a client negotiated."""
import os
import socket
import struct

BOOTSTRAP = os.environ["BOOTSTRAP"]
BROKERS = BOOTSTRAP.split(",")
failures = []


def check(name, ok, detail=""):
    """Print one check's outcome; remember failures for the exit code."""
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)
    if not ok:
        failures.append(name)


def api_name(key):
    """Kafka's name for an API key (kafka-python carries the full table)."""
    from kafka.protocol.api_key import ApiKey
    try:
        return ApiKey(key).name
    except ValueError:
        return f"key{key}"


def rill_api_versions(host_port=None):
    """{api key: (min, max)} from an ApiVersions v0 request to one node: what Rill advertises now,
    so that the checks follow Rill as it serves more versions instead of hard-coding them."""
    host, port = (host_port or BROKERS[0]).rsplit(":", 1)
    client = b"rill-interop-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.settimeout(10)
        s.sendall(struct.pack(">i", len(body)) + body)

        def read(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise ConnectionError(f"ApiVersions v0: connection closed after {len(buf)} of {n} bytes")
                buf += chunk
            return buf

        (size,) = struct.unpack(">i", read(4))
        data = read(size)
    correlation, error, count = struct.unpack_from(">ihi", data, 0)
    if correlation != 7 or error != 0:
        raise ValueError(f"ApiVersions v0: correlation {correlation}, error {error}")
    return {k: (lo, hi) for k, lo, hi in (struct.unpack_from(">hhh", data, 10 + 6 * i) for i in range(count))}


def report_versions(tag, used, rill, client_versions=None):
    """Print `<tag> negotiated <Api> v<N>` for every API the client sent (used: {key: {versions}}),
    and check each against what Rill advertises: within its range, and, when the client's own
    versions are known (client_versions: {key: [versions]}), the newest version both serve.
    ApiVersions is special: a client opens with its newest, and a broker that lacks it answers
    UNSUPPORTED_VERSION with its own range; the client then asks again within that range."""
    wrong = []
    for key in sorted(used):
        versions = sorted(used[key])
        note = ""
        if key == 18 and len(versions) > 1 and key in rill and versions[-1] > rill[key][1]:
            note = f" (after v{versions[-1]} was answered UNSUPPORTED_VERSION)"
            versions = versions[:-1]
        shown = f"v{versions[0]}" if len(versions) == 1 else "v" + "/".join(map(str, versions))
        print(f"{tag} negotiated {api_name(key)} {shown}{note}", flush=True)
        if key not in rill:
            wrong.append(f"{api_name(key)} {shown}: not advertised by Rill")
            continue
        lo, hi = rill[key]
        if any(not lo <= v <= hi for v in versions):
            wrong.append(f"{api_name(key)} {shown}: outside Rill's {lo}-{hi}")
        elif client_versions and key in client_versions:
            both = [v for v in client_versions[key] if lo <= v <= hi]
            if both and versions != [max(both)]:
                wrong.append(f"{api_name(key)} {shown}: the newest both serve is v{max(both)}")
    what = "the newest version both serve" if client_versions else "a version Rill advertises"
    check(f"{tag}: every API it sent ({len(used)}) used {what}", not wrong and bool(used), wrong or "nothing captured")
