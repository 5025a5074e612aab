"""The closed vocabulary of task states printed by ``dump()`` and Deadlock.

Named after Go's ``waitReason`` strings (runtime/runtime2.go) so that a
gochan dump reads like a Go goroutine dump. Every park names one of these.
"""

from __future__ import annotations

from typing import Final

RUNNING: Final = "running"
RUNNABLE: Final = "runnable"
CHAN_RECV: Final = "chan receive"
CHAN_SEND: Final = "chan send"
CHAN_RECV_NIL: Final = "chan receive (nil chan)"
CHAN_SEND_NIL: Final = "chan send (nil chan)"
SELECT: Final = "select"
SELECT_NO_CASES: Final = "select (no cases)"
SLEEP: Final = "sleep"
TASK_JOIN: Final = "task join"
SHUTDOWN: Final = "run shutdown"
# Reserved for the sync, I/O and backend layers built on the same park().
SEMACQUIRE: Final = "semacquire"
SYNC_MUTEX_LOCK: Final = "sync.Mutex.Lock"
SYNC_RWMUTEX_RLOCK: Final = "sync.RWMutex.RLock"
SYNC_RWMUTEX_LOCK: Final = "sync.RWMutex.Lock"
SYNC_WAITGROUP_WAIT: Final = "sync.WaitGroup.Wait"
SYNC_COND_WAIT: Final = "sync.Cond.Wait"
IO_WAIT: Final = "IO wait"
SYSCALL: Final = "syscall"
AWAIT: Final = "await"
