"""Holds one SFTP session open for a test: logs in with a password, lists
/, says `ready`, waits for a line on stdin, lists / again and prints what
became of it as JSON."""

import json
import sys

import paramiko

host, port, user, password = sys.argv[1:5]
transport = paramiko.Transport((host, int(port)))
transport.connect(username=user, password=password)
sftp = paramiko.SFTPClient.from_transport(transport)
sftp.listdir("/")
print("ready", flush=True)
sys.stdin.readline()
try:
    sftp.listdir("/")
    result = {"after": "listed"}
except Exception as e:  # the point is which error, if any
    result = {"after": "failed", "error": type(e).__name__}
print(json.dumps(result), flush=True)
