"""User schedules: cron and time zone checks, fire-time previews, market calendars and
the missed-run policy.

Pure functions, no flows: ``timing`` asks Prefect's own ``CronSchedule`` for fire times,
so a preview equals what Prefect's scheduler creates, and decides whether a late tick
still runs; ``calendars`` answers which local dates are exchange sessions, from
``exchange_calendars``.
"""
