"""Go's ``net`` for green tasks: TCP and Unix stream sockets in blocking style.

A task per connection, each call blocking only its task (the runtime parks
it on the socket's poll descriptor, on every backend); deadlines absolute
and sticky, as Go's; ``close`` from any task or OS thread wakes whoever is
blocked with ``ErrClosed``. See docs/net.md.

>>> import gochan
>>> from gochan import net
>>> def main():
...     ln = net.listen("tcp", "127.0.0.1:0")
...     gochan.go(net.serve, ln, lambda conn: conn.write(conn.read(100)))
...     with net.dial("tcp", str(ln.addr)) as c:
...         c.write(b"echo")
...         got = c.read(100)
...     ln.close()
...     return got
>>> gochan.run(main)
b'echo'
"""

from __future__ import annotations

from ._addr import Addr as Addr
from ._addr import join_host_port as join_host_port
from ._addr import split_host_port as split_host_port
from ._conn import Conn as Conn
from ._conn import ErrClosed as ErrClosed
from ._conn import Listener as Listener
from ._conn import dial as dial
from ._conn import listen as listen
from ._serve import serve as serve

__all__ = [
    "Addr",
    "Conn",
    "ErrClosed",
    "Listener",
    "dial",
    "join_host_port",
    "listen",
    "serve",
    "split_host_port",
]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
