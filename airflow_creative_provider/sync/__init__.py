"""The folder-sync engine, platform-agnostic: one shared folder of creatives -> every platform.

* ``source``: list a local folder, ``file://`` or ``s3://`` source and learn each file's facts
  (read only when its size or mtime changed since the last run);
* ``rules``: each platform hook's local rules applied to those facts;
* ``ledger``: the durable record of what was sent where (SQLAlchemy; claims, intent, index);
* ``plan``: the pure decision (source x ledger x rules -> work per platform);
* ``engine``: the functions the ``creative_sync`` DAG's tasks call (plan, submit a batch,
  wait targets, record statuses, report).
"""
