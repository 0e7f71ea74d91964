"""Python ftplib against ferry's FTP server, plain and TLS.

Usage: client.py PORT SCRATCH_DIR. Prints one JSON object: what each step
saw, for the Rust test to check. Every socket has a timeout, so a server
that stops answering fails the test instead of hanging it.
"""

import ftplib
import hashlib
import io
import json
import socket
import ssl
import sys
import time

port = int(sys.argv[1])
out = {}
TIMEOUT = 20


def code(error):
    return str(error)[:3]


def plain(user="alice"):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=TIMEOUT)
    ftp.login(user, "alice-pass")
    return ftp


def tls(user):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    ftp = ftplib.FTP_TLS(context=context)
    ftp.connect("127.0.0.1", port, timeout=TIMEOUT)
    ftp.auth()
    ftp.login(user, "alice-pass")
    ftp.prot_p()
    return ftp


data = bytes(range(256)) * 4096  # 1 MiB
digest = hashlib.sha256(data).hexdigest()

# Plain FTP: store, list, read back, hash, rename, delete.
ftp = plain()
out["welcome"] = ftp.getwelcome()
out["pwd"] = ftp.pwd()
ftp.cwd("/inbox")
out["stor"] = ftp.storbinary("STOR data.bin", io.BytesIO(data))
out["nlst"] = sorted(ftp.nlst())
out["mlsd"] = {name: facts.get("size") for name, facts in ftp.mlsd()}
out["size"] = ftp.size("data.bin")
out["opts_hash"] = ftp.sendcmd("OPTS HASH SHA-256")
out["hash"] = ftp.sendcmd("HASH data.bin")
out["xsha256"] = ftp.sendcmd("XSHA256 /inbox/data.bin")
out["expected_sha256"] = digest
got = io.BytesIO()
ftp.retrbinary("RETR data.bin", got.write)
out["retr_ok"] = got.getvalue() == data
out["mdtm"] = ftp.sendcmd("MDTM data.bin")
ftp.rename("data.bin", "renamed.bin")
out["after_rename"] = sorted(ftp.nlst())
ftp.delete("renamed.bin")
out["after_delete"] = sorted(ftp.nlst())

# Bad input: each gets its code, the session goes on.
bad = {}
for command in ["FOO bar", "RNTO x", "CWD /etc", "RETR ../../etc/passwd", "DELE /outbox/none",
                "MKD /outbox/sub", "PORT 10,0,0,1,200,10", "PORT 127,0,0,1,0,22"]:
    try:
        bad[command] = ftp.sendcmd(command)[:3]
    except ftplib.all_errors as e:
        bad[command] = code(e)
ftp.sock.sendall(b"NOOP " + b"x" * 10000 + b"\r\n")
try:
    bad["long line"] = ftp.getresp()[:3]
except ftplib.all_errors as e:
    bad["long line"] = code(e)
bad["noop after"] = ftp.sendcmd("NOOP")[:3]
out["bad"] = bad

# Active mode to the client's own address works when the listener allows it.
ftp.set_pasv(False)
ftp.storbinary("STOR active.txt", io.BytesIO(b"active mode\n"))
ftp.set_pasv(True)
out["active_stored"] = "active.txt" in ftp.nlst()

# A data connection from another address than the control connection's is
# refused; the client's own one then carries the transfer.
ftp.sendcmd("TYPE I")
host, data_port = ftp.makepasv()
ftp.putcmd("STOR foreign.bin")
intruder = socket.socket()
intruder.settimeout(TIMEOUT)
intruder.bind(("127.0.0.2", 0))
intruder.connect((host, data_port))
intruder.sendall(b"injected")
try:
    out["intruder_read"] = intruder.recv(10)
except ConnectionResetError:
    out["intruder_read"] = b""
intruder.close()
out["intruder_read"] = out["intruder_read"].decode()
real = socket.create_connection((host, data_port), timeout=TIMEOUT)
out["foreign_150"] = ftp.getresp()[:3]
real.sendall(b"from the client\n")
real.close()
out["foreign_226"] = ftp.voidresp()[:3]
got = io.BytesIO()
ftp.retrbinary("RETR foreign.bin", got.write)
out["foreign_content"] = got.getvalue().decode()
ftp.delete("foreign.bin")

# ABOR during an upload: nothing is stored.
conn = ftp.transfercmd("STOR aborted.bin")
conn.sendall(data[:300000])
# ABOR (sent as urgent data, as ftplib does) while the data connection is
# still open: the server must cut it and store nothing.
out["abort"] = ftp.abort()[:3]
out["abort_done"] = ftp.voidresp()[:3]
conn.close()
out["after_abort"] = sorted(ftp.nlst())
ftp.quit()

# Resume an upload cut off by a vanished client: the first part is kept,
# SIZE shows it, REST + STOR completes it.
ftp = plain()
ftp.cwd("/inbox")
conn = ftp.transfercmd("STOR resumed.bin")
conn.sendall(data[:400000])
# The client dies: control connection first, then the data connection.
ftp.close()
conn.close()
ftp = plain()
ftp.cwd("/inbox")
out["cut_visible"] = "resumed.bin" in ftp.nlst()
# The server keeps the cut upload once it notices the client is gone.
kept = None
deadline = time.monotonic() + TIMEOUT
while kept is None and time.monotonic() < deadline:
    try:
        kept = ftp.size("resumed.bin")
    except ftplib.error_perm:
        time.sleep(0.05)
out["kept"] = kept
ftp.storbinary("STOR resumed.bin", io.BytesIO(data[kept:]), rest=kept)
out["resumed_hash"] = ftp.sendcmd("XSHA256 resumed.bin").split()[1]
# Download resume: REST + RETR sends the rest.
tail = io.BytesIO()
ftp.retrbinary("RETR resumed.bin", tail.write, rest=1000)
out["tail_ok"] = tail.getvalue() == data[1000:]
ftp.quit()

# TLS: bob may only log in over TLS; in clear text his login is refused
# with the answer any wrong password gets (USER answers alike for every
# account, so that it tells no one which ones need TLS).
s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
f = s.makefile("rb")
f.readline()
s.sendall(b"USER bob\r\n")
out["bob_plain_user"] = f.readline().decode()[:3]
s.sendall(b"PASS alice-pass\r\n")
out["bob_plain_pass"] = f.readline().decode()
s.close()
ftp = tls("bob")
ftp.cwd("/inbox")
ftp.storbinary("STOR secret.bin", io.BytesIO(data))
got = io.BytesIO()
ftp.retrbinary("RETR secret.bin", got.write)
out["tls_retr_ok"] = got.getvalue() == data
out["tls_list"] = sorted(ftp.nlst())
ftp.quit()

print(json.dumps(out))
