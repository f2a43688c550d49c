"""A fake WeCom server for tests and the demo (``siyu fake-wecom``); see ``app.create_fake_app``.

It serves the real ``/cgi-bin/`` paths with the spec's error codes, limits, cursors, quotas,
transfers and encrypted callbacks, on a clock that tests move through ``/_fake/time/advance``.
"""
