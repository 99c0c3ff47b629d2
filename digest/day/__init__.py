"""The day as it runs: plan once (``plan``), then shards of readers (``shard``), each
scored (``picks``) from stored vectors (``vectors``), rendered, sent and added to
their feeds (``feeds``); ``run`` drives it on one process or a pool."""
