"""A run's plumbing: what reaches the disk and the terminal, and what guards a workdir.

  sdae.io.files       atomic writes (bytes, text, JSON) with the umask's mode; reading back
  sdae.io.workdir     a workdir's identity (config.json) and live metrics (metrics.jsonl)
  sdae.io.results     results.json: its fields, version and commit
  sdae.io.progress    the run's header, progress lines and summary
  sdae.io.runlock     one writer per workdir (an flock held for the whole run)
  sdae.io.preemption  SIGTERM / SIGINT: finish the epoch, save, exit
"""
