"""pyftpdlib as a partner's FTP server, for the connector tests.

Usage: pyftpd.py PORT ROOT USER PASSWORD [--passive LOW HIGH] [--tls CERT KEY]
                  [--masquerade ADDRESS]

One in-memory user with every permission on ROOT, listening on 127.0.0.1.
With --tls it speaks explicit FTPS (AUTH TLS) but, like many partners,
still lets clients stay in plain text. Foreign addresses in PORT are
allowed so that server-to-server copies (FXP) work. Prints `ready` once
the listening socket is bound. With --masquerade, PASV replies name
ADDRESS instead of the server's own (a server behind NAT, or a hostile
one); logs go to standard error.
"""

import argparse
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("root")
parser.add_argument("user")
parser.add_argument("password")
parser.add_argument("--passive", nargs=2, type=int, metavar=("LOW", "HIGH"))
parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
parser.add_argument("--masquerade", metavar="ADDRESS")
args = parser.parse_args()

authorizer = DummyAuthorizer()
authorizer.add_user(args.user, args.password, args.root, perm="elradfmwMT")

if args.tls:
    # Imported only here: it needs pyOpenSSL, which plain FTP does not.
    from pyftpdlib.handlers import TLS_FTPHandler

    handler = TLS_FTPHandler
    handler.certfile, handler.keyfile = args.tls
    handler.tls_control_required = False
    handler.tls_data_required = False
else:
    handler = FTPHandler

handler.authorizer = authorizer
handler.masquerade_address = args.masquerade
# FXP: the other server's data address is not the client's, and it is
# never a privileged port.
handler.permit_foreign_addresses = True
handler.permit_privileged_ports = False
if args.passive:
    # pyftpdlib skips ports of the range that are taken.
    handler.passive_ports = range(args.passive[0], args.passive[1] + 1)

server = FTPServer(("127.0.0.1", args.port), handler)
print("ready", flush=True)
server.serve_forever()
