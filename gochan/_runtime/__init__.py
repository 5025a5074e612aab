"""gochan's self-contained core: scheduler, tasks, channels, select, timers.

Nothing here imports from ``gochan/*.py``; the public package re-exports what
users need. The layering (bottom up) is:

    backends  ->  scheduler (tasks, park/ready, timers, clock)  ->  chan, select, timers
"""
