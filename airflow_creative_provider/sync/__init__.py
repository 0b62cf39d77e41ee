"""The folder-sync engine, platform-agnostic: one shared folder of creatives -> every platform.

* ``params``: the run's params, checked once (``SyncParams``);
* ``source``: list a local folder, ``file://`` or ``s3://`` source and learn each file's facts
  (read only when its size or mtime changed since the last run);
* ``rules``: each platform hook's local rules applied to those facts;
* ``ledger``: the durable record of what was sent where, and each run's plan (SQLAlchemy);
* ``plan``: the pure decision (source x ledger x rules -> work per platform);
* ``planner`` / ``executor`` / ``report``: the ``creative_sync`` DAG's tasks (plan; submit
  and wait; report), gathered in ``engine``;
* ``payloads``: what crosses a task boundary (frozen dataclasses, JSON only in XCom);
* ``states``: the states and actions every part shares;
* ``check``: the ``creative_check`` DAG's work: each platform's own listing compared with the
  ledger (missing, state changed, content differs, unknown), read-only on the platforms.
"""
