"""paramiko's SFTP client against ferry: put, stat, listdir, get."""

import hashlib
import json
import sys

import paramiko

host, port, user, key_path, local = sys.argv[1:6]
transport = paramiko.Transport((host, int(port)))
transport.connect(username=user, pkey=paramiko.Ed25519Key.from_private_key_file(key_path))
sftp = paramiko.SFTPClient.from_transport(transport)
sftp.put(local, "/inbox/paramiko.bin")
size = sftp.stat("/inbox/paramiko.bin").st_size
names = sftp.listdir("/inbox")
with sftp.open("/inbox/paramiko.bin", "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
print(json.dumps({"size": size, "names": names, "sha256": digest}))
transport.close()
