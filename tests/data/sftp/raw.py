"""Speaks raw SFTP to ferry over a paramiko SSH channel: malformed,
oversized and unknown requests, then a normal one on the same session.
Prints one JSON object: what each request was answered."""

import json
import struct
import sys

import paramiko

host, port, user, key_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

transport = paramiko.Transport((host, port))
transport.connect(username=user, pkey=paramiko.Ed25519Key.from_private_key_file(key_path))
channel = transport.open_session()
channel.invoke_subsystem("sftp")


def send(kind, body, length=None):
    payload = bytes([kind]) + body
    channel.sendall(struct.pack(">I", length or len(payload)) + payload)


def recv_exact(n):
    data = b""
    while len(data) < n:
        chunk = channel.recv(n - len(data))
        if not chunk:
            raise EOFError("the session ended")
        data += chunk
    return data


def answer():
    (length,) = struct.unpack(">I", recv_exact(4))
    body = recv_exact(length)
    kind = body[0]
    if kind == 2:  # VERSION
        return {"type": "version", "version": struct.unpack(">I", body[1:5])[0]}
    (rid,) = struct.unpack(">I", body[1:5])
    if kind == 101:  # STATUS
        (code,) = struct.unpack(">I", body[5:9])
        return {"type": "status", "id": rid, "code": code}
    if kind == 104:  # NAME
        (count,) = struct.unpack(">I", body[5:9])
        (name_len,) = struct.unpack(">I", body[9:13])
        return {"type": "name", "id": rid, "first": body[13 : 13 + name_len].decode()}
    return {"type": kind, "id": rid}


def string(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b


results = {}
send(1, struct.pack(">I", 3))
results["init"] = answer()
send(150, struct.pack(">I", 7) + b"whatever")
results["unknown"] = answer()
send(3, struct.pack(">I", 8) + b"\x00\x00")  # OPEN cut short
results["malformed"] = answer()
big = struct.pack(">I", 9) + b"\x00" * (600 * 1024)
send(5, big)  # a READ of 600 KiB
results["oversized"] = answer()
send(5, struct.pack(">I", 10) + string("nope") + struct.pack(">QI", 0, 10))
results["bad_handle"] = answer()
# WRITEs (read field by field, not as one packet): data longer than the
# request, a handle longer than the request, a request too short to hold a
# write, and a well-formed one on a handle that does not exist.
send(6, struct.pack(">I", 12) + string("h") + struct.pack(">QI", 0, 100) + b"x" * 10)
results["write_data_past_end"] = answer()
send(6, struct.pack(">II", 13, 1000) + b"h" + struct.pack(">QI", 0, 0))
results["write_handle_past_end"] = answer()
send(6, struct.pack(">I", 14) + b"\x00\x00")
results["write_too_short"] = answer()
send(6, struct.pack(">I", 15) + string("nope") + struct.pack(">QI", 0, 3) + b"abc")
results["write_bad_handle"] = answer()
send(16, struct.pack(">I", 11) + string("."))  # REALPATH
results["realpath"] = answer()
print(json.dumps(results))
transport.close()
