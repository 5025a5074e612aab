"""gochan's self-contained core: scheduler, tasks, channels, select, timers.

Nothing here imports from ``gochan/*.py``; the public package re-exports what
users need. docs/design.md ("The module map") says which module owns what.
The modules import each other without a cycle (tests/runtime/
test_import_graph.py): a blocking operation reaches the run loop through the
task it parks (``task.sched.park``, ``ready(task)``), so chan.py, select.py
and the rest never import scheduler.py, which imports the timers, the idle
hub and the backends it drives.
"""
